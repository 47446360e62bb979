"""Pure helpers for the Kubernetes backend: read Experiment/Trial statuses (no API calls).

Bodies are validated by `katib.validation.validate_experiment` (the one Experiment validator,
shared with the local backend); a Trial CR is read by `katib.types.TrialResult.from_trial_cr`
(the one reading of its metrics, as Katib's controller does).
"""

from __future__ import annotations

from typing import Any

from katib.types import (
    ExperimentResult,
    ExperimentStatus,
    Objective,
    ObjectiveType,
    TrialResult,
)


def _true_conditions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    conditions = ((obj.get("status") or {}).get("conditions")) or []
    return [c for c in conditions if str(c.get("status", "")).lower() == "true"]


def experiment_status(obj: dict[str, Any]) -> tuple[ExperimentStatus, str, str]:
    """(status, reason, message) of an Experiment object, terminal conditions first."""
    true = _true_conditions(obj)
    by_type = {c.get("type"): c for c in true}
    for status in (ExperimentStatus.FAILED, ExperimentStatus.SUCCEEDED,
                   ExperimentStatus.RESTARTING, ExperimentStatus.RUNNING):
        if status.value in by_type:
            c = by_type[status.value]
            return status, str(c.get("reason", "")), str(c.get("message", ""))
    return ExperimentStatus.CREATED, "", ""


def experiment_result(experiment: dict[str, Any],
                      trials: list[dict[str, Any]]) -> ExperimentResult:
    """Combine an Experiment object and its Trial objects into an ExperimentResult."""
    status, reason, message = experiment_status(experiment)
    objective = (experiment.get("spec") or {}).get("objective") or {}
    results = sorted((TrialResult.from_trial_cr(t) for t in trials), key=lambda t: t.name)
    return ExperimentResult(
        name=str((experiment.get("metadata") or {}).get("name", "")),
        status=status,
        objective=Objective(type=ObjectiveType(objective.get("type") or "maximize"),
                            metric=str(objective.get("objectiveMetricName", ""))),
        trials=results,
        reason=reason,
        message=message,
        extra={"currentOptimalTrial": (experiment.get("status") or {}).get("currentOptimalTrial")},
    )
