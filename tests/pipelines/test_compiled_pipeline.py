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
    assert sorted(spec.root.dag.tasks) == ["condition-branches-1", "evaluate", "ingest",
                                         "nac-search", "preflight", "preprocess", "train",
                                         "tune"]
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
    assert len(executors) == 10  # 7 steps + compress + deploy (compressed / trained Model)
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


def _tasks_with_conditions(pipeline_doc: dict) -> dict[str, tuple[list[str], dict]]:
    """Every task of the pipeline, root and condition sub-DAGs: name -> (conditions, task)."""
    found: dict[str, tuple[list[str], dict]] = {}

    def walk(dag: dict, conditions: list[str]) -> None:
        for name, task in dag["tasks"].items():
            here = conditions + ([task["triggerPolicy"]["condition"]]
                                 if "condition" in task.get("triggerPolicy", {}) else [])
            component = pipeline_doc["components"][task["componentRef"]["name"]]
            if "dag" in component:
                walk(component["dag"], here)
            else:
                found[name] = (here, task)

    walk(pipeline_doc["root"]["dag"], [])
    return found


def test_compress_and_deploy_are_run_parameters_off_by_default(compiled):
    """compress/deploy run after evaluate only when their parameter is true; deploy serves the
    compressed Model when compressing, else the trained one; the default run has neither."""
    pipeline_doc, platform_doc = compiled
    params = pipeline_doc["root"]["inputDefinitions"]["parameters"]
    assert params["compress"]["defaultValue"] is False
    assert params["deploy"]["defaultValue"] is False
    assert params["accuracy_budget"]["defaultValue"] == 0.005
    assert "parent_model_uri" not in params and "finetune_mode" not in params  # compile choice
    tasks = _tasks_with_conditions(pipeline_doc)
    compress = "inputs.parameter_values['pipelinechannel--compress'] == true"
    deploy = "inputs.parameter_values['pipelinechannel--deploy'] == true"
    assert tasks["train"][0] == [] and tasks["evaluate"][0] == []  # unconditional, as before
    assert tasks["compress"][0] == [compress]
    assert tasks["deploy"][0] == [compress, deploy]
    assert tasks["deploy-2"][0] == [f"!({compress})", deploy]
    model_of = {name: tasks[name][1]["inputs"]["artifacts"]["model"]["componentInputArtifact"]
                for name in ("compress", "deploy", "deploy-2")}
    assert model_of == {"compress": "pipelinechannel--train-model",
                        "deploy": "pipelinechannel--compress-compressed_model",
                        "deploy-2": "pipelinechannel--train-model"}
    executors = pipeline_doc["deploymentSpec"]["executors"]
    res = executors["exec-compress"]["container"]["resources"]
    assert res["resourceCpuLimit"] == "4" and "accelerator" not in res  # timed on the CPU
    k8s = platform_doc["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert int(k8s["exec-deploy"]["activeDeadlineSeconds"]) == 3600


def test_finetune_variant_imports_the_parent_model_into_train(tmp_path):
    """`build_pipeline(finetune=True)`: a required `parent_model_uri` run parameter, imported
    with dsl.importer, feeds train's optional `parent_model` input.

    The train component declares `parent_model: Optional[Input[Model]] = None`, which KFP
    compiles to an input artifact with `isOptional: true`, so the default pipeline may leave
    it unconnected (kubeflow/pipelines@2.17.0 (4a3592cb) sdk/python/kfp/compiler/
    pipeline_spec_builder.py:_build_component_spec_from_component_spec_structure sets
    `is_optional` from `input_spec.optional`; the importer's URI from a run parameter:
    sdk/python/kfp/dsl/importer_node.py:importer).
    """
    from kfp import compiler

    from pipelines.automl import build_pipeline

    path = tmp_path / "finetune.yaml"
    compiler.Compiler().compile(build_pipeline(finetune=True), str(path))
    pipeline_doc, _ = list(yaml.safe_load_all(path.read_text()))
    params = pipeline_doc["root"]["inputDefinitions"]["parameters"]
    assert "defaultValue" not in params["parent_model_uri"]
    assert not params["parent_model_uri"].get("isOptional", False)  # required
    assert params["finetune_mode"]["defaultValue"] == "two_stage"
    tasks = pipeline_doc["root"]["dag"]["tasks"]
    assert tasks["importer"]["inputs"]["parameters"]["uri"] == {
        "componentInputParameter": "parent_model_uri"}
    importer = pipeline_doc["deploymentSpec"]["executors"]["exec-importer"]["importer"]
    assert importer["typeSchema"]["schemaTitle"] == "system.Model"
    assert importer["artifactUri"] == {"runtimeParameter": "uri"}
    train = tasks["train"]["inputs"]
    assert train["artifacts"]["parent_model"] == {
        "taskOutputArtifact": {"outputArtifactKey": "artifact", "producerTask": "importer"}}
    assert train["parameters"]["finetune_mode"] == {"componentInputParameter": "finetune_mode"}
    for doc in (pipeline_doc, list(yaml.safe_load_all(GOLDEN.read_text()))[0]):
        for component in ("comp-train", "comp-nac-search"):
            spec = doc["components"][component]["inputDefinitions"]["artifacts"]["parent_model"]
            assert spec["isOptional"] is True and spec["artifactType"]["schemaTitle"] == \
                "system.Model"
    golden_train = list(yaml.safe_load_all(GOLDEN.read_text()))[0]["root"]["dag"]["tasks"][
        "train"]["inputs"]
    assert "parent_model" not in golden_train.get("artifacts", {})  # default: from scratch
