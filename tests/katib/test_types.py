"""The one Katib vocabulary (`katib.types`, `katib.results_file`): statuses, the Trial-CR
reading, the Experiment-name rule, the best trial and the results file's round trip."""

from __future__ import annotations

import json

import pytest

from katib import results_file
from katib.api import api_pb2
from katib.suggestion.trials import status_from_proto, status_to_proto
from katib.types import (
    ExperimentResult,
    ExperimentStatus,
    Objective,
    ObjectiveType,
    TrialResult,
    TrialStatus,
    best_trial,
    trial_cr_metrics,
    validate_experiment_name,
)
from tests.conformance.pins import KATIB


def test_trial_status_properties_follow_katib() -> None:
    """Completed/failed counts as in KATIB.cite below (UpdateExperimentStatusCondition)."""
    assert KATIB.cite("pkg/controller.v1beta1/experiment/util/status_util.go",
                      "UpdateExperimentStatusCondition")
    done = {s for s in TrialStatus if s.completed}
    assert done == {TrialStatus.SUCCEEDED, TrialStatus.FAILED, TrialStatus.METRICS_UNAVAILABLE,
                    TrialStatus.EARLY_STOPPED, TrialStatus.KILLED}
    assert {s for s in TrialStatus if s.counts_as_failed} == {
        TrialStatus.FAILED, TrialStatus.METRICS_UNAVAILABLE}
    assert {s for s in TrialStatus if s.has_result} == {
        TrialStatus.SUCCEEDED, TrialStatus.EARLY_STOPPED}


def test_every_proto_condition_maps_to_one_status_and_back() -> None:
    names = api_pb2.TrialStatus.TrialConditionType.items()
    assert len(names) == len(TrialStatus)
    for name, value in names:
        status = status_from_proto(value)
        assert status.name.replace("_", "") == name
        assert status_to_proto(status) == value
    assert status_from_proto(99) is TrialStatus.UNKNOWN


def _trial_cr(strategy: str | None, metric: dict[str, str]) -> dict:
    objective = {"type": "minimize", "objectiveMetricName": "loss"}
    if strategy is not None:
        objective["metricStrategies"] = [{"name": "loss", "value": strategy}]
    return {"metadata": {"name": "t1"},
            "spec": {"objective": objective,
                     "parameterAssignments": [{"name": "lr", "value": "0.1"}]},
            "status": {"conditions": [{"type": "Running", "status": "False"},
                                      {"type": "Succeeded", "status": "True"}],
                       "observation": {"metrics": [{"name": "loss", **metric}]}}}


@pytest.mark.parametrize("strategy, metric, value", [
    ("min", {"min": "0.1", "max": "0.9", "latest": "0.5"}, "0.1"),
    ("max", {"min": "0.1", "max": "0.9", "latest": "0.5"}, "0.9"),
    ("latest", {"min": "0.1", "max": "0.9", "latest": "0.5"}, "0.5"),
    ("min", {"min": "unavailable", "max": "unavailable", "latest": "0.5"}, "0.5"),
    (None, {"min": "0.1", "max": "0.9", "latest": "0.5"}, "0.1"),  # minimize's default: min
])
def test_trial_cr_value_is_picked_by_its_metric_strategy(strategy, metric, value) -> None:
    """As Katib reads an observation: KATIB.cite below (min/max fall back to latest)."""
    assert KATIB.cite("pkg/controller.v1beta1/experiment/util/status_util.go",
                      "getObjectiveMetricValue")
    cr = _trial_cr(strategy, metric)
    assert trial_cr_metrics(cr) == {"loss": value}
    trial = TrialResult.from_trial_cr(cr)
    assert (trial.name, trial.status, trial.assignments) == ("t1", TrialStatus.SUCCEEDED,
                                                            {"lr": "0.1"})
    assert trial.metric("loss") == float(value)


@pytest.mark.parametrize("name, ok", [
    ("digits-grid", True), ("a", True), ("a" * 40, True), ("a" * 41, False),
    ("1abc", False), ("Bad_Name", False), ("ends-", False), ("", False)])
def test_one_experiment_name_rule(name: str, ok: bool) -> None:
    """Katib's webhook rule: KATIB.cite below (a leading letter, at most 40 characters)."""
    assert KATIB.cite("pkg/webhook/v1beta1/experiment/validator/validator.go",
                      "ValidateExperiment")
    if ok:
        assert validate_experiment_name(name) == name
    else:
        with pytest.raises(KeyError, match="experiment_name"):
            validate_experiment_name(name, where="experiment_name", error=KeyError)


def test_best_trial_skips_non_succeeded_and_keeps_the_earliest_tie() -> None:
    obj = Objective(type="minimize", metric="loss")
    trials = [TrialResult("a", {}, {"loss": "0.5"}, "Succeeded"),
              TrialResult("b", {}, {"loss": "0.1"}, "EarlyStopped"),
              TrialResult("c", {}, {"loss": "0.2"}, "Succeeded"),
              TrialResult("d", {}, {"loss": "0.2"}, "Succeeded"),
              TrialResult("e", {}, {"loss": "nan"}, "Succeeded")]
    assert best_trial(trials, obj).name == "c"
    assert obj.type is ObjectiveType.MINIMIZE and not obj.maximize


def test_results_file_one_writer_one_reader_round_trip() -> None:
    objective = Objective(type=ObjectiveType.MAXIMIZE, metric="accuracy", goal=0.99)
    result = ExperimentResult(
        name="tune-x", status=ExperimentStatus.SUCCEEDED, objective=objective,
        trials=[TrialResult("tune-x-1", {"lr": "0.1"}, {"accuracy": "0.8"}, "Succeeded"),
                TrialResult("tune-x-2", {"lr": "0.2"}, {"accuracy": "0.9"}, "Succeeded"),
                TrialResult("tune-x-3", {"lr": "0.3"}, {}, "Failed")])
    space = [{"name": "lr", "parameterType": "double",
              "feasibleSpace": {"min": "0.1", "max": "0.3"}}]
    doc = results_file.document_from_result(result, space)
    assert (doc["format"], doc["version"]) == ("katib-local-results", 1)
    assert doc["objective"] == {"type": "maximize", "metric": "accuracy", "goal": 0.99}
    assert doc["best"] == {"name": "tune-x-2", "assignments": {"lr": "0.2"}, "objective": 0.9}
    back = results_file.experiment_result(
        results_file.parse_document(json.dumps(doc), where="r.json"),
        status=ExperimentStatus.SUCCEEDED)
    assert back.trials == result.trials
    assert back.objective == objective
    assert back.best.name == "tune-x-2"
    with pytest.raises(ValueError, match=r"r\.json: \"version\" 2"):
        results_file.parse_document(json.dumps({**doc, "version": 2}), where="r.json")
