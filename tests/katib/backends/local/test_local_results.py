"""Results file: contract fields, atomic writes, resume checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from katib.backends.local.results import read_results, write_results
from katib.local import ResultsError, TrialRecord, TrialStatus
from katib.validation import parse_experiment
from tests.katib.backends.local.experiments import hpo


def _trials() -> list[TrialRecord]:
    return [
        TrialRecord("e-001", {"x": "0.1"}, TrialStatus.SUCCEEDED, {"accuracy": "0.1"},
                    "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", 1.0),
        TrialRecord("e-002", {"x": "0.3"}, TrialStatus.SUCCEEDED, {"accuracy": "0.3"}),
        TrialRecord("e-003", {"x": "0.9"}, TrialStatus.FAILED, {}, message="exit code 1"),
        TrialRecord("e-004", {"x": "0.4"}, TrialStatus.KILLED, {}),
    ]


def test_document_matches_contract(tmp_path: Path) -> None:
    exp = parse_experiment(hpo("e"))
    path = tmp_path / "r.json"
    write_results(path, exp, _trials())
    doc = json.loads(path.read_text())
    assert doc["format"] == "katib-local-results" and doc["version"] == 1
    assert doc["experiment"] == "e"
    assert doc["objective"] == {"type": "maximize", "metric": "accuracy", "goal": None}
    assert doc["parameters"] == hpo()["spec"]["parameters"]
    assert doc["best"] == {"name": "e-002", "assignments": {"x": "0.3"}, "objective": 0.3}
    first = doc["trials"][0]
    assert set(first) == {"name", "assignments", "metrics", "status", "start_time",
                          "completion_time", "seconds"}
    assert doc["trials"][2]["message"] == "exit code 1"
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_resume_drops_killed_and_refuses_other_experiments(tmp_path: Path) -> None:
    exp = parse_experiment(hpo("e"))
    path = tmp_path / "r.json"
    write_results(path, exp, _trials())
    resumed = read_results(path, exp)
    assert [t.name for t in resumed.trials] == ["e-001", "e-002", "e-003"]
    assert resumed.dropped == ["e-004"]
    with pytest.raises(ResultsError, match="belongs to experiment 'e', not 'other'; pass "
                                           "another --results"):
        read_results(path, parse_experiment(hpo("other")))
    changed = hpo("e", parameters=[{"name": "x", "parameterType": "double",
                                    "feasibleSpace": {"min": "0", "max": "1"}}])
    with pytest.raises(ResultsError, match="field 'parameters' differs"):
        read_results(path, parse_experiment(changed))
    path.write_text("{not json")
    with pytest.raises(ResultsError, match="is not readable JSON"):
        read_results(path, exp)
