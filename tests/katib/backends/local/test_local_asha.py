"""katib.local with ASHA early stopping: real suggestion and early-stopping gRPC services, real
trial subprocesses (tests/katib/earlystopping/curve_trial.py), Katib's rule semantics."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from katib.local import ExperimentError, TrialStatus, run_experiment
from katib.validation import load_experiment
from tests.katib.backends.local.experiments import hpo

ROOT = Path(__file__).resolve().parents[4]
CURVE = str(ROOT / "tests" / "katib" / "earlystopping" / "curve_trial.py")
XS = ["0.6", "0.2", "0.7", "0.5", "0.4", "0.1", "0.8", "0.3"]
SETTINGS = {"reduction_factor": "2", "min_resource": "2", "max_resource": "6",
            "min_trials_required": "2"}


def _doc(algorithm: str = "grid", settings: dict[str, str] | None = None, **spec) -> dict:
    doc = hpo("asha-curve", algorithm=algorithm, maxTrialCount=len(XS), parameters=[
        {"name": "x", "parameterType": "discrete", "feasibleSpace": {"list": XS}}],
        earlyStopping={"algorithmName": "asha", "algorithmSettings": [
            {"name": k, "value": v} for k, v in (settings or SETTINGS).items()]}, **spec)
    tt = doc["spec"]["trialTemplate"]
    container = tt["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["python", "-u", CURVE]
    container["args"] = ["--x", "${trialParameters.x}"]
    tt["trialParameters"] = [{"name": "x", "reference": "x"}]
    return doc


def _rung2(x: float) -> float:
    """curve_trial's best accuracy after 2 reports (rounded as it prints)."""
    return round(x * (1 - 0.5 ** 2), 6)


def test_serial_run_stops_exactly_the_trials_below_the_cut_known_at_their_creation(
        tmp_path: Path) -> None:
    result = run_experiment(_doc(), results=tmp_path / "r.json", workdir=tmp_path / "t",
                            progress=False)
    assert result.reason == "ExperimentMaxTrialsReached"
    assert sorted(t.assignments["x"] for t in result.trials) == sorted(XS)
    seen: list[float] = []
    judged: list[TrialStatus] = []
    for t in result.trials:  # serial: each trial's rule is from the trials before it
        mine = _rung2(float(t.assignments["x"]))
        expected = TrialStatus.SUCCEEDED
        if len(seen) >= 2:
            cut = sorted(seen, reverse=True)[math.ceil(len(seen) / 2) - 1]
            if mine < cut:
                expected = TrialStatus.EARLY_STOPPED
            judged.append(expected)
        assert t.status is expected, (t.name, t.assignments, seen, t.message)
        if expected is TrialStatus.EARLY_STOPPED:
            # stopped at report 2; a report printed before SIGTERM landed may still count
            x = float(t.assignments["x"])
            assert mine <= float(t.metrics["accuracy"]) <= round(x * (1 - 0.5 ** 6), 6)
            assert "asha: best accuracy at report 2 is below the rung's cut" in t.message
        seen.append(mine)
    # the check above is not vacuous: trials were judged both ways
    assert {TrialStatus.EARLY_STOPPED, TrialStatus.SUCCEEDED} <= set(judged)
    assert result.best.assignments["x"] == "0.8"


def test_works_with_warm_start_in_parallel(tmp_path: Path) -> None:
    doc = _doc("warm-start", parallelTrialCount=2)
    result = run_experiment(doc, results=tmp_path / "r.json", workdir=tmp_path / "t",
                            progress=False)
    assert result.reason == "ExperimentMaxTrialsReached"
    assert len(result.trials) == len(XS)
    assert result.count(TrialStatus.EARLY_STOPPED) >= 1
    for t in result.trials:
        if t.status is TrialStatus.EARLY_STOPPED:
            assert "asha: best accuracy at report" in t.message
            assert float(t.metrics["accuracy"]) < 0.8


def test_bad_asha_setting_is_refused_before_any_trial_runs(tmp_path: Path) -> None:
    doc = _doc(settings={"reduction_factor": "1"})
    with pytest.raises(ExperimentError) as e:
        run_experiment(doc, results=tmp_path / "r.json", workdir=tmp_path / "t",
                       progress=False)
    assert "spec.earlyStopping.algorithmSettings" in str(e.value)
    assert "reduction_factor='1' is invalid (below the minimum 2)" in str(e.value)
    assert not (tmp_path / "t").exists()


def test_the_asha_example_validates_against_the_katib_models() -> None:
    from kubeflow_katib_api import models

    doc = yaml.safe_load((ROOT / "examples" / "asha-digits.yaml").read_text())
    model = models.V1beta1Experiment.model_validate(doc)
    assert model.spec.early_stopping.algorithm_name == "asha"
    exp = load_experiment(ROOT / "examples" / "asha-digits.yaml")
    assert exp.early_stopping_algorithm == "asha" and exp.early_stopping is None
