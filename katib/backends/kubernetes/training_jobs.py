"""Final training on a cluster: a Training Operator v1 PyTorchJob (elastic) or Trainer v2 TrainJob.

    job = ElasticTrainingJob(name="train-digits", image=IMAGE, args=[...worker options...],
                             min_workers=1, max_workers=4)
    client = TrainingJobClient(KubernetesBackendConfig(namespace="kubeflow"))
    client.create(pytorchjob(job))          # or trainjob(job) on Trainer v2
    client.wait("PyTorchJob", "train-digits")

Both run `torchrun -m nac.distributed worker ...` in every pod; torchrun reads its rendezvous
settings from the `PET_*` environment that the Training Operator (elasticPolicy: minReplicas,
maxReplicas, rdzvBackend c10d, maxRestarts) or Trainer's torch runtime injects. Trainer v2
has `elasticPolicy` in its API but does not implement it yet (kubeflow/trainer#2903), so a
TrainJob runs a fixed `numNodes = max_workers`.

Bodies are validated before they are sent: a PyTorchJob against the CRD's OpenAPI schema
(schemas/pytorchjob-v1.json, extracted from the pinned kubeflow/manifests release by
scripts/training_crd_schema.py; unknown fields are refused, as `kubectl --validate=strict`
would), a TrainJob against the `kubeflow_trainer_api` models. Pods run as non-root with the
Pod Security `restricted` settings. Creation is idempotent (409 re-attaches), as for Katib
Experiments in `backend.py`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from katib.backends.kubernetes import constants
from katib.backends.kubernetes.types import KubernetesBackendConfig

__all__ = ["KINDS", "ElasticTrainingJob", "TrainingJobClient", "TrainingJobError",
           "TrainingJobFailedError", "pytorchjob", "trainjob", "validate_training_job"]

#: kind -> (group, version, plural, success condition type) (Katib's defaults per kind:
#: experiments/v1beta1/constants.go DefaultKubeflowJobSuccessCondition / DefaultTrainJob...).
KINDS = {"PyTorchJob": ("kubeflow.org", "v1", "pytorchjobs", "Succeeded"),
         "TrainJob": ("trainer.kubeflow.org", "v1alpha1", "trainjobs", "Complete")}
CONTAINER = "pytorch"  # Training Operator v1 requires this container name for PyTorchJob
CHECKPOINT_MOUNT = "/checkpoints"
RDZV_PORT = 29400
_SCHEMA = Path(__file__).with_name("schemas") / "pytorchjob-v1.json"


class TrainingJobError(ValueError):
    """A training-job body that the API server would refuse; names the field and the fix."""


class TrainingJobFailedError(RuntimeError):
    """The job reached its Failed condition (carries the operator's reason and message)."""


@dataclass(frozen=True)
class ElasticTrainingJob:
    """What the user decides; everything else is derived."""

    name: str
    image: str
    args: list[str]  # options of `python -m nac.distributed worker`
    namespace: str = "kubeflow"
    min_workers: int = 1
    max_workers: int = 2
    max_restarts: int = 3
    nproc_per_node: int = 1
    cpu: str = "2"
    memory: str = "4Gi"
    gpus: int = 0
    accelerator: str = "nvidia.com/gpu"  # the resource `gpus` counts (e.g. amd.com/gpu)
    toleration_key: str = ""  # a NoSchedule taint of the accelerator nodes to tolerate
    checkpoint_pvc: str = "automl-checkpoints"
    #: Where the PVC is mounted; the pipeline's train step mounts it at the same path, so a
    #: path means the same file in the step and in every worker (components/_impl/train_job.py).
    checkpoint_mount: str = CHECKPOINT_MOUNT
    service_account: str = "nac-training"
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.min_workers <= self.max_workers:
            raise TrainingJobError(f"min_workers/max_workers: need 1 <= min <= max, got "
                                   f"{self.min_workers}/{self.max_workers}")
        if self.max_restarts < 0 or self.nproc_per_node < 1 or self.gpus < 0:
            raise TrainingJobError("max_restarts >= 0, nproc_per_node >= 1, gpus >= 0 required")


def _command(job: ElasticTrainingJob) -> list[str]:
    # The worker checkpoints to the PVC so a restarted or re-formed group resumes.
    return ["torchrun", "-m", "nac.distributed", "worker", *job.args]


def _container(job: ElasticTrainingJob) -> dict[str, Any]:
    limits: dict[str, Any] = {"cpu": job.cpu, "memory": job.memory}
    if job.gpus:
        limits[job.accelerator] = job.gpus
    return {
        "name": CONTAINER, "image": job.image, "command": _command(job),
        # LOGLEVEL=INFO: the elastic agent logs every membership change. The last variable
        # works around torch's shared rendezvous store deadlock on scale-up (nac.distributed.
        # launch.TORCHRUN_ENV; the scale-up is exactly what elasticPolicy is for).
        "env": [{"name": "PYTHONUNBUFFERED", "value": "1"},
                {"name": "LOGLEVEL", "value": "INFO"},
                {"name": "TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "value": "1"}],
        "resources": {"requests": dict(limits), "limits": dict(limits)},
        "ports": [{"name": "c10d", "containerPort": RDZV_PORT}],
        "volumeMounts": [{"name": "checkpoints", "mountPath": job.checkpoint_mount},
                         {"name": "dshm", "mountPath": "/dev/shm"}],
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
    }


def _pod_spec(job: ElasticTrainingJob) -> dict[str, Any]:
    tolerations = ({"tolerations": [{"key": job.toleration_key, "operator": "Exists",
                                     "effect": "NoSchedule"}]} if job.toleration_key else {})
    return {
        **tolerations,
        "serviceAccountName": job.service_account,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                            "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [_container(job)],
        "volumes": [{"name": "checkpoints",
                     "persistentVolumeClaim": {"claimName": job.checkpoint_pvc}},
                    {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}],
    }


def pytorchjob(job: ElasticTrainingJob) -> dict[str, Any]:
    """An elastic PyTorchJob: `max_workers` Worker pods, c10d rendezvous, elasticPolicy."""
    labels = {"app.kubernetes.io/part-of": "kubeflow-nac", **job.labels}
    return validate_training_job({
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
        "metadata": {"name": job.name, "namespace": job.namespace, "labels": labels},
        "spec": {
            "elasticPolicy": {"minReplicas": job.min_workers, "maxReplicas": job.max_workers,
                              "rdzvBackend": "c10d", "rdzvPort": RDZV_PORT,
                              "maxRestarts": job.max_restarts},
            "nprocPerNode": str(job.nproc_per_node),
            "runPolicy": {"cleanPodPolicy": "None"},
            "pytorchReplicaSpecs": {"Worker": {
                "replicas": job.max_workers, "restartPolicy": "OnFailure",
                "template": {"metadata": {"labels": labels}, "spec": _pod_spec(job)}}},
        },
    })


def trainjob(job: ElasticTrainingJob, runtime: str = "torch-distributed") -> dict[str, Any]:
    """A Trainer v2 TrainJob on the `torch-distributed` runtime (fixed max_workers nodes)."""
    container = _container(job)
    labels = {"app.kubernetes.io/part-of": "kubeflow-nac", **job.labels}
    return validate_training_job({
        "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
        "metadata": {"name": job.name, "namespace": job.namespace, "labels": labels},
        "spec": {
            "runtimeRef": {"name": runtime, "apiGroup": "trainer.kubeflow.org",
                           "kind": "ClusterTrainingRuntime"},
            "trainer": {"image": job.image, "command": container["command"],
                        "numNodes": job.max_workers,
                        "numProcPerNode": job.nproc_per_node,
                        "env": container["env"], "resourcesPerNode": container["resources"]},
        },
    })


# -- validation --------------------------------------------------------------------------
@cache
def _pytorchjob_schema() -> dict[str, Any]:
    return _strict(json.loads(_SCHEMA.read_text())["spec"])


def _strict(node: Any) -> Any:
    """CRD structural schema -> JSON Schema that refuses unknown fields."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-")}
        if "properties" in node and "additionalProperties" not in node \
                and not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        if node.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def _metadata(body: dict[str, Any]) -> None:
    import re

    name = (body.get("metadata") or {}).get("name", "")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", str(name)):
        raise TrainingJobError(f"metadata.name: {name!r} is not a DNS-1123 label (lower-case "
                               "letters, digits, '-', at most 63 characters)")


def validate_training_job(body: dict[str, Any]) -> dict[str, Any]:
    """Return `body` if the API server would accept it, else raise TrainingJobError."""
    kind = body.get("kind")
    if kind not in KINDS:
        raise TrainingJobError(f"kind: {kind!r} is not supported; use {sorted(KINDS)}")
    group, version, _, _ = KINDS[kind]
    if body.get("apiVersion") != f"{group}/{version}":
        raise TrainingJobError(f"apiVersion: a {kind} is {group}/{version}, got "
                               f"{body.get('apiVersion')!r}")
    _metadata(body)
    if kind == "PyTorchJob":
        import jsonschema

        validator = jsonschema.Draft7Validator(_pytorchjob_schema())
        errors = sorted(validator.iter_errors(body.get("spec") or {}), key=lambda e: e.path)
        if errors:
            e = errors[0]
            where = ".".join(["spec", *(str(p) for p in e.absolute_path)])
            raise TrainingJobError(f"{where}: {e.message} (PyTorchJob CRD schema, "
                                   f"{json.loads(_SCHEMA.read_text())['source']})")
        _check_elastic(body["spec"])
    else:
        _check_trainjob(body)
    return body


def _check_elastic(spec: dict[str, Any]) -> None:
    """Rules the Training Operator's webhook adds to the schema (elastic jobs)."""
    policy = spec.get("elasticPolicy")
    workers = (spec.get("pytorchReplicaSpecs") or {}).get("Worker")
    if not workers:
        raise TrainingJobError("spec.pytorchReplicaSpecs.Worker: required (elastic jobs run "
                               "Worker replicas only)")
    if policy is None:
        return
    lo, hi = policy.get("minReplicas", 1), policy.get("maxReplicas", 1)
    if not 1 <= lo <= hi:
        raise TrainingJobError(f"spec.elasticPolicy: need 1 <= minReplicas <= maxReplicas, "
                               f"got {lo}/{hi}")
    if "Master" in spec["pytorchReplicaSpecs"]:
        raise TrainingJobError("spec.pytorchReplicaSpecs.Master: an elastic job has no Master "
                               "(the c10d rendezvous replaces it); remove it")
    containers = ((workers.get("template") or {}).get("spec") or {}).get("containers") or []
    if not any(c.get("name") == CONTAINER for c in containers):
        raise TrainingJobError(f"spec.pytorchReplicaSpecs.Worker.template.spec.containers: "
                               f"the operator needs a container named {CONTAINER!r}")


def _check_trainjob(body: dict[str, Any]) -> None:
    from kubeflow_trainer_api import models

    try:
        parsed = models.TrainerV1alpha1TrainJob.from_dict(body)
    except Exception as e:  # noqa: BLE001 - pydantic's error names the field
        raise TrainingJobError(f"TrainJob: {e}".replace("\n", "; ")) from None
    unknown = _unknown_keys(body, parsed.to_dict())
    if unknown:
        raise TrainingJobError(f"{unknown[0]}: unknown field in a TrainJob (trainer.kubeflow.org"
                               "/v1alpha1); check the spelling against the Trainer API")


def _unknown_keys(sent: Any, kept: Any, path: str = "") -> list[str]:
    if isinstance(sent, dict) and isinstance(kept, dict):
        out = []
        for key, value in sent.items():
            where = f"{path}.{key}" if path else key
            if key not in kept:
                out.append(where)
            else:
                out += _unknown_keys(value, kept[key], where)
        return out
    if isinstance(sent, list) and isinstance(kept, list):
        return [u for i, (a, b) in enumerate(zip(sent, kept, strict=False))
                for u in _unknown_keys(a, b, f"{path}[{i}]")]
    return []


# -- the API -----------------------------------------------------------------------------
class TrainingJobClient:
    """Create and wait for training jobs with `CustomObjectsApi` (like `KubernetesBackend`)."""

    def __init__(self, cfg: KubernetesBackendConfig | None = None) -> None:
        from katib.kubeconfig import custom_objects_api, default_namespace

        cfg = cfg or KubernetesBackendConfig()
        self.namespace = cfg.namespace or default_namespace()
        self.polling_interval = cfg.polling_interval
        self.api = cfg.custom_api if cfg.custom_api is not None else custom_objects_api(cfg)

    def create(self, body: dict[str, Any]) -> str:
        from kubernetes.client.exceptions import ApiException

        body = validate_training_job(body)
        group, version, plural, _ = KINDS[body["kind"]]
        name = body["metadata"]["name"]
        namespace = body["metadata"].setdefault("namespace", self.namespace)
        try:
            self.api.create_namespaced_custom_object(group, version, namespace, plural, body)
        except ApiException as e:
            if e.status != constants.HTTP_CONFLICT:
                raise RuntimeError(f"failed to create {body['kind']} {namespace}/{name}: "
                                   f"{e.status} {e.reason}") from e
        return name

    def delete(self, kind: str, name: str, *, namespace: str | None = None) -> None:
        """Cancel a job (the operator removes its pods); a missing job is not an error."""
        from kubernetes.client.exceptions import ApiException

        group, version, plural, _ = KINDS[kind]
        try:
            self.api.delete_namespaced_custom_object(group, version,
                                                     namespace or self.namespace, plural, name)
        except ApiException as e:
            if e.status != 404:
                raise

    def wait(self, kind: str, name: str, *, timeout: float = 24 * 3600,
             namespace: str | None = None,
             on_status: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Block until the job's success condition; raise on its Failed condition.

        `on_status(obj)` sees every object read (to print conditions and replica counts).
        """
        group, version, plural, success = KINDS[kind]
        namespace = namespace or self.namespace
        deadline = time.monotonic() + timeout
        while True:
            obj = self.api.get_namespaced_custom_object(group, version, namespace, plural, name)
            if on_status is not None:
                on_status(obj)
            for cond in (obj.get("status") or {}).get("conditions") or []:
                if cond.get("status") != "True":
                    continue
                if cond.get("type") == success:
                    return obj
                if cond.get("type") == "Failed":
                    raise TrainingJobFailedError(
                        f"{kind} {namespace}/{name} failed: {cond.get('reason', '')}: "
                        f"{cond.get('message', '')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{kind} {namespace}/{name}: not finished after "
                                   f"{timeout:.0f} s")
            time.sleep(self.polling_interval)
