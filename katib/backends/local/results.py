"""The results file (`katib-local-results` v1, docs/contracts.md §6): written, read, resumed.

Written atomically (temp file + rename) after every trial, so a run killed at any moment
leaves either the previous or the next complete file. Re-running with the same file resumes:
completed trials are kept and handed to the suggestion service as history; trials the runner
itself interrupted (`Killed`) are dropped so they run again.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from katib import results_file
from katib.backends.local.pareto import pareto_section
from katib.suggestion.metrics import parse_metric
from katib.types import Objective, TrialStatus, best_trial
from katib.validation import Experiment
from nac.atomic import write_text_atomic


class ResultsError(ValueError):
    """A results file that cannot be resumed; names the file, the field and the fix."""


@dataclass
class TrialRecord:
    """One trial as the results file stores it (strings for assignments and metrics, as Katib)."""

    name: str
    assignments: dict[str, str]
    status: TrialStatus = TrialStatus.RUNNING
    metrics: dict[str, str] = field(default_factory=dict)
    start_time: str = ""
    completion_time: str = ""
    seconds: float = 0.0
    message: str = ""
    log: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def objective_value(self, objective: Objective) -> float | None:
        return parse_metric(self.metrics.get(objective.metric, ""))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name, "assignments": dict(self.assignments),
            "metrics": dict(self.metrics), "status": self.status.value,
            "start_time": self.start_time, "completion_time": self.completion_time,
            "seconds": round(self.seconds, 3),
        }
        if self.message:
            out["message"] = self.message
        if self.log:
            out["log"] = self.log
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any], where: str) -> TrialRecord:
        try:
            status = TrialStatus(doc["status"])
            return cls(
                name=str(doc["name"]),
                assignments={str(k): str(v) for k, v in (doc.get("assignments") or {}).items()},
                status=status,
                metrics={str(k): str(v) for k, v in (doc.get("metrics") or {}).items()},
                start_time=str(doc.get("start_time") or ""),
                completion_time=str(doc.get("completion_time") or ""),
                seconds=float(doc.get("seconds") or 0.0),
                message=str(doc.get("message") or ""), log=str(doc.get("log") or ""))
        except KeyError as e:
            raise ResultsError(f"{where}: missing field {e.args[0]!r}") from None
        except ValueError as e:
            raise ResultsError(f"{where}: {e}") from None


def rfc3339(seconds: float | None = None) -> str:
    """Katib's timestamp format (`2006-01-02T15:04:05Z`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def results_document(experiment: Experiment, trials: list[TrialRecord],
                     algorithm_settings: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """The results document of a local run (the layout is `katib.results_file.document`)."""
    return results_file.document(
        experiment=experiment.name, objective=experiment.objective,
        parameters=experiment.parameters, trials=[t.to_json() for t in trials],
        best=best_trial(trials, experiment.objective),
        algorithm_settings=[{"name": n, "value": v} for n, v in algorithm_settings or []],
        pareto=pareto_section(experiment, trials))  # multi-objective only


def write_results(path: str | os.PathLike[str], experiment: Experiment,
                  trials: list[TrialRecord],
                  algorithm_settings: list[tuple[str, str]] | None = None) -> None:
    """Write the file atomically: a temp file in the same directory, fsync, rename."""
    text = json.dumps(results_document(experiment, trials, algorithm_settings), indent=1)
    write_text_atomic(path, text + "\n")


@dataclass
class Resumed:
    """What an existing results file contributes to a new run."""

    trials: list[TrialRecord]
    dropped: list[str]
    algorithm_settings: list[tuple[str, str]]


def read_results(path: str | os.PathLike[str], experiment: Experiment) -> Resumed:
    """Load a results file for resuming `experiment`; refuse one from another experiment."""
    p = Path(path)
    if not p.exists():
        return Resumed([], [], [])
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ResultsError(f"results file {p} is not readable JSON ({e}); move it away or pass "
                           "another --results") from None
    doc = results_file.parse_document(text, where=f"results file {p}", error=ResultsError,
                                      hint="move it away or pass another --results")
    fix = ("pass another --results to start fresh, or use it as the warm-start algorithm's "
           "warm_start_source")
    if doc.get("experiment") != experiment.name:
        raise ResultsError(f"results file {p} belongs to experiment {doc.get('experiment')!r}, "
                           f"not {experiment.name!r}; {fix}")
    obj = doc.get("objective") or {}
    if (obj.get("metric"), obj.get("type")) != (experiment.objective.metric,
                                                str(experiment.objective.type)):
        raise ResultsError(f"results file {p}: field 'objective' ({obj.get('type')} "
                           f"{obj.get('metric')}) differs from the Experiment's; {fix}")
    if [dict(q) for q in doc.get("parameters") or []] != [dict(q) for q in experiment.parameters]:
        raise ResultsError(f"results file {p}: field 'parameters' differs from the Experiment's "
                           f"search space; {fix}")
    kept, dropped = [], []
    for i, t in enumerate(doc.get("trials") or []):
        record = TrialRecord.from_json(t, f"results file {p}: trials[{i}]")
        if record.status in (TrialStatus.KILLED, TrialStatus.RUNNING):
            dropped.append(record.name)
        else:
            kept.append(record)
    settings = [(str(s["name"]), str(s["value"])) for s in doc.get("algorithm_settings") or []]
    return Resumed(kept, dropped, settings)
