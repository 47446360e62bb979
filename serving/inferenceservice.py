"""The KServe InferenceService that serves a Model on a cluster: build, validate, apply.

    body = inference_service(ServingSpec(name="digits", namespace="team-a",
                                         storage_uri="s3://mlpipeline/v2/artifacts/.../model"))
    apply_inference_service(body)        # create, or replace the spec of an existing one

The predictor is a custom container (our serving image runs `python -m serving`), with
`STORAGE_URI` in its environment: KServe's storage initializer downloads the Model into
`/mnt/models` before the server starts (KServe docs, "Deploy a custom model server with a
storage URI"). Pods run as non-root with Pod Security `restricted` settings.

Validation before anything is sent: metadata.name a DNS-1035 label (KServe derives Service
names from it), the predictor against the CRD's OpenAPI schema (schemas/, extracted from the
pinned kserve release by scripts/kserve_crd_schema.py; unknown fields refused as
`kubectl --validate=strict` would). The pod-level parts are core/v1 types, checked by the
tests with kubernetes-validate and the Pod Security rules.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["GROUP", "PLURAL", "VERSION", "InferenceServiceError", "ServingSpec",
           "apply_inference_service", "inference_service", "storage_uri",
           "validate_inference_service"]

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
#: Where KServe's storage initializer puts the model for the predictor container.
MODEL_MOUNT = "/mnt/models"
#: The predictor container name KServe expects for a custom predictor.
CONTAINER = "kserve-container"
HTTP_PORT = 8080
_SCHEMA = Path(__file__).with_name("schemas") / "inferenceservice-v1beta1.json"
_NAME = re.compile(r"[a-z]([-a-z0-9]{0,43}[a-z0-9])?")


class InferenceServiceError(ValueError):
    """A body the API server would refuse; names the field and the fix."""


@dataclass(frozen=True)
class ServingSpec:
    """What the user decides about one served model."""

    name: str
    storage_uri: str
    image: str = ""  # default: the versioned trainer image (has the `serve` extra)
    namespace: str = "kubeflow-user-example-com"
    variant: str = "auto"
    service_account: str = ""  # one with the storage credentials (KServe S3 secret annotation)
    min_replicas: int = 1
    max_replicas: int = 1
    cpu: str = "1"
    memory: str = "1Gi"
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name or ""):
            raise InferenceServiceError(
                f"name: {self.name!r} must be a DNS-1035 label of at most 45 characters "
                "(lower-case letters, digits, '-', starting with a letter): KServe derives "
                "Service and host names from it")
        if not self.storage_uri:
            raise InferenceServiceError("storage_uri: empty; give the Model artifact's URI "
                                        "(s3://, gs://, pvc://, https://)")
        for attr in ("min_replicas", "max_replicas"):
            v = getattr(self, attr)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise InferenceServiceError(f"{attr}: must be an integer >= 0, got {v!r}")
        if self.max_replicas and self.max_replicas < self.min_replicas:
            raise InferenceServiceError(f"max_replicas: {self.max_replicas} is below "
                                        f"min_replicas {self.min_replicas}")


def storage_uri(artifact_uri: str) -> str:
    """A KFP artifact URI as KServe's storage initializer reads it (minio:// -> s3://)."""
    if artifact_uri.startswith("minio://"):  # KFP's default object store is S3-compatible
        return "s3://" + artifact_uri.removeprefix("minio://")
    return artifact_uri


def _image(spec: ServingSpec) -> str:
    if spec.image:
        return spec.image
    from components._image import TRAINER_IMAGE

    return TRAINER_IMAGE


def inference_service(spec: ServingSpec) -> dict[str, Any]:
    """The InferenceService body for `spec`, validated."""
    security = {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
    container = {
        "name": CONTAINER, "image": _image(spec),
        "command": ["python", "-m", "serving"],
        "args": ["--model-dir", MODEL_MOUNT, "--model-name", spec.name,
                 "--variant", spec.variant, "--http-port", str(HTTP_PORT)],
        "env": [{"name": "STORAGE_URI", "value": spec.storage_uri}],
        "ports": [{"containerPort": HTTP_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": HTTP_PORT}},
        "resources": {"requests": {"cpu": spec.cpu, "memory": spec.memory},
                      "limits": {"cpu": spec.cpu, "memory": spec.memory}},
        "securityContext": security,
    }
    predictor: dict[str, Any] = {
        "minReplicas": spec.min_replicas, "maxReplicas": spec.max_replicas,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container]}
    if spec.service_account:
        predictor["serviceAccountName"] = spec.service_account
    labels = {"app.kubernetes.io/part-of": "kubeflow-nac", **spec.labels}
    return validate_inference_service({
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "InferenceService",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels,
                     "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"}},
        "spec": {"predictor": predictor}})


@cache
def _schema() -> dict[str, Any]:
    from katib.backends.kubernetes.training_jobs import _strict  # CRD -> strict JSON Schema

    return _strict(json.loads(_SCHEMA.read_text())["predictor"])


def validate_inference_service(body: dict[str, Any]) -> dict[str, Any]:
    """Return `body` if the API server would accept it, else raise InferenceServiceError."""
    import jsonschema

    if body.get("apiVersion") != f"{GROUP}/{VERSION}" or body.get("kind") != "InferenceService":
        raise InferenceServiceError(f"apiVersion/kind: must be {GROUP}/{VERSION} "
                                    f"InferenceService, got {body.get('apiVersion')!r} "
                                    f"{body.get('kind')!r}")
    name = (body.get("metadata") or {}).get("name", "")
    if not _NAME.fullmatch(str(name)):
        raise InferenceServiceError(f"metadata.name: {name!r} is not a DNS-1035 label")
    spec = body.get("spec") or {}
    if set(spec) - {"predictor", "transformer", "explainer"} or "predictor" not in spec:
        raise InferenceServiceError("spec: needs `predictor` (and only predictor, transformer, "
                                    f"explainer), got {sorted(spec)}")
    errors = sorted(jsonschema.Draft7Validator(_schema()).iter_errors(spec["predictor"]),
                    key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = ".".join(["spec.predictor", *(str(p) for p in e.absolute_path)])
        raise InferenceServiceError(f"{where}: {e.message} (InferenceService CRD schema, "
                                    f"{json.loads(_SCHEMA.read_text())['source']})")
    containers = spec["predictor"].get("containers") or []
    if len(containers) != 1 or containers[0].get("name") != CONTAINER:
        raise InferenceServiceError(f"spec.predictor.containers: a custom predictor has one "
                                    f"container named {CONTAINER!r}")
    return body


def apply_inference_service(body: dict[str, Any], api: Any = None) -> str:
    """Create the InferenceService, or replace the spec of the existing one (a retried or
    re-run step updates the served model instead of failing); returns its name."""
    from kubernetes.client.exceptions import ApiException

    if api is None:
        from katib.backends.kubernetes.types import KubernetesBackendConfig
        from katib.kubeconfig import custom_objects_api

        api = custom_objects_api(KubernetesBackendConfig())
    body = validate_inference_service(body)
    meta = body["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    try:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        return name
    except ApiException as e:
        if e.status != 409:
            raise RuntimeError(f"creating InferenceService {namespace}/{name} failed: "
                               f"{e.status} {e.reason}") from e
    current = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    replacement = {**body, "metadata": {**meta, "resourceVersion":
                                        current["metadata"]["resourceVersion"]}}
    api.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, replacement)
    return name
