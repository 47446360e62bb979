"""Run Experiments on a cluster through the Kubernetes API (Katib's CRDs, no Katib SDK).

Bodies are validated against `kubeflow_katib_api` models before they are sent; creation is
idempotent (409 Conflict re-attaches to the Experiment of the same name, so a retried pipeline
step does not start a second search); waiting maps a Failed condition to
`ExperimentFailedError` carrying Katib's reason and message.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from katib.backends.base import ExperimentBackend, ProgressCallback
from katib.backends.kubernetes import constants, utils
from katib.backends.kubernetes.types import KubernetesBackendConfig
from katib.backends.types import ExperimentFailedError, ExperimentResult, ExperimentStatus

logger = logging.getLogger(__name__)


def _default_namespace() -> str:
    try:
        with open(constants.SA_NAMESPACE_FILE, encoding="utf-8") as fh:
            return fh.read().strip() or constants.DEFAULT_NAMESPACE
    except OSError:
        return constants.DEFAULT_NAMESPACE


def _custom_objects_api(cfg: KubernetesBackendConfig) -> Any:
    from kubernetes import client, config

    if cfg.client_configuration is None:
        if cfg.config_file or not os.path.exists(constants.SA_NAMESPACE_FILE):
            config.load_kube_config(config_file=cfg.config_file, context=cfg.context)
        else:
            config.load_incluster_config()
    return client.CustomObjectsApi(client.ApiClient(cfg.client_configuration))


class KubernetesBackend(ExperimentBackend):
    """Katib on a cluster via `CustomObjectsApi` (group kubeflow.org, v1beta1)."""

    def __init__(self, cfg: KubernetesBackendConfig | None = None) -> None:
        cfg = cfg or KubernetesBackendConfig()
        self.namespace = cfg.namespace or _default_namespace()
        self.polling_interval = cfg.polling_interval
        self.api = cfg.custom_api if cfg.custom_api is not None else _custom_objects_api(cfg)

    def create(self, experiment: dict[str, Any]) -> str:
        from kubernetes.client.exceptions import ApiException

        body = utils.validate_experiment(experiment)
        name = body["metadata"]["name"]
        body["metadata"].setdefault("namespace", self.namespace)
        try:
            self.api.create_namespaced_custom_object(
                constants.GROUP, constants.VERSION, self.namespace,
                constants.EXPERIMENT_PLURAL, body)
            logger.info("created Experiment %s/%s", self.namespace, name)
        except ApiException as e:
            if e.status != constants.HTTP_CONFLICT:
                raise RuntimeError(f"failed to create Experiment {self.namespace}/{name}: "
                                   f"{e.status} {e.reason}") from e
            logger.info("Experiment %s/%s already exists; re-attaching", self.namespace, name)
        return name

    def get(self, name: str) -> ExperimentResult:
        from kubernetes.client.exceptions import ApiException

        try:
            experiment = self.api.get_namespaced_custom_object(
                constants.GROUP, constants.VERSION, self.namespace,
                constants.EXPERIMENT_PLURAL, name)
            trials = self.api.list_namespaced_custom_object(
                constants.GROUP, constants.VERSION, self.namespace, constants.TRIAL_PLURAL,
                label_selector=f"{constants.EXPERIMENT_LABEL}={name}")
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
            constants.GROUP, constants.VERSION, self.namespace, constants.EXPERIMENT_PLURAL, name)
