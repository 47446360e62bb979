"""Configuration of the Kubernetes backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from katib.backends.kubernetes import constants


@dataclass
class KubernetesBackendConfig:
    """Where and how to reach Katib in a cluster.

    `namespace=None` uses the pod's service-account namespace in a cluster, else `default`.
    `custom_api` injects a ready `kubernetes.client.CustomObjectsApi` (tests, custom auth).
    """

    namespace: str | None = None
    config_file: str | None = None
    context: str | None = None
    client_configuration: Any = None
    polling_interval: float = constants.DEFAULT_POLLING_INTERVAL
    custom_api: Any = None

    def __post_init__(self) -> None:
        if self.polling_interval <= 0:
            raise ValueError(f"polling_interval must be > 0 seconds, got {self.polling_interval}")
