"""Local backend: the same Experiment document run by katib.local, mapped to neutral results."""

from __future__ import annotations

import sys

import pytest

from katib.backends import ExperimentFailedError, ExperimentStatus
from katib.client import ExperimentClient, LocalBackendConfig


def _experiment(name: str, code: str, *, max_failed: int = 0) -> dict:
    return {
        "apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "algorithm": {"algorithmName": "warm-start",
                          "algorithmSettings": [{"name": "seed", "value": "1"}]},
            "parameters": [{"name": "lr", "parameterType": "double",
                            "feasibleSpace": {"min": "0.1", "max": "0.9"}}],
            "maxTrialCount": 2, "parallelTrialCount": 1, "maxFailedTrialCount": max_failed,
            "trialTemplate": {
                "primaryContainerName": "training-container",
                "trialParameters": [{"name": "lr", "reference": "lr"}],
                "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {
                    "spec": {"restartPolicy": "Never", "containers": [{
                        "name": "training-container", "image": "python:3.11",
                        "command": ["python", "-c", code, "${trialParameters.lr}"]}]}}}},
            },
        },
    }


def _client(tmp_path) -> ExperimentClient:
    return ExperimentClient(LocalBackendConfig(workdir=tmp_path, python=sys.executable,
                                               progress=False))


def test_succeeded_experiment_reports_trials_and_best(tmp_path):
    code = "import sys; print(f'accuracy={float(sys.argv[1]):.4f}')"
    result = _client(tmp_path).run(_experiment("ok", code), timeout=120)
    assert result.status is ExperimentStatus.SUCCEEDED
    assert result.reason == "ExperimentMaxTrialsReached"
    assert [t.status for t in result.trials] == ["Succeeded", "Succeeded"]
    best = result.best
    assert best.metric("accuracy") == max(t.metric("accuracy") for t in result.trials)
    assert best.metric("accuracy") == pytest.approx(float(best.assignments["lr"]), abs=1e-4)
    assert (tmp_path / "ok" / "results.json").is_file()


def test_failed_experiment_raises_with_the_runners_reason(tmp_path):
    with pytest.raises(ExperimentFailedError) as info:
        _client(tmp_path).run(_experiment("bad", "raise SystemExit(1)"), timeout=120)
    assert info.value.reason == "ExperimentFailed"
    assert info.value.message


def test_invalid_document_is_refused_before_running(tmp_path):
    body = _experiment("typo", "pass")
    body["spec"]["maxTrialCont"] = 3
    with pytest.raises(ValueError, match="maxTrialCont"):
        _client(tmp_path).create(body)
    assert not (tmp_path / "typo").exists()
