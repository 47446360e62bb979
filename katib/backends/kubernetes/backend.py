"""Run Experiments on a cluster through the Kubernetes API (Katib's CRDs, no Katib SDK).

Bodies are validated against `kubeflow_katib_api` models before they are sent; creation is
idempotent (409 Conflict re-attaches to the Experiment of the same name, so a retried pipeline
step does not start a second search); waiting maps a Failed condition to
`ExperimentFailedError` carrying Katib's reason and message.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from katib.backends.base import ExperimentBackend, ProgressCallback
from katib.backends.kubernetes import utils
from katib.backends.kubernetes.constants import HTTP_CONFLICT
from katib.backends.kubernetes.types import KubernetesBackendConfig
from katib.constants import EXPERIMENT_LABEL, EXPERIMENT_PLURAL, GROUP, TRIAL_PLURAL, VERSION
from katib.kubeconfig import custom_objects_api, default_namespace
from katib.types import ExperimentFailedError, ExperimentResult, ExperimentStatus
from katib.validation import validate_experiment

logger = logging.getLogger(__name__)


class KubernetesBackend(ExperimentBackend):
    """Katib on a cluster via `CustomObjectsApi` (group kubeflow.org, v1beta1)."""

    def __init__(self, cfg: KubernetesBackendConfig | None = None) -> None:
        cfg = cfg or KubernetesBackendConfig()
        self.namespace = cfg.namespace or default_namespace()
        self.polling_interval = cfg.polling_interval
        self.api = cfg.custom_api if cfg.custom_api is not None else custom_objects_api(cfg)

    def create(self, experiment: dict[str, Any]) -> str:
        from kubernetes.client.exceptions import ApiException

        body = validate_experiment(experiment)
        name = body["metadata"]["name"]
        body["metadata"].setdefault("namespace", self.namespace)
        try:
            self.api.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace,
                EXPERIMENT_PLURAL, body)
            logger.info("created Experiment %s/%s", self.namespace, name)
        except ApiException as e:
            if e.status != HTTP_CONFLICT:
                raise RuntimeError(f"failed to create Experiment {self.namespace}/{name}: "
                                   f"{e.status} {e.reason}") from e
            logger.info("Experiment %s/%s already exists; re-attaching", self.namespace, name)
        return name

    def get(self, name: str) -> ExperimentResult:
        from kubernetes.client.exceptions import ApiException

        try:
            experiment = self.api.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace,
                EXPERIMENT_PLURAL, name)
            trials = self.api.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, TRIAL_PLURAL,
                label_selector=f"{EXPERIMENT_LABEL}={name}")
        except ApiException as e:
            raise RuntimeError(f"failed to read Experiment {self.namespace}/{name}: "
                               f"{e.status} {e.reason}") from e
        return utils.experiment_result(experiment, list(trials.get("items") or []))

    def wait(
        self, name: str, *, timeout: float, progress: ProgressCallback | None = None
    ) -> ExperimentResult:
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        deadline = time.monotonic() + timeout
        while True:
            result = self.get(name)
            if progress is not None:
                progress(result)
            if result.status is ExperimentStatus.FAILED:
                raise ExperimentFailedError(name, result.reason, result.message)
            if result.status is ExperimentStatus.SUCCEEDED:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"Experiment {self.namespace}/{name} did not finish within {timeout:g} s "
                    f"(last status {result.status.value}, {len(result.trials)} trials); raise "
                    "the timeout or inspect it with `kubectl describe experiment`")
            time.sleep(min(self.polling_interval, remaining))

    def delete(self, name: str) -> None:
        """Delete the Experiment (Katib garbage-collects its Trials)."""
        self.api.delete_namespaced_custom_object(
            GROUP, VERSION, self.namespace, EXPERIMENT_PLURAL, name)
