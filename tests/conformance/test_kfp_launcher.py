"""The KFP 2.17 launcher's rules (tests/conformance/kfp_launcher.py) applied to a whole kfp.local
run and to the compiled pipeline.

kfp.local accepts what the cluster's launcher rejects (a null metadata value, a NaN metric),
so every executor_output.json of a real local run of the whole pipeline is checked against
the launcher's rules; the compiled YAML is checked against what the 2.17 compiler and driver
accept. Each test cites the upstream source in the rule it applies.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components._impl.preflight import run_preflight
from pipelines.options import PipelineOptions
from pipelines.runner import compile_pipeline
from tests.conformance import kfp_compiled as pipeline_rules
from tests.conformance import kfp_launcher as rules
from tests.conformance.pins import KFP
from tests.pipelines.local_run import shared_run

TRAINING = ("nac-search", "tune", "train")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    run = shared_run(tmp_path_factory)
    assert run.exit_code == 0, run.out[-3000:]
    return run


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = compile_pipeline(tmp_path_factory.mktemp("c") / "automl.yaml")
    return list(yaml.safe_load_all(path.read_text()))


def _components_by_task(pipeline: dict) -> dict[str, dict]:
    tasks = pipeline_rules.container_tasks(pipeline)
    return {name: pipeline["components"][t["componentRef"]["name"]]
            for name, (_, t) in tasks.items()}


@pytest.mark.slow
def test_every_executor_output_of_a_whole_local_run_passes_the_launcher_rules(local_run, compiled):
    """Rules: strict JSON (launcher_v2.go getExecutorOutputFile), metadata convertible to MLMD
    (metadata/converter.go StructValueToMLMDValue), output parameters of their declared kind
    (launcher_v2.go collectOutputParameters), Metrics numeric and the confusion matrix square
    (frontend MetricsVisualizations.tsx), at kubeflow/pipelines 2.17.0."""
    components = _components_by_task(compiled[0])
    files = sorted(local_run.run_dir.glob("*/executor_output.json"))
    ran = {f.parent.name for f in files}
    tasks = pipeline_rules.container_tasks(compiled[0])
    unconditional = {n for n, (always, _) in tasks.items() if always}
    assert unconditional <= ran <= set(components)  # every step (conditional: if on), only steps
    violations: list[str] = []
    for f in files:
        doc, bad = rules.strict_json(f.read_text(encoding="utf-8"), f.parent.name)
        violations += bad
        if doc is not None:
            violations += rules.executor_output(doc, components[f.parent.name], f.parent.name)
    print(f"launcher rules ({KFP.release}): {len(files)} executor_output.json files checked, "
          f"{sum(len(json.loads(f.read_text()).get('artifacts', {})) for f in files)} "
          f"output artifacts, {len(violations)} violations")
    assert violations == []
    ingest = json.loads((local_run.run_dir / "ingest" / "executor_output.json").read_text())
    meta = ingest["artifacts"]["dataset"]["artifacts"][0]["metadata"]
    assert meta["format"] == "nac-dataset" and "split" not in meta  # the null is gone


def test_the_rules_catch_what_kfp_local_lets_through():
    """The same rules on the executor output the ingest step wrote before the fix: `split: null`
    (rejected by StructValueToMLMDValue), and a NaN metric (rejected by protojson)."""
    component = {"outputDefinitions": {
        "artifacts": {"dataset": {"artifactType": {"schemaTitle": "system.Dataset"}},
                      "metrics": {"artifactType": {"schemaTitle": "system.Metrics"}}},
        "parameters": {"Output": {"parameterType": "NUMBER_DOUBLE"}}}}
    text = json.dumps({"artifacts": {
        "dataset": {"artifacts": [{"name": "d", "uri": "/d", "metadata": {
            "rows": 10, "split": None, "shape": [1, 8, 8], "classes": ["0", None]}}]},
        "metrics": {"artifacts": [{"name": "m", "uri": "/m", "metadata": {
            "val_loss": float("nan"), "note": "x"}}]}},
        "parameterValues": {"Output": "0.5"}})
    doc, bad = rules.strict_json(text, "ingest")
    assert bad == ["ingest: bare NaN (not JSON; protojson rejects the whole file)"]
    found = rules.executor_output(doc, component, "ingest")
    assert "ingest.artifacts.dataset[0].metadata.split: null" in found
    assert "ingest.artifacts.dataset[0].metadata.classes[1]: null" in found
    assert "ingest.artifacts.metrics[0].metadata.val_loss: nan (not a finite number)" in found
    assert "ingest.artifacts.metrics[0].metadata.note: 'x' is not a number" in found
    assert "ingest.parameterValues.Output: str for a NUMBER_DOUBLE parameter" in found


def test_compiled_pipeline_meets_the_compiler_and_driver_rules(compiled):
    """Image, accelerator, resources, retries, timeouts and workspace of every executor
    (driver.go initPodSpecPatch / getPodResource, k8s.go extendPodSpecPatch,
    argocompiler container.go getTaskRetryStrategyFromInput, argo.go GetWorkspacePVC)."""
    pipeline, platform = compiled
    expected_image = PipelineOptions().image
    executors = pipeline["deploymentSpec"]["executors"]
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    tasks = pipeline_rules._executor_tasks(pipeline)
    violations: list[str] = []
    for label, executor in executors.items():
        container = executor["container"]
        task_name, task = tasks[label]
        violations += pipeline_rules.image(container, label, expected_image)
        violations += pipeline_rules.accelerator(container, task, pipeline, label)
        violations += pipeline_rules.resources(container, k8s.get(label, {}), label, task, pipeline)
        violations += pipeline_rules.timeout(k8s.get(label, {}), label)
        if task_name in TRAINING:
            violations += pipeline_rules.retry(task, task_name)
    violations += pipeline_rules.workspace(pipeline, platform)
    # The search/tune requests are preflight outputs: check what it resolves to per backend.
    preflight_inputs = {k: v["runtimeValue"]["constant"] for k, v in
                        pipeline["root"]["dag"]["tasks"]["preflight"]["inputs"]["parameters"]
                        .items() if "runtimeValue" in v}
    for backend in ("local", "katib"):
        plan = run_preflight(**{**preflight_inputs, "checkpoint_dir": "", "run_id": "",
                                "backend": backend})
        for label in ("exec-nac-search", "exec-tune"):
            resolved = {"resourceCpuRequest": plan.cpu, "resourceCpuLimit": plan.cpu,
                        "resourceMemoryRequest": plan.memory, "resourceMemoryLimit": plan.memory}
            violations += pipeline_rules.resources({"resources": resolved}, k8s[label],
                                          f"{label} ({backend})")
        assert plan.accelerator == ("nvidia.com/gpu" if backend == "local" else "")
    assert violations == []
    accelerated = {tasks[label][0] for label, e in executors.items()
                   if e["container"].get("resources", {}).get("accelerator")}
    assert accelerated == set(TRAINING)
    tolerated = {tasks[label][0] for label, e in k8s.items() if e.get("tolerations")}
    assert tolerated == set(TRAINING)


def test_the_compiled_rules_catch_the_old_pipeline_shape():
    """The rules on what pipelines/automl.yaml held before: no CPU/memory, a 2Gi /dev/shm with
    no memory limit, no retry, no deadline, and an Integer output feeding resourceType."""
    pipeline = {"root": {"dag": {"tasks": {
        "plan": {"componentRef": {"name": "comp-plan"}},
        "train": {"componentRef": {"name": "comp-train"}, "inputs": {"parameters": {
            "pipelinechannel--plan-Output": {"taskOutputParameter": {
                "producerTask": "plan", "outputParameterKey": "Output"}}}}}}}},
        "components": {"comp-plan": {"outputDefinitions": {"parameters": {
            "Output": {"parameterType": "NUMBER_INTEGER"}}}}}}
    container = {"image": "ghcr.io/x/trainer:latest", "resources": {"accelerator": {
        "resourceType": "{{$.inputs.parameters['pipelinechannel--plan-Output']}}",
        "resourceCount": "1"}}}
    task = pipeline["root"]["dag"]["tasks"]["train"]
    k8s = {"emptyDirMounts": [{"medium": "Memory", "sizeLimit": "2Gi", "mountPath": "/dev/shm"}]}
    r = pipeline_rules
    found = (r.image(container, "exec-train")
             + r.accelerator(container, task, pipeline, "exec-train")
             + r.resources(container, k8s, "exec-train") + r.timeout(k8s, "exec-train")
             + r.retry(task, "train"))
    assert "exec-train: image 'ghcr.io/x/trainer:latest' is not pinned" in found
    assert "exec-train: resourceType comes from a NUMBER_INTEGER output" in found
    assert "exec-train: resourceType: producer plan is not a dependent task" in found
    assert "exec-train: no resourceMemoryLimit" in found
    tight = {"resources": {"resourceCpuRequest": "2", "resourceCpuLimit": "1",
                           "resourceMemoryRequest": "2Gi", "resourceMemoryLimit": "2Gi"}}
    found_tight = pipeline_rules.resources(tight, k8s, "exec-train")
    assert "exec-train: cpu request above its limit" in found_tight
    assert any("memory-backed emptyDirs" in v for v in found_tight)
    assert "exec-train: no activeDeadlineSeconds" in found and "train: no retryPolicy" in found


def test_compile_options_reach_every_executor(tmp_path: Path):
    """--image and --accelerator none: every executor uses the image, none asks for an
    accelerator or tolerates a taint, and the rules still hold."""
    digest = "ghcr.io/me/trainer@sha256:" + "ab" * 32
    path = compile_pipeline(tmp_path / "p.yaml", PipelineOptions(
        image=digest, accelerator="", toleration_key="", checkpoint_pvc="ckpt"))
    pipeline, platform = list(yaml.safe_load_all(path.read_text()))
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for label, executor in pipeline["deploymentSpec"]["executors"].items():
        assert pipeline_rules.image(executor["container"], label, digest) == []
        assert "accelerator" not in executor["container"]["resources"]
        assert "tolerations" not in k8s.get(label, {})
    assert "pipelineConfig" not in platform["platforms"]["kubernetes"]
    mounts = {label for label, e in k8s.items() if e.get("pvcMount")}
    assert mounts == {"exec-preflight", "exec-train"}
    params = pipeline["root"]["dag"]["tasks"]["nac-search"]["inputs"]["parameters"]
    assert params["trial_image"]["runtimeValue"]["constant"] == digest
