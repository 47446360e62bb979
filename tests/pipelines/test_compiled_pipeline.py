"""The compiled pipeline: checked-in YAML is current, parses as a PipelineSpec, GPU/PVC settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from components._common import IMAGE_REPOSITORY, TRAINER_IMAGE
from pipelines.automl import CHECKPOINT_MOUNT
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
    assert sorted(spec.root.dag.tasks) == ["evaluate", "ingest", "nac-search", "preprocess",
                                         "train", "tune"]
    platform = json_format.ParseDict(platform_doc, pipeline_spec_pb2.PlatformSpec())
    assert "kubernetes" in platform.platforms
    defaults = {k: v.default_value for k, v in spec.root.input_definitions.parameters.items()}
    assert defaults["source"].string_value == "builtin:digits"
    assert defaults["backend"].string_value == "local"


def test_training_task_requests_a_gpu_shm_and_checkpoint_pvc(compiled):
    pipeline_doc, platform_doc = compiled
    executors = pipeline_doc["deploymentSpec"]["executors"]
    for name in ("exec-train", "exec-tune", "exec-nac-search"):
        accel = executors[name]["container"]["resources"]["accelerator"]
        assert accel["resourceType"] == "nvidia.com/gpu" and accel["resourceCount"] == "1"
    k8s = platform_doc["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    train = k8s["exec-train"]
    assert train["emptyDirMounts"] == [{"medium": "Memory", "mountPath": "/dev/shm",
                                        "sizeLimit": "2Gi", "volumeName": "dshm"}]
    assert train["pvcMount"][0]["mountPath"] == CHECKPOINT_MOUNT
    assert train["pvcMount"][0]["pvcNameParameter"] == {
        "componentInputParameter": "checkpoint_pvc"}
    task = pipeline_doc["root"]["dag"]["tasks"]["train"]["inputs"]["parameters"]
    assert task["checkpoint_dir"] == {"componentInputParameter": "checkpoint_root"}
    assert task["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert "accelerator" not in executors["exec-evaluate"]["container"].get("resources", {})


def test_every_step_uses_the_versioned_trainer_image_without_pip_installs(compiled):
    executors = compiled[0]["deploymentSpec"]["executors"]
    assert len(executors) == 6
    for name, executor in executors.items():
        container = executor["container"]
        assert container["image"] == TRAINER_IMAGE, name
        assert container["image"].startswith(IMAGE_REPOSITORY + ":")
        assert not container["image"].endswith(":latest")
        command = " ".join(container["command"])
        assert "pip install" not in command, f"{name} installs packages at runtime"
