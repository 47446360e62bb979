"""A real grid on digits: examples/grid-digits.yaml with katib.trial training torch models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from katib.local import TrialStatus, run_experiment

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "grid-digits.yaml"


@pytest.mark.slow
def test_grid_example_trains_real_trials(tmp_path: Path) -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())
    spec = doc["spec"]
    spec["parameters"][0]["feasibleSpace"]["list"] = ["0.1", "0.2"]
    spec["parameters"][1]["feasibleSpace"]["list"] = ["32"]
    spec["maxTrialCount"] = 2
    container = spec["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [a if not a.startswith("--epochs=") else "--epochs=1"
                         for a in container["args"]]
    result = run_experiment(doc, workdir=tmp_path, progress=False)
    assert result.reason == "ExperimentMaxTrialsReached"
    assert [t.status for t in result.trials] == [TrialStatus.SUCCEEDED] * 2
    assert sorted(t.assignments["lr"] for t in result.trials) == ["0.1", "0.2"]
    for t in result.trials:
        accuracy = float(t.metrics["accuracy"])
        assert 0.0 < accuracy <= 1.0
        log = (tmp_path / t.log).read_text()
        assert "epoch=1" in log and f"accuracy={t.metrics['accuracy']}" in log
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["best"]["objective"] == result.best_objective
    assert saved["best"]["assignments"]["batch_size"] == "32"
