"""PyTorchJob / TrainJob bodies, their client, RBAC and the Katib example Experiments.

The API server is the one thing faked (a CustomObjectsApi double that records calls); every
body is checked against the real schemas: the PyTorchJob CRD's OpenAPI schema (extracted from
kubeflow/manifests at the pinned release), kubeflow_trainer_api's TrainJob models, and
kubernetes-validate plus the Pod Security `restricted` rules for the pod templates.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from katib.backends.kubernetes import KubernetesBackendConfig
from katib.backends.kubernetes.training_jobs import (
    ElasticTrainingJob,
    TrainingJobClient,
    TrainingJobError,
    TrainingJobFailedError,
    pytorchjob,
    trainjob,
    validate_training_job,
)
from katib.backends.local.template import render_trial
from katib.validation import load_experiment
from tests.conformance.pins import KATIB, MANIFESTS_PREVIOUS
from tests.conformance.pod_security import violations

ROOT = Path(__file__).resolve().parents[2]
K8S = "1.32"
JOB = ElasticTrainingJob(name="train-digits", image="ghcr.io/kubeflow-nac/automl-trainer:0.1.0",
                         args=["--data", "/data/train", "--checkpoint-dir", "/checkpoints/r1"],
                         min_workers=1, max_workers=3)


def _pod_template_ok(template: dict[str, Any]) -> None:
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate",
                                  "metadata": {"name": "t"}, "template": template}, K8S,
                                 strict=True)
    assert violations(template["spec"]) == []


def test_pytorchjob_is_elastic_and_valid():
    body = pytorchjob(JOB)
    policy = body["spec"]["elasticPolicy"]
    assert (policy["minReplicas"], policy["maxReplicas"], policy["rdzvBackend"],
            policy["maxRestarts"]) == (1, 3, "c10d", 3)
    worker = body["spec"]["pytorchReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 3 and "Master" not in body["spec"]["pytorchReplicaSpecs"]
    container = worker["template"]["spec"]["containers"][0]
    assert container["command"][:4] == ["torchrun", "-m", "nac.distributed", "worker"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"] == "1"
    _pod_template_ok(worker["template"])
    json.dumps(body)


def test_pytorchjob_schema_refuses_what_the_api_server_would():
    """Schema extracted from the pinned manifests release (scripts/training_crd_schema.py)."""
    schema = json.loads((ROOT / "katib/backends/kubernetes/schemas/pytorchjob-v1.json")
                        .read_text())
    assert MANIFESTS_PREVIOUS.commit[:8] in schema["source"]
    assert "kubeflow.org_pytorchjobs.yaml" in schema["source"]
    body = pytorchjob(JOB)
    for mutate, message in [
        (lambda b: b["spec"]["elasticPolicy"].update(minReplica=1), "minReplica"),
        (lambda b: b["spec"]["elasticPolicy"].update(maxReplicas="3"), "maxReplicas"),
        (lambda b: b["spec"].pop("pytorchReplicaSpecs"), "pytorchReplicaSpecs"),
        (lambda b: b["spec"]["runPolicy"].update(backoffLimit="3"), "backoffLimit"),
        (lambda b: b["spec"]["elasticPolicy"].update(minReplicas=4), "minReplicas"),
        (lambda b: b["metadata"].update(name="Train_Digits"), "metadata.name"),
    ]:
        bad = copy.deepcopy(body)
        mutate(bad)
        with pytest.raises(TrainingJobError, match=message):
            validate_training_job(bad)
    with pytest.raises(TrainingJobError, match="min_workers"):
        ElasticTrainingJob(name="x", image="i", args=[], min_workers=3, max_workers=2)


def test_trainjob_matches_the_trainer_api_models():
    body = trainjob(JOB)
    trainer = body["spec"]["trainer"]
    assert trainer["numNodes"] == 3 and trainer["command"][0] == "torchrun"
    assert body["spec"]["runtimeRef"]["name"] == "torch-distributed"
    bad = copy.deepcopy(body)
    bad["spec"]["trainer"]["numNode"] = 2
    with pytest.raises(TrainingJobError, match="spec.trainer.numNode"):
        validate_training_job(bad)
    bad = copy.deepcopy(body)
    bad["spec"]["trainer"]["numNodes"] = "two"
    with pytest.raises(TrainingJobError, match="numNodes"):
        validate_training_job(bad)


class FakeCustomObjectsApi:
    """The API server: stores objects, answers 409 on a duplicate, advances status on get."""

    def __init__(self, conditions: list[dict[str, Any]]) -> None:
        self.objects: dict[tuple, dict] = {}
        self.calls: list[tuple[str, str, str]] = []  # (verb, group, plural)
        self.conditions = conditions

    def create_namespaced_custom_object(self, group, version, namespace, plural, body):
        self.calls.append(("create", group, plural))
        key = (group, plural, namespace, body["metadata"]["name"])
        json.dumps(body)
        if key in self.objects:
            raise ApiException(status=409, reason="Conflict")
        self.objects[key] = copy.deepcopy(body)
        return body

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        self.calls.append(("get", group, plural))
        obj = copy.deepcopy(self.objects[(group, plural, namespace, name)])
        obj["status"] = {"conditions": self.conditions[:1]}
        if len(self.conditions) > 1:
            self.conditions.pop(0)
        return obj

    def delete_namespaced_custom_object(self, group, version, namespace, plural, name):
        self.calls.append(("delete", group, plural))
        if self.objects.pop((group, plural, namespace, name), None) is None:
            raise ApiException(status=404, reason="Not Found")


def _cond(kind: str, reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": "True", "reason": reason, "message": message}


def _client(conditions):
    api = FakeCustomObjectsApi(conditions)
    return api, TrainingJobClient(KubernetesBackendConfig(namespace="kubeflow", custom_api=api,
                                                          polling_interval=0.01))


def test_client_creates_waits_and_reattaches():
    api, client = _client([_cond("Created"), _cond("Running"), _cond("Succeeded")])
    assert client.create(pytorchjob(JOB)) == "train-digits"
    assert client.create(pytorchjob(JOB)) == "train-digits"  # 409: re-attach, not a 2nd job
    done = client.wait("PyTorchJob", "train-digits", timeout=5)
    assert done["status"]["conditions"][0]["type"] == "Succeeded"
    api, client = _client([_cond("Failed", "BackoffLimitExceeded", "worker-1 OOMKilled")])
    client.create(trainjob(JOB))
    with pytest.raises(TrainingJobFailedError, match="BackoffLimitExceeded: worker-1 OOMKilled"):
        client.wait("TrainJob", "train-digits", timeout=5)
    client.delete("TrainJob", "train-digits")
    client.delete("TrainJob", "train-digits")  # already gone: fine


def test_rbac_grants_exactly_what_the_client_calls():
    api, client = _client([])
    for body, kind, done in ((pytorchjob(JOB), "PyTorchJob", "Succeeded"),
                             (trainjob(JOB), "TrainJob", "Complete")):
        api.conditions = [_cond(done)]
        client.create(body)
        client.wait(kind, "train-digits", timeout=5)
        client.delete(kind, "train-digits")
    used: dict[tuple[str, str], set[str]] = {}
    for verb, group, plural in api.calls:
        used.setdefault((group, plural), set()).add(verb)
    out = subprocess.run(["kubectl", "kustomize", str(ROOT / "manifests/training")],
                         capture_output=True, text=True, check=True).stdout
    docs = list(yaml.safe_load_all(out))
    for doc in docs:
        kubernetes_validate.validate(doc, K8S, strict=True)
    (role,) = [d for d in docs if d["kind"] == "Role"]
    granted = {(g, r): set(rule["verbs"]) for rule in role["rules"]
               for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted == used
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    (sa,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert sa["metadata"]["name"] == JOB.service_account
    assert sa["automountServiceAccountToken"] is False


# Katib v0.19.0's defaults for these kinds (what the webhook would fill in if we left them out).
_KATIB_DEFAULTS = {
    "PyTorchJob": ({"training.kubeflow.org/job-role": "master"},
                   'status.conditions.#(type=="Succeeded")#|#(status=="True")#'),
    "TrainJob": ({"jobset.sigs.k8s.io/replicatedjob-name": "node",
                  "batch.kubernetes.io/job-completion-index": "0"},
                 'status.conditions.#(type=="Complete")#|#(status=="True")#'),
}


@pytest.mark.parametrize("path,kind,procs", [("examples/pytorchjob-digits.yaml", "PyTorchJob", 2),
                                             ("examples/trainjob-digits.yaml", "TrainJob", 2)])
def test_example_experiments_run_locally_as_torchrun(path, kind, procs):
    """Katib defaults: KATIB.cite below. Locally every replica becomes a torchrun process."""
    assert KATIB.cite("pkg/apis/controller/experiments/v1beta1/constants.go",
                      "DefaultKubeflowJobPrimaryPodLabels")
    doc = yaml.safe_load((ROOT / path).read_text())
    tt = doc["spec"]["trialTemplate"]
    labels, success = _KATIB_DEFAULTS[kind]
    assert tt["trialSpec"]["kind"] == kind and tt["primaryPodLabels"] == labels
    assert tt["successCondition"] == success
    assert tt["failureCondition"] == 'status.conditions.#(type=="Failed")#|#(status=="True")#'
    if kind == "PyTorchJob":
        for replica in tt["trialSpec"]["spec"]["pytorchReplicaSpecs"].values():
            _pod_template_ok(replica["template"])
    else:
        models_ok = validate_training_job({**tt["trialSpec"], "metadata": {"name": "t"}})
        assert models_ok["spec"]["trainer"]["numNodes"] == procs
    experiment = load_experiment(ROOT / path)
    cmd = render_trial(experiment, "trial-1", {"lr": "0.05"})
    assert cmd.argv[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert cmd.argv[3:5] == ["-m", "katib.trial"] and "--lr=0.05" in cmd.argv
    assert cmd.env["PET_NPROC_PER_NODE"] == str(procs) and cmd.env["PET_NNODES"] == "1"
    assert cmd.env["PET_RDZV_BACKEND"] == "c10d"


@pytest.mark.slow
def test_pytorchjob_experiment_runs_with_katib_local(tmp_path):
    """The example a cluster runs unchanged: here its 2 replicas are 2 torchrun processes."""
    proc = subprocess.run([sys.executable, "-m", "katib.local", "run",
                           str(ROOT / "examples/pytorchjob-digits.yaml"), "--max-trials", "1",
                           "--workdir", str(tmp_path), "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1].removeprefix("RESULT "))
    assert result["trials_succeeded"] == 1 and 0 < result["best_objective"] <= 1
