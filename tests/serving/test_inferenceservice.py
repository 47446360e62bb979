"""InferenceService bodies (serving.inferenceservice) and the `deploy` step against a fake API.

Upstream rules checked: the v1beta1 predictor schema of the InferenceService CRD at
kserve/kserve v0.20.0 (tests/conformance/pins.py KSERVE, cited in the schema file's "source":
config/crd/full/serving.kserve.io_inferenceservices.yaml, spec.versions[v1beta1]
.openAPIV3Schema), the core/v1 Pod schema (kubernetes-validate, 1.32) for the pod fields a
custom predictor inlines, and Pod Security `restricted` (tests/conformance/pod_security.py).
The Kubernetes API server is the one part faked: a real HTTP server on 127.0.0.1 that speaks
the custom-object REST paths and validates what it receives.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from components._impl.deploy import run_deploy
from serving.inferenceservice import (
    GROUP,
    PLURAL,
    VERSION,
    InferenceServiceError,
    ServingSpec,
    inference_service,
    storage_uri,
    validate_inference_service,
)
from tests.conformance.pins import KSERVE
from tests.conformance.pod_security import violations

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifests" / "serving" / "inferenceservice.yaml"
SCHEMA = ROOT / "serving" / "schemas" / "inferenceservice-v1beta1.json"


def _pod(body: dict) -> dict:
    """The predictor's pod-level fields as a core/v1 Pod (what KServe's controller builds)."""
    predictor = body["spec"]["predictor"]
    spec = {k: v for k, v in predictor.items() if k in (
        "containers", "securityContext", "serviceAccountName")}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


def test_schema_file_comes_from_the_pinned_kserve_release():
    doc = json.loads(SCHEMA.read_text())
    assert doc["source"].startswith(f"{KSERVE.repo}@{KSERVE.release} ({KSERVE.commit[:8]})")
    assert doc["group"] == GROUP and doc["version"] == VERSION


def test_shipped_manifest_is_what_the_builder_makes_and_is_admissible():
    shipped = yaml.safe_load(MANIFEST.read_text())
    rebuilt = inference_service(ServingSpec(
        name="nac-digits", namespace="kubeflow-user-example-com",
        storage_uri=shipped["spec"]["predictor"]["containers"][0]["env"][0]["value"],
        service_account="kserve-s3"))
    assert shipped == rebuilt
    assert validate_inference_service(shipped) is shipped
    kubernetes_validate.validate(_pod(shipped), "1.32.0", strict=True)
    assert violations(_pod(shipped)["spec"]) == []


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b["spec"]["predictor"].update(minReplica=1), "minReplica"),
    (lambda b: b["spec"]["predictor"].update(minReplicas="one"), "spec.predictor.minReplicas"),
    (lambda b: b["metadata"].update(name="Bad_Name"), "metadata.name"),
    (lambda b: b["spec"]["predictor"]["containers"][0].update(name="main"), "kserve-container"),
    (lambda b: b.update(apiVersion="serving.kserve.io/v1alpha1"), "apiVersion"),
    (lambda b: b["spec"].update(predictr={}), "spec"),
])
def test_bad_bodies_are_refused_naming_the_field(change, field):
    body = inference_service(ServingSpec(name="m", storage_uri="s3://b/m"))
    change(body)
    with pytest.raises(InferenceServiceError, match=field.replace(".", r"\.")):
        validate_inference_service(body)


def test_spec_checks_and_uri_mapping():
    with pytest.raises(InferenceServiceError, match="name"):
        ServingSpec(name="x" * 50, storage_uri="s3://b/m")
    with pytest.raises(InferenceServiceError, match="storage_uri"):
        ServingSpec(name="m", storage_uri="")
    with pytest.raises(InferenceServiceError, match="max_replicas"):
        ServingSpec(name="m", storage_uri="s3://b", min_replicas=3, max_replicas=2)
    assert storage_uri("minio://mlpipeline/v2/artifacts/x/model") == \
        "s3://mlpipeline/v2/artifacts/x/model"
    assert storage_uri("gs://bucket/model") == "gs://bucket/model"


class _FakeApi(BaseHTTPRequestHandler):
    """Custom-object REST paths for InferenceServices; validates every body it stores."""

    store: dict[str, dict] = {}
    calls: list[tuple[str, str]] = []
    prefix = f"/apis/{GROUP}/{VERSION}/namespaces/"

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, code: int, doc: dict) -> None:
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def _route(self) -> tuple[str, str | None]:
        assert self.path.startswith(self.prefix), self.path
        parts = self.path[len(self.prefix):].split("?")[0].split("/")
        assert parts[1] == PLURAL
        return parts[0], parts[2] if len(parts) > 2 else None

    def _invalid(self, body: dict) -> bool:
        try:
            validate_inference_service(body)
            kubernetes_validate.validate(_pod(body), "1.32.0", strict=True)
        except (InferenceServiceError, kubernetes_validate.ValidationError) as e:
            self._reply(422, {"kind": "Status", "status": "Failure", "message": str(e),
                              "reason": "Invalid", "code": 422})
            return True
        return False

    def do_POST(self) -> None:
        ns, _ = self._route()
        body = self._body()
        self.calls.append(("POST", ns))
        if self._invalid(body):
            return
        key = f"{ns}/{body['metadata']['name']}"
        if key in self.store:
            self._reply(409, {"kind": "Status", "reason": "AlreadyExists", "code": 409})
            return
        body["metadata"]["resourceVersion"] = "1"
        self.store[key] = body
        self._reply(201, body)

    def do_GET(self) -> None:
        ns, name = self._route()
        self.calls.append(("GET", ns))
        doc = self.store.get(f"{ns}/{name}")
        self._reply(200, doc) if doc else self._reply(404, {"code": 404})

    def do_PUT(self) -> None:
        ns, name = self._route()
        body = self._body()
        self.calls.append(("PUT", ns))
        if self._invalid(body):
            return
        current = self.store[f"{ns}/{name}"]
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            self._reply(409, {"code": 409, "reason": "Conflict"})
            return
        body["metadata"]["resourceVersion"] = str(int(current["metadata"]["resourceVersion"]) + 1)
        self.store[f"{ns}/{name}"] = body
        self._reply(200, body)


@pytest.fixture
def api():
    from kubernetes import client

    _FakeApi.store, _FakeApi.calls = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cfg = client.Configuration(host=f"http://127.0.0.1:{server.server_address[1]}")
    yield client.CustomObjectsApi(client.ApiClient(cfg))
    server.shutdown()


class _Art:
    def __init__(self, path: Path, uri: str) -> None:
        self.path, self.uri, self.metadata = str(path), uri, {}


def test_deploy_creates_then_updates_through_the_api(api, tmp_path):
    model = _Art(tmp_path / "model", "minio://mlpipeline/v2/artifacts/run-1/train/model")
    out = _Art(tmp_path / "isvc.yaml", "")
    kwargs = dict(model=model, inference_service=out, name="digits", namespace="team-a",
                  image="registry.local/serve:1", variant="int8", service_account="",
                  min_replicas=1, max_replicas=2, dry_run=False, api=api)
    assert run_deploy(**kwargs) == "digits"
    stored = _FakeApi.store["team-a/digits"]
    container = stored["spec"]["predictor"]["containers"][0]
    assert container["env"] == [{"name": "STORAGE_URI",
                                 "value": "s3://mlpipeline/v2/artifacts/run-1/train/model"}]
    assert "int8" in container["args"] and stored["spec"]["predictor"]["maxReplicas"] == 2
    assert yaml.safe_load(Path(out.path).read_text())["metadata"]["name"] == "digits"
    assert out.metadata["applied"] is True and out.metadata["infer_path"] == \
        "/v2/models/digits/infer"
    model.uri = "minio://mlpipeline/v2/artifacts/run-2/train/model"  # a re-run: update
    assert run_deploy(**kwargs) == "digits"
    assert [c[0] for c in _FakeApi.calls] == ["POST", "POST", "GET", "PUT"]
    assert _FakeApi.store["team-a/digits"]["metadata"]["resourceVersion"] == "2"
    assert "run-2" in json.dumps(_FakeApi.store["team-a/digits"])


def test_deploy_dry_run_sends_nothing(api, tmp_path):
    out = _Art(tmp_path / "isvc.yaml", "")
    run_deploy(model=_Art(tmp_path, "s3://b/m"), inference_service=out, name="m",
               namespace="ns", image="", variant="auto", service_account="", min_replicas=1,
               max_replicas=1, dry_run=True, api=api)
    assert _FakeApi.calls == [] and out.metadata["applied"] is False
    assert validate_inference_service(yaml.safe_load(Path(out.path).read_text()))


def test_deploy_of_a_local_model_writes_the_body_and_applies_nothing(api, tmp_path, capsys):
    """kfp.local gives the Model as a plain path: no cluster could download it, so even with
    dry_run=False nothing is sent, and the artifact and the log say why and what to do."""
    out = _Art(tmp_path / "isvc.yaml", "")
    model = _Art(tmp_path / "model", str(tmp_path / "model"))
    assert run_deploy(model=model, inference_service=out, name="digits", namespace="ns",
                      image="", variant="auto", service_account="", min_replicas=1,
                      max_replicas=1, dry_run=False, api=api) == "digits"
    assert _FakeApi.calls == [] and out.metadata["applied"] is False
    assert "path on this machine" in out.metadata["not_applied"]
    body = validate_inference_service(yaml.safe_load(Path(out.path).read_text()))
    assert body["spec"]["predictor"]["containers"][0]["env"][0]["value"] == model.uri
    log = capsys.readouterr().out
    assert "not applied" in log and f"python -m serving --model-dir {model.path}" in log


#: HTTP method of a namespaced custom-object call -> the RBAC verb the API server checks.
_VERBS = {"POST": "create", "GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def test_deploy_rbac_grants_exactly_what_the_deploy_step_calls(api, tmp_path):
    """manifests/serving: a namespaced Role for KFP's pipeline-runner with the verbs the deploy
    step's calls need (first run: create; re-run: create -> 409 -> get -> replace) and no
    more; rendered with kubectl kustomize, schema-checked, no cluster-wide grant."""
    from tests.deploy.rendered import render

    model = _Art(tmp_path / "model", "s3://b/run-1/model")
    kwargs = dict(model=model, inference_service=_Art(tmp_path / "isvc.yaml", ""),
                  name="digits", namespace="kubeflow", image="", variant="auto",
                  service_account="", min_replicas=1, max_replicas=1, dry_run=False, api=api)
    run_deploy(**kwargs)
    run_deploy(**kwargs)  # the re-run path
    used = {_VERBS[call[0]] for call in _FakeApi.calls}
    docs = render("serving")
    for doc in docs:
        kubernetes_validate.validate(doc, "1.32", strict=True)
    assert {d["kind"] for d in docs} == {"Role", "RoleBinding"}
    (role,) = [d for d in docs if d["kind"] == "Role"]
    (rule,) = role["rules"]
    assert (rule["apiGroups"], rule["resources"]) == (["serving.kserve.io"],
                                                      ["inferenceservices"])
    assert set(rule["verbs"]) == used == {"create", "get", "update"}
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pipeline-runner",
                                    "namespace": role["metadata"]["namespace"]}]
