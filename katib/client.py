"""One client for Katib Experiments, on this machine or on a cluster.

The backend is chosen from the type of the config object (as `kubeflow.trainer.TrainerClient`
does): `LocalBackendConfig` runs the Experiment with `katib.local` (suggestion service over
loopback gRPC, trials as subprocesses), `KubernetesBackendConfig` creates the custom resource
through the Kubernetes API. Both take the same Experiment document and return the same
`ExperimentResult`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from katib.backends.base import ExperimentBackend, ProgressCallback
from katib.backends.kubernetes import KubernetesBackend, KubernetesBackendConfig
from katib.backends.local import LocalBackend, LocalBackendConfig
from katib.constants import BACKEND_NAMES, check_backend_name
from katib.types import ExperimentResult

#: Config type -> backend class.
_BACKENDS: dict[type, type[ExperimentBackend]] = {
    LocalBackendConfig: LocalBackend,
    KubernetesBackendConfig: KubernetesBackend,
}


class ExperimentClient:
    def __init__(
        self, backend_config: LocalBackendConfig | KubernetesBackendConfig | None = None
    ) -> None:
        """Create a client for the backend the config selects.

        Args:
            backend_config: `LocalBackendConfig` (default) or `KubernetesBackendConfig`.

        Raises:
            ValueError: the config is of no known backend type.

        Examples:
            >>> from katib.client import ExperimentClient, LocalBackendConfig
            >>> client = ExperimentClient(LocalBackendConfig(workdir="/tmp/katib"))
        """
        backend_config = backend_config if backend_config is not None else LocalBackendConfig()
        backend = _BACKENDS.get(type(backend_config))
        if backend is None:
            known = ", ".join(t.__name__ for t in _BACKENDS)
            raise ValueError(f"backend_config must be one of {known}, got "
                             f"{type(backend_config).__name__}")
        self.backend = backend(backend_config)

    @classmethod
    def for_backend(cls, name: str, *, namespace: str = "",
                    workdir: str | os.PathLike[str] | None = None) -> ExperimentClient:
        """A client for a backend named as pipeline steps name it (see `check_backend_name`).

        Args:
            name: "local" (katib.local under `workdir`, trials run by this interpreter) or
                "katib" (the cluster's Katib, in `namespace` or the pod's own).
            namespace: the cluster namespace ("" = the pod's or kubeconfig's).
            workdir: where the local backend keeps its Experiments (default: katib-local/).

        Raises:
            ValueError: an unknown backend name (the message lists the known ones).
        """
        check_backend_name(name)
        if name == "local":
            kw: dict[str, Any] = {"workdir": workdir} if workdir is not None else {}
            return cls(LocalBackendConfig(python=sys.executable, **kw))
        return cls(KubernetesBackendConfig(namespace=namespace or None))

    @property
    def namespace(self) -> str:
        """The namespace Experiments are created in ("" for the local backend)."""
        return getattr(self.backend, "namespace", "") or ""

    def create(self, experiment: dict[str, Any]) -> str:
        """Submit an Experiment document; a second call with the same name re-attaches.

        Args:
            experiment: a `kubeflow.org/v1beta1` Experiment as a dict (as `kubectl apply`).

        Returns:
            The Experiment's name.

        Raises:
            ValueError: the document is not a valid Experiment (the message names the field).
            RuntimeError: the API refused it.
        """
        return self.backend.create(experiment)

    def wait(
        self, name: str, *, timeout: float, progress: ProgressCallback | None = None
    ) -> ExperimentResult:
        """Wait until the Experiment succeeds.

        Args:
            name: the Experiment's name.
            timeout: seconds to wait.
            progress: called with each observation.

        Returns:
            The finished Experiment with its trials.

        Raises:
            TimeoutError: not finished in time.
            ExperimentFailedError: it failed; carries Katib's reason and message.
        """
        return self.backend.wait(name, timeout=timeout, progress=progress)

    def get(self, name: str) -> ExperimentResult:
        """The Experiment's current status and trials, without waiting."""
        return self.backend.get(name)

    def run(
        self,
        experiment: dict[str, Any],
        *,
        timeout: float,
        progress: ProgressCallback | None = None,
    ) -> ExperimentResult:
        """Create (or re-attach to) an Experiment and wait for it; see `create` and `wait`."""
        return self.backend.run(experiment, timeout=timeout, progress=progress)


__all__ = [
    "BACKEND_NAMES",
    "ExperimentClient",
    "ExperimentResult",
    "KubernetesBackendConfig",
    "LocalBackendConfig",
    "check_backend_name",
]
