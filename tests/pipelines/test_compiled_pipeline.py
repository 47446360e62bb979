"""The compiled pipeline: checked-in YAML is current, parses as a PipelineSpec, GPU/workspace
settings, and the compile options of the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from components._common import IMAGE_REPOSITORY, TRAINER_IMAGE
from pipelines.options import WORKSPACE_MOUNT
from pipelines.runner import compile_pipeline

GOLDEN = Path(__file__).resolve().parents[2] / "pipelines" / "automl.yaml"
_KFP_PIN = re.compile(r"kfp==\d+\.\d+\.\d+")


def _strip_versions(docs: list[dict]) -> list[dict]:
    """Drop what changes with the kfp release alone: sdkVersion and kfp pip pins."""
    out = []
    for doc in docs:
        doc = dict(doc)
        doc.pop("sdkVersion", None)
        text = _KFP_PIN.sub("kfp", yaml.safe_dump(doc, sort_keys=True))
        out.append(yaml.safe_load(text))
    return out


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = compile_pipeline(tmp_path_factory.mktemp("compiled") / "automl.yaml")
    return list(yaml.safe_load_all(path.read_text()))


def test_checked_in_yaml_is_current(compiled):
    golden = list(yaml.safe_load_all(GOLDEN.read_text()))
    assert _strip_versions(golden) == _strip_versions(compiled), (
        "pipelines/automl.yaml is stale: run `python -m pipelines compile` and commit it")


def test_pipeline_and_platform_specs_parse(compiled):
    pipeline_doc, platform_doc = compiled
    spec = json_format.ParseDict(pipeline_doc, pipeline_spec_pb2.PipelineSpec())
    assert spec.pipeline_info.name == "nac-automl"
    assert sorted(spec.root.dag.tasks) == ["evaluate", "ingest", "nac-search", "preflight",
                                         "preprocess", "train", "tune"]
    platform = json_format.ParseDict(platform_doc, pipeline_spec_pb2.PlatformSpec())
    assert "kubernetes" in platform.platforms
    defaults = {k: v.default_value for k, v in spec.root.input_definitions.parameters.items()}
    assert defaults["source"].string_value == "builtin:digits"
    assert defaults["backend"].string_value == "local"


def test_training_steps_request_an_accelerator_shm_toleration_and_the_workspace(compiled):
    pipeline_doc, platform_doc = compiled
    executors = pipeline_doc["deploymentSpec"]["executors"]
    accel = executors["exec-train"]["container"]["resources"]["accelerator"]
    assert accel["resourceType"] == "nvidia.com/gpu" and accel["resourceCount"] == "1"
    for name in ("exec-tune", "exec-nac-search"):  # from preflight: none with backend=katib
        res = executors[name]["container"]["resources"]
        assert res["accelerator"]["resourceType"] == (
            "{{$.inputs.parameters['pipelinechannel--preflight-accelerator']}}")
        assert res["resourceMemoryLimit"] == (
            "{{$.inputs.parameters['pipelinechannel--preflight-memory']}}")
    k8s = platform_doc["platforms"]["kubernetes"]
    train = k8s["deploymentSpec"]["executors"]["exec-train"]
    assert train["emptyDirMounts"] == [{"medium": "Memory", "mountPath": "/dev/shm",
                                        "sizeLimit": "2Gi", "volumeName": "dshm"}]
    assert train["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu",
                                     "operator": "Exists"}]
    assert "pvcMount" not in train  # nothing to pre-create: the run's workspace holds them
    assert k8s["pipelineConfig"]["workspace"]["size"] == "10Gi"
    defaults = pipeline_doc["root"]["inputDefinitions"]["parameters"]
    assert defaults["checkpoint_root"]["defaultValue"] == f"{WORKSPACE_MOUNT}/checkpoints"
    assert "checkpoint_pvc" not in defaults
    task = pipeline_doc["root"]["dag"]["tasks"]["train"]["inputs"]["parameters"]
    assert task["checkpoint_dir"] == {"componentInputParameter": "checkpoint_root"}
    assert task["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert "accelerator" not in executors["exec-evaluate"]["container"].get("resources", {})
    assert pipeline_doc["root"]["dag"]["tasks"]["preprocess"]["dependentTasks"] == [
        "ingest", "preflight"]


def test_every_step_uses_the_versioned_trainer_image_without_pip_installs(compiled):
    executors = compiled[0]["deploymentSpec"]["executors"]
    assert len(executors) == 7
    for name, executor in executors.items():
        container = executor["container"]
        assert container["image"] == TRAINER_IMAGE, name
        assert container["image"].startswith(IMAGE_REPOSITORY + ":")
        assert not container["image"].endswith(":latest")
        command = " ".join(container["command"])
        assert "pip install" not in command, f"{name} installs packages at runtime"


@pytest.mark.parametrize("flags, message", [
    (["--image", "ghcr.io/me/trainer"], "--image 'ghcr.io/me/trainer' has no tag or digest"),
    (["--image", "ghcr.io/me/trainer:latest"], "`latest` is mutable"),
    (["--accelerator", "GPU!"], "--accelerator 'GPU!' is not a resource name"),
    (["--shm-size", "15.5Gi"], "--shm-size 15.5Gi leaves under 1Gi of --training-memory 16Gi"),
    (["--training-memory", "lots"], "--training-memory: 'lots' is not a memory quantity"),
    (["--retry-backoff", "1m"], "--retry-backoff '1m': use seconds"),
])
def test_bad_compile_options_are_named(tmp_path, capsys, flags, message):
    from pipelines.cli import main

    out = tmp_path / "p.yaml"
    assert main(["compile", "--output", str(out), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_compile_options_from_the_cli(tmp_path):
    from pipelines.cli import main

    out = tmp_path / "p.yaml"
    assert main(["compile", "--output", str(out), "--image", "registry.local:5000/t:1.2",
                 "--accelerator", "amd.com/gpu", "--accelerator-count", "2",
                 "--training-cpu", "8", "--training-memory", "32Gi", "--retries", "0",
                 "--workspace-size", "none"]) == 0
    pipeline_doc, platform_doc = list(yaml.safe_load_all(out.read_text()))
    train = pipeline_doc["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert train["image"] == "registry.local:5000/t:1.2"
    assert train["resources"]["accelerator"]["resourceType"] == "amd.com/gpu"
    assert train["resources"]["accelerator"]["resourceCount"] == "2"
    assert train["resources"]["resourceCpuLimit"] == "8"
    assert train["resources"]["resourceMemoryLimit"] == "32Gi"
    k8s = platform_doc["platforms"]["kubernetes"]
    assert k8s["deploymentSpec"]["executors"]["exec-train"]["tolerations"][0]["key"] == \
        "amd.com/gpu"
    assert "pipelineConfig" not in k8s
    assert "retryPolicy" not in pipeline_doc["root"]["dag"]["tasks"]["train"]
    defaults = pipeline_doc["root"]["inputDefinitions"]["parameters"]
    assert defaults["checkpoint_root"].get("defaultValue", "") == ""  # in the pod


def test_every_step_checks_the_image_version(compiled):
    """Each step gets the compiled version and image, and its body imports components._impl,
    whose import compares them with the image's package (components/_impl/runtime.py)."""
    from nac import __version__

    for name, executor in compiled[0]["deploymentSpec"]["executors"].items():
        container = executor["container"]
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        assert env == {"NAC_PIPELINE_VERSION": __version__,
                       "NAC_PIPELINE_IMAGE": container["image"]}, name
        assert "from components._impl" in container["args"][-1] + " ".join(
            container["command"]), f"{name} does not import components._impl"
