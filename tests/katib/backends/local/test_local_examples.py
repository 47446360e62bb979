"""Katib's own example shapes end to end through `katib.local`: File TEXT, File JSON with
medianstop, TensorFlowEvent and hyperband, each with a real subprocess trial
(metrics_file_trial.py: no torch) and our real gRPC suggestion service.

The documents copy the structure of kubeflow/katib@v0.19.0 examples/v1beta1/metrics-collector/
file-metrics-collector.yaml, file-metrics-collector-with-json-format.yaml,
early-stopping/median-stop-with-json-format.yaml,
kubeflow-training-operator/tfjob-mnist-with-summaries.yaml and hp-tuning/hyperband.yaml (CI has
no Katib mirror; scripts/katib_examples_parity.py checks the real files where one exists).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from katib.local import TrialStatus, run_experiment
from tests.katib.backends.local.test_file_collectors import EXAMPLE_FILTER

TRIAL = str(Path(__file__).with_name("metrics_file_trial.py"))


def _experiment(name: str, collector: dict[str, Any] | None, args: list[str], *,
                parameters: list[dict[str, Any]] | None = None, algorithm: str = "random",
                settings: list[dict[str, str]] | None = None, **spec: Any) -> dict[str, Any]:
    params = parameters or [{"name": "lr", "parameterType": "double",
                             "feasibleSpace": {"min": "0.01", "max": "0.03"}}]
    doc: dict[str, Any] = {
        "apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
        "metadata": {"name": name, "namespace": "kubeflow"},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "algorithm": {"algorithmName": algorithm, "algorithmSettings": settings or []},
            "parallelTrialCount": 2, "maxTrialCount": 2, "maxFailedTrialCount": 1,
            "parameters": params,
            "trialTemplate": {
                "primaryContainerName": "training-container",
                "trialParameters": [{"name": p["name"].replace("-", ""), "reference": p["name"]}
                                    for p in params],
                "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {
                    "spec": {"restartPolicy": "Never", "containers": [{
                        "name": "training-container",
                        "image": "ghcr.io/kubeflow/katib/pytorch-mnist-cpu:v0.19.0",
                        "command": ["python3", TRIAL, *args] + [
                            f"--{p['name'].replace('num-', '')}=${{trialParameters."
                            f"{p['name'].replace('-', '')}}}" for p in params],
                    }]}}}},
            },
        },
    }
    if collector is not None:
        doc["spec"]["metricsCollectorSpec"] = collector
    doc["spec"].update(copy.deepcopy(spec))
    return doc


def _run(doc: dict[str, Any], tmp_path: Path):
    return run_experiment(doc, results=tmp_path / "results.json", workdir=tmp_path / "trials",
                          progress=False, python=sys.executable)


def test_file_text_collector_reads_each_trials_own_file(tmp_path: Path) -> None:
    """file-metrics-collector.yaml: File kind, custom filter, /katib/mnist.log written by two
    parallel trials, each into its own trial directory."""
    doc = _experiment("file-metrics-collector", {
        "source": {"filter": {"metricsFormat": [EXAMPLE_FILTER]},
                   "fileSystemPath": {"path": "/katib/mnist.log", "kind": "File"}},
        "collector": {"kind": "File"}}, ["--format=text", "--path=/katib/mnist.log",
                                         "--values=0.3,0.8,0.6"])
    out = _run(doc, tmp_path)
    assert [t.status for t in out.trials] == [TrialStatus.SUCCEEDED] * 2, out.trials
    # The objective's default strategy for maximize is max; the file's values, not stdout's.
    assert {t.metrics["accuracy"] for t in out.trials} == {"0.8"}
    files = sorted(tmp_path.glob("trials/*/katib/mnist.log"))
    assert len(files) == 2 and all(len(f.read_text().splitlines()) == 3 for f in files)
    assert not Path("/katib/mnist.log").exists()  # nothing written outside the workdir


def test_file_json_collector_with_medianstop_stops_a_bad_trial(tmp_path: Path) -> None:
    """median-stop-with-json-format.yaml: JSON lines, medianstop (min_trials_required 1,
    start_step 2); the second trial reports 0.05 slowly and is stopped from the polled file."""
    doc = _experiment("median-stop-with-json-format", {
        "source": {"fileSystemPath": {"path": "/katib/mnist.json", "kind": "File",
                                      "format": "JSON"}},
        "collector": {"kind": "File"}},
        ["--format=json", "--path=/katib/mnist.json", "--values=0.6,0.7,0.8",
         f"--marker={tmp_path / 'starts'}", "--bad-after=1"],
        earlyStopping={"algorithmName": "medianstop", "algorithmSettings": [
            {"name": "min_trials_required", "value": "1"}, {"name": "start_step",
                                                            "value": "2"}]},
        parallelTrialCount=1)
    out = _run(doc, tmp_path)
    first, second = out.trials
    assert first.status is TrialStatus.SUCCEEDED and first.metrics["accuracy"] == "0.8"
    assert second.status is TrialStatus.EARLY_STOPPED, second.message
    assert second.seconds < 20  # stopped after 2 reports, not after 18 x 30 s
    assert not Path("/katib/mnist.json").exists()


def test_tfevent_collector_reads_the_test_directory(tmp_path: Path) -> None:
    """tfjob-mnist-with-summaries.yaml: TensorFlowEvent, path /mnist-with-summaries-logs/test
    (kind Directory); the trial writes train/ and test/ under the parent it is given."""
    doc = _experiment("tfjob-mnist-with-summaries", {
        "source": {"fileSystemPath": {"path": "/mnist-with-summaries-logs/test",
                                      "kind": "Directory"}},
        "collector": {"kind": "TensorFlowEvent"}},
        ["--format=tfevent", "--path=/mnist-with-summaries-logs/", "--values=0.5,0.75"],
        maxTrialCount=1, parallelTrialCount=1)
    out = _run(doc, tmp_path)
    (trial,) = out.trials
    assert trial.status is TrialStatus.SUCCEEDED, trial.message
    assert trial.metrics == {"accuracy": "0.75"}  # test/ (train/ holds 0.375)
    assert len(list(tmp_path.glob("trials/*/mnist-with-summaries-logs/t*/events.out.*"))) == 2
    assert not Path("/mnist-with-summaries-logs").exists()


def test_hyperband_example_runs_its_brackets(tmp_path: Path) -> None:
    """hyperband.yaml's settings (resource_name num-epochs, eta 2, r_l 2; parallel 2) served by
    our suggestion service: s_max 1, bracket 1 = 2 trials at 1 epoch then the better one at 2,
    bracket 0 = 2 trials at 2 epochs (maxTrialCount 5 = the whole round)."""
    doc = _experiment("hyperband", None, ["--format=stdout", "--loss-from-lr"],
                      parameters=[
                          {"name": "lr", "parameterType": "double",
                           "feasibleSpace": {"min": "0.01", "max": "0.05"}},
                          {"name": "num-epochs", "parameterType": "int",
                           "feasibleSpace": {"min": "1", "max": "1"}}],
                      algorithm="hyperband",
                      settings=[{"name": "resource_name", "value": "num-epochs"},
                                {"name": "eta", "value": "2"}, {"name": "r_l", "value": "2"}],
                      maxTrialCount=5, parallelTrialCount=2, maxFailedTrialCount=2,
                      objective={"type": "minimize", "goal": 0.001,
                                 "objectiveMetricName": "loss"})
    out = _run(doc, tmp_path)
    by_name = {t.name: t for t in out.trials}
    assert len(by_name) == 5 and all(t.status is TrialStatus.SUCCEEDED for t in out.trials)
    rung0 = [t for n, t in by_name.items() if "-hb0-s1-r0-" in n]
    (promoted,) = [t for n, t in by_name.items() if "-hb0-s1-r1-" in n]
    best = min(rung0, key=lambda t: float(t.metrics["loss"]))
    assert promoted.assignments == {**best.assignments, "num-epochs": "2"}
    assert {t.assignments["num-epochs"] for t in rung0} == {"1"}
    assert sorted(t.assignments["num-epochs"] for n, t in by_name.items()
                  if "-hb0-s0-r0-" in n) == ["2", "2"]
