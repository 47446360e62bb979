"""The `train` step with launcher=pytorchjob: the job it creates, how it waits, what it returns.

A Kubernetes API server cannot run here, so `FakeOperator` stands in for the CustomObjectsApi
and answers the way the Training Operator v1 writes a PyTorchJob's status: conditions
`Created`, `Running`, `Restarting`, `Succeeded`, `Failed` with the operator's reasons
(`PyTorchJob<Type>`) and messages, and `replicaStatuses.Worker` counts (TRAINING_OPERATOR:
pkg/apis/kubeflow.org/v1/common_types.go JobConditionType, pkg/util/status.go NewReason,
pkg/controller.v1/pytorch/pytorchjob_controller.go updateGeneralJobStatus). Every
body it receives is checked against the PyTorchJob CRD schema (`validate_training_job`),
kubernetes-validate and the Pod Security `restricted` rules. In `run=True` mode it really
runs the job: the container's torchrun command as local torchrun processes (what
`katib.local` does for PyTorchJob trials), so the weights really travel over the "PVC".
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kfp import dsl
from kubernetes.client.exceptions import ApiException

from components._impl.runtime import PIPELINE_IMAGE_ENV
from components._impl.train_job import (
    LAUNCHER_ENV,
    LauncherConfig,
    LauncherError,
    elastic_micro_batches,
    job_name,
    run_job,
)
from components.train import train
from katib.backends.kubernetes import KubernetesBackendConfig
from katib.backends.kubernetes.training_jobs import (
    TrainingJobClient,
    TrainingJobFailedError,
    validate_training_job,
)
from katib.backends.local.distributed import local_torchrun
from nac.spec import initial_envelopenet
from nac.training import TrainConfig
from tests.components.digits_artifacts import digits_artifacts
from tests.conformance.pins import KFP, MANIFESTS, Pin
from tests.conformance.pod_security import violations

ROOT = Path(__file__).resolve().parents[2]
NS = "team-a"
#: The last Training Operator v1 release (`fetch github:kubeflow/training-operator`); the
#: PyTorchJob CRD schema itself comes from MANIFESTS_PREVIOUS (katib/.../schemas/).
TRAINING_OPERATOR = Pin("kubeflow/training-operator", "v1.9.0",
                        "6f74c7f6b2ed6c27aabd82d0a316b23f0646059c")


def _cond(kind: str, message: str, status: str = "True") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": f"PyTorchJob{kind}", "message": message}


class FakeOperator:
    """CustomObjectsApi of an API server with the Training Operator v1 behind it."""

    def __init__(self, *, run: bool = False, script: list[str] | None = None,
                 workdir: Path | None = None) -> None:
        self.objects: dict[tuple, dict] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.procs: dict[str, subprocess.Popen] = {}
        self.run, self.script, self.workdir = run, list(script or []), workdir
        self.bodies: list[dict] = []

    def create_namespaced_custom_object(self, group, version, namespace, plural, body):
        self.calls.append(("create", group, plural))
        validate_training_job(copy.deepcopy(body))
        template = body["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate",
                                      "metadata": {"name": "t"}, "template": template},
                                     "1.32", strict=True)
        assert violations(template["spec"]) == []
        assert namespace == body["metadata"]["namespace"]
        name = body["metadata"]["name"]
        if (plural, namespace, name) in self.objects:
            raise ApiException(status=409, reason="AlreadyExists")
        self.objects[(plural, namespace, name)] = copy.deepcopy(body)
        self.bodies.append(copy.deepcopy(body))
        if self.run:  # the operator's pods: the container's torchrun, as local processes
            container = template["spec"]["containers"][0]
            argv, env = local_torchrun(body, container["command"],
                                       {e["name"]: e["value"] for e in container["env"]})
            log = open(self.workdir / f"{name}.log", "w")  # noqa: SIM115 - closed with the proc
            self.procs[name] = subprocess.Popen(
                argv, env={**os.environ, **env, "OMP_NUM_THREADS": "1"}, cwd=ROOT,
                stdout=log, stderr=subprocess.STDOUT)
        return body

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        self.calls.append(("get", group, plural))
        obj = copy.deepcopy(self.objects[(plural, namespace, name)])
        conds = [_cond("Created", f"PyTorchJob {name} is created.")]
        replicas = obj["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"]
        state = self.script.pop(0) if len(self.script) > 1 else (
            self.script[0] if self.script else self._process_state(name))
        if state == "Running":
            conds.append(_cond("Running", f"PyTorchJob {namespace}/{name} is running."))
            workers = {"active": replicas}
        elif state == "Restarting":
            conds.append(_cond("Restarting", f"PyTorchJob {name} is restarting because 1 "
                                             "Worker replica(s) failed."))
            workers = {"active": replicas - 1, "failed": 1}
        elif state == "Succeeded":
            conds.append(_cond("Running", f"PyTorchJob {namespace}/{name} is running."))
            conds.append(_cond("Succeeded", f"PyTorchJob {namespace}/{name} successfully "
                                            "completed."))
            workers = {"succeeded": replicas}
        elif state == "Failed":
            conds.append(_cond("Failed", f"PyTorchJob {name} is failed because {replicas} "
                                         "Worker replica(s) failed."))
            workers = {"failed": replicas}
        else:
            workers = {}
        obj["status"] = {"conditions": conds, "replicaStatuses": {"Worker": workers}}
        return obj

    def _process_state(self, name: str) -> str:
        code = self.procs[name].poll()
        return "Running" if code is None else ("Succeeded" if code == 0 else "Failed")

    def delete_namespaced_custom_object(self, group, version, namespace, plural, name):
        self.calls.append(("delete", group, plural))
        if self.objects.pop((plural, namespace, name), None) is None:
            raise ApiException(status=404, reason="Not Found")
        if name in self.procs:
            self.procs[name].kill()
            self.procs[name].wait()


def _tiny_spec():
    return initial_envelopenet((1, 8, 8), 10, stages=2, layers_per_stage=(1, 1),
                               stem_channels=16, stem_kernel=3, lrn=False,
                               envelope=("1x1", "3x3", "3x3sep"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return digits_artifacts(tmp_path_factory.mktemp("data"))


def _launch(mount: Path, **kw: Any) -> LauncherConfig:
    return LauncherConfig(**{"launcher": "pytorchjob", "pvc": "shared-rwx",
                             "mount": str(mount), "poll_s": 0.01, **kw})


def _run(tmp_path, data, api, *, workers=2, lines=None, **kw):
    """run_job on the digits splits with scripted statuses (nothing is trained)."""
    ckpt = tmp_path / "pvc" / "run-1" / "train"
    ckpt.mkdir(parents=True)
    client = TrainingJobClient(KubernetesBackendConfig(namespace=NS, custom_api=api,
                                                       polling_interval=0.01))
    config = TrainConfig(epochs=1, batch_size=64, checkpoint_dir=str(ckpt))
    return run_job(_tiny_spec(), data[1].train, data[1].val, config, workers=workers,
                   launch=_launch(tmp_path / "pvc", **kw), ckpt=ckpt, run_id="run-1",
                   image="registry.local/trainer:1.0", client=client,
                   log=(lines if lines is not None else []).append)


def test_failed_job_names_the_job_and_the_operators_message_and_is_deleted(tmp_path, data):
    """Created -> Running -> Restarting -> Failed, each with the operator's message."""
    assert TRAINING_OPERATOR.cite("pkg/controller.v1/pytorch/pytorchjob_controller.go",
                                  "updateGeneralJobStatus")
    api = FakeOperator(script=["Created", "Running", "Restarting", "Failed"])
    lines: list[str] = []
    with pytest.raises(TrainingJobFailedError) as err:
        _run(tmp_path, data, api, lines=lines)
    msg = str(err.value)
    assert f"PyTorchJob {NS}/nac-train-run-1 failed: PyTorchJobFailed: PyTorchJob " \
           "nac-train-run-1 is failed because 2 Worker replica(s) failed." in msg
    assert "job deleted" in msg and "training.kubeflow.org/job-name=nac-train-run-1" in msg
    assert [c[0] for c in api.calls][0] == "create" and api.calls[-1][0] == "delete"
    assert api.objects == {}
    streamed = "\n".join(lines)  # every status change, once
    assert "is restarting because 1 Worker replica(s) failed" in streamed
    assert "Worker active=1 succeeded=0 failed=1" in streamed
    assert streamed.count("Worker active=2 succeeded=0 failed=0") == 1


def test_failed_job_is_kept_when_asked(tmp_path, data):
    api = FakeOperator(script=["Failed"])
    with pytest.raises(TrainingJobFailedError, match="kept for inspection"):
        _run(tmp_path, data, api, delete="never")
    assert "delete" not in [c[0] for c in api.calls] and len(api.objects) == 1


def test_timeout_deletes_the_job(tmp_path, data):
    api = FakeOperator(script=["Running"])
    with pytest.raises(TimeoutError, match=rf"PyTorchJob {NS}/nac-train-run-1: not finished "
                                           r"after 1 s \(job deleted"):
        _run(tmp_path, data, api, timeout_s=1)
    assert api.calls[-1] == ("delete", "kubeflow.org", "pytorchjobs") and api.objects == {}


def test_succeeded_without_weights_on_the_pvc_is_a_clear_error(tmp_path, data):
    """An elastic job is Succeeded once any worker completed (TRAINING_OPERATOR.cite below),
    so the step waits a bounded time for rank 0's result.json, then says what to check."""
    assert TRAINING_OPERATOR.cite("pkg/controller.v1/pytorch/pytorchjob_controller.go",
                                  "updateGeneralJobStatus")
    api = FakeOperator(script=["Succeeded"])
    with pytest.raises(RuntimeError, match="wrote no .*result.json within 0 s; is the PVC "
                                           "mounted at the same path"):
        _run(tmp_path, data, api, result_wait_s=0.2)


def test_a_retried_step_reattaches_to_its_job_and_loads_the_weights(tmp_path, data):
    """KFP retries the step (set_retry): the job of the first attempt finished meanwhile."""
    import torch

    from nac.model import build_model

    api = FakeOperator(script=["Succeeded"])
    with pytest.raises(RuntimeError, match="wrote no"):  # attempt 1 created it, then died
        _run(tmp_path / "attempt-1", data, api, result_wait_s=0)
    out = tmp_path / "pvc" / "run-1" / "job" / "out"  # what rank 0 wrote
    out.mkdir(parents=True)
    weights = build_model(_tiny_spec()).state_dict()
    torch.save(weights, out / "model.pt")
    history = [{"epoch": 1, "epochs": 1, "train_loss": 2.0, "train_accuracy": 0.3,
                "val_loss": 1.9, "val_accuracy": 0.4, "lr": 0.1, "seconds": 1.0}]
    (out / "result.json").write_text(json.dumps({
        "val_accuracy": 0.4, "weights_sha256": "ab" * 32, "world_size": 2, "global_step": 19,
        "parameters": 9134, "device": "cpu", "resumed_from": None, "history": history}))
    result = _run(tmp_path, data, api)
    assert [c[0] for c in api.calls].count("create") == 2 and len(api.bodies) == 1  # 409
    assert len(api.objects) == 1 and "delete" not in [c[0] for c in api.calls]
    assert result.val_accuracy == 0.4 and result.val_loss == 1.9
    assert result.extra == {"workers": 2, "weights_sha256": "ab" * 32}
    got = result.model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in weights.items())


def test_bad_launcher_settings_are_named_before_any_job_exists(tmp_path, data):
    api = FakeOperator(script=["Running"])
    with pytest.raises(LauncherError, match="batch_size: the global batch 64 must be a "
                                            "multiple of 6 .* 1..3 workers"):
        _run(tmp_path, data, api, workers=3)
    assert api.calls == []
    for env, message in [
        ("{not json", "NAC_TRAIN_LAUNCHER: not JSON"),
        ('{"launcher": "pytorchjob", "replicas": 2}', r"unknown settings \['replicas'\]"),
        ('{"launcher": "trainjob"}', "'trainjob' is not one of in-pod, pytorchjob"),
        ('{"launcher": "pytorchjob"}', "launcher.pvc: '' is not a PVC name"),
        ('{"launcher": "pytorchjob", "pvc": "x", "mount": "/m", "delete": "later"}',
         "launcher.delete: 'later'"),
    ]:
        with pytest.raises(LauncherError, match=message):
            LauncherConfig.from_env({LAUNCHER_ENV: env})
    assert LauncherConfig.from_env({}).launcher == "in-pod"
    with pytest.raises(LauncherError, match="is not on the PVC mounted at"):
        client = TrainingJobClient(KubernetesBackendConfig(namespace=NS, custom_api=api))
        run_job(_tiny_spec(), data[1].train, data[1].val, TrainConfig(), workers=1,
                launch=_launch(tmp_path / "elsewhere"), ckpt=tmp_path / "ckpt",
                run_id="r", image="i:1", client=client)
    long = job_name("x" * 80, tmp_path)
    assert len(long) <= 50 and job_name("", tmp_path) != job_name("", tmp_path / "other")
    uuid = "5d3c4a1e-9b7f-4c2a-8e61-0f3b2a9c7d10"  # a KFP run id stays readable
    assert job_name(uuid, tmp_path) == f"nac-train-{uuid}"


def test_micro_batches_divide_every_world_size():
    assert elastic_micro_batches(64, 1, 2) == 2
    assert elastic_micro_batches(48, 2, 4) == 12
    assert elastic_micro_batches(64, 4, 4) == 4


def test_compiled_pipeline_with_pytorchjob_launcher(tmp_path, data):
    """Compile options -> the train task's PVC mount and env -> the PyTorchJob it creates.

    The step's own output is a KFP Model artifact that the launcher uploads after the step
    exits (KFP.cite below); the job only writes the PVC.
    """
    assert KFP.cite("backend/src/v2/component/launcher_v2.go", "uploadOutputArtifacts")
    from pipelines.cli import main

    out = tmp_path / "p.yaml"
    assert main(["compile", "--output", str(out), "--image", "registry.local/trainer:1.0",
                 "--launcher", "pytorchjob", "--checkpoint-pvc", "shared-rwx",
                 "--train-workers", "4", "--min-train-workers", "2"]) == 0
    pipeline_doc, platform_doc = list(yaml.safe_load_all(out.read_text()))
    container = pipeline_doc["deploymentSpec"]["executors"]["exec-train"]["container"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env[PIPELINE_IMAGE_ENV] == "registry.local/trainer:1.0"
    assert "accelerator" not in container["resources"]  # the job's pods get the GPUs
    k8s = platform_doc["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
    (mount,) = k8s["pvcMount"]
    assert (mount["constant"], mount["mountPath"]) == ("shared-rwx", "/mnt/checkpoints")
    assert "tolerations" not in k8s
    task = pipeline_doc["root"]["dag"]["tasks"]["train"]
    assert task["inputs"]["parameters"]["workers"]["runtimeValue"]["constant"] == 4
    launch = LauncherConfig.from_env(env)
    assert (launch.launcher, launch.pvc, launch.mount, launch.min_workers) == (
        "pytorchjob", "shared-rwx", "/mnt/checkpoints", 2)
    assert (launch.accelerator, launch.accelerator_count, launch.toleration_key) == (
        "nvidia.com/gpu", 1, "nvidia.com/gpu")
    assert launch.timeout_s < 86400  # inside the step's own pod deadline

    # What that task would create (the mount path rebased onto tmp_path: the same in both).
    api = FakeOperator(script=["Failed"])
    client = TrainingJobClient(KubernetesBackendConfig(namespace=NS, custom_api=api))
    ckpt = tmp_path / "mnt" / "run-9" / "train"
    ckpt.mkdir(parents=True)
    rebased = LauncherConfig(**{**json.loads(launch.to_env()), "mount": str(tmp_path / "mnt"),
                                "poll_s": 0.01})
    with pytest.raises(TrainingJobFailedError):
        run_job(_tiny_spec(), data[1].train, data[1].val, TrainConfig(batch_size=48,
                checkpoint_dir=str(ckpt)), workers=4, launch=rebased, ckpt=ckpt,
                run_id="run-9", image=env[PIPELINE_IMAGE_ENV], client=client)
    (body,) = api.bodies
    spec = body["spec"]
    assert spec["elasticPolicy"] == {"minReplicas": 2, "maxReplicas": 4, "rdzvBackend": "c10d",
                                     "rdzvPort": 29400, "maxRestarts": 3}
    pod = spec["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == "registry.local/trainer:1.0"
    assert c["resources"]["limits"] == {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": 1}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert pod["serviceAccountName"] == "nac-training"
    claim = [v for v in pod["volumes"] if v["name"] == "checkpoints"][0]
    assert claim["persistentVolumeClaim"]["claimName"] == "shared-rwx"
    assert {"name": "checkpoints", "mountPath": str(tmp_path / "mnt")} in c["volumeMounts"]
    args = c["command"]
    assert args[args.index("--checkpoint-dir") + 1] == str(ckpt)
    assert args[args.index("--micro-batches") + 1] == "12"  # lcm(2, 3, 4)
    assert Path(args[args.index("--data") + 1], "data.npz").exists()  # staged on the PVC


def test_launcher_rbac_covers_what_the_step_calls(tmp_path, data):
    """Standalone KFP runs pipeline pods as `pipeline-runner` (MANIFESTS.cite below); the Role
    in manifests/training grants it what the launcher calls on pytorchjobs, and the job's
    pods use the token-less `nac-training` ServiceAccount shipped beside it."""
    assert MANIFESTS.cite("applications/pipeline/upstream/base/pipeline/pipeline-runner-sa.yaml")
    from tests.deploy.rendered import render

    api = FakeOperator(script=["Failed"])
    with pytest.raises(TrainingJobFailedError):
        _run(tmp_path, data, api)
    docs = render("training")
    (role,) = [d for d in docs if d["kind"] == "Role"]
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding"]
    granted = {(v, g, r) for rule in role["rules"] for g in rule["apiGroups"]
               for r in rule["resources"] for v in rule["verbs"]}
    assert set(api.calls) <= granted and {c[0] for c in api.calls} == {"create", "get",
                                                                        "delete"}
    assert [s["name"] for s in binding["subjects"]] == ["pipeline-runner"]
    (sa,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert sa["metadata"]["name"] == LauncherConfig().service_account


@pytest.mark.slow
def test_train_step_runs_a_real_job_and_returns_its_model(tmp_path, data, monkeypatch):
    """The whole step: the job's pods are real torchrun workers; the Model comes back."""
    import katib.kubeconfig

    api = FakeOperator(run=True, workdir=tmp_path)
    monkeypatch.setattr(katib.kubeconfig, "custom_objects_api", lambda cfg=None: api)
    monkeypatch.setattr(katib.kubeconfig, "default_namespace", lambda: NS)  # the pod's SA ns
    pvc = tmp_path / "pvc"
    monkeypatch.setenv(LAUNCHER_ENV, LauncherConfig(
        launcher="pytorchjob", pvc="shared-rwx", mount=str(pvc), poll_s=0.2, cpu="1",
        memory="2Gi").to_env())
    monkeypatch.setenv(PIPELINE_IMAGE_ENV, "registry.local/trainer:1.0")
    arch, hp = tmp_path / "architecture", tmp_path / "hp"
    arch.write_text(_tiny_spec().dumps())
    hp.write_text(json.dumps({"lr": "0.1", "batch_size": "64"}))
    model = dsl.Model(uri=str(tmp_path / "model"))
    metrics = dsl.Metrics(uri=str(tmp_path / "metrics"))
    splits = data[0]
    val_acc = train.python_func(
        train_data=splits["train"], val_data=splits["val"],
        architecture=dsl.Artifact(uri=str(arch)), hyperparameters=dsl.Artifact(uri=str(hp)),
        model=model, metrics=metrics, training_log=dsl.Markdown(uri=str(tmp_path / "log.md")),
        epochs=4, include_val=False, seed=0, checkpoint_dir=str(pvc), run_id="run/1",
        workers=2)
    logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
    assert api.calls[0] == ("create", "kubeflow.org", "pytorchjobs"), logs[-3000:]
    assert 0.3 < val_acc <= 1.0, logs[-3000:]  # 4 epochs of a tiny net: well above chance (0.1)
    assert '"world_size": 2' in logs  # two workers trained it
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    assert meta["metrics"]["val_accuracy"] == val_acc
    assert list((pvc / "run_1" / "train").glob("elastic-*.pt"))  # checkpoints on the PVC
    assert (pvc / "run_1" / "job" / "out" / "model.pt").exists()
    assert ("delete", "kubeflow.org", "pytorchjobs") not in api.calls  # kept on success


@pytest.mark.parametrize("flags, message", [
    (["--launcher", "pytorchjob"], "--launcher pytorchjob needs --checkpoint-pvc NAME: a "
                                   "ReadWriteMany PVC"),
    (["--train-workers", "2", "--min-train-workers", "3"],
     "--min-train-workers 3 / --train-workers 2: need 1 <= min <= workers"),
])
def test_bad_launcher_compile_options_are_named(tmp_path, capsys, flags, message):
    from pipelines.cli import main

    out = tmp_path / "p.yaml"
    assert main(["compile", "--output", str(out), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
