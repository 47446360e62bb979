"""Pure helpers for the Kubernetes backend: validate bodies, read statuses (no API calls)."""

from __future__ import annotations

import copy
import re
from typing import Any

from kubeflow_katib_api import models

from katib.backends.kubernetes import constants
from katib.backends.types import ExperimentResult, ExperimentStatus, TrialResult


def validate_experiment(experiment: dict[str, Any]) -> dict[str, Any]:
    """Return the Experiment body after checking it against Katib's typed models.

    Raises ValueError naming the field when the body does not parse as a `V1beta1Experiment`
    or when a field would be silently dropped (a misspelt key the models do not know).
    """
    if not isinstance(experiment, dict):
        raise ValueError(f"experiment must be a dict (an Experiment document), got "
                         f"{type(experiment).__name__}")
    body = copy.deepcopy(experiment)
    body.setdefault("apiVersion", constants.API_VERSION)
    body.setdefault("kind", constants.EXPERIMENT_KIND)
    if body["apiVersion"] != constants.API_VERSION or body["kind"] != constants.EXPERIMENT_KIND:
        raise ValueError(f"experiment must be apiVersion {constants.API_VERSION} kind "
                         f"{constants.EXPERIMENT_KIND}, got {body['apiVersion']} {body['kind']}")
    name = (body.get("metadata") or {}).get("name", "")
    if not re.match(constants.NAME_PATTERN, name or "") or len(name) > constants.NAME_MAX_LENGTH:
        raise ValueError(f"metadata.name {name!r} is not a valid Experiment name: use at most "
                         f"{constants.NAME_MAX_LENGTH} lowercase letters, digits and '-', "
                         "starting with a letter")
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise ValueError("spec is missing: an Experiment needs spec.objective, spec.algorithm "
                         "and spec.trialTemplate")
    for required in ("objective", "algorithm", "trialTemplate"):
        if required not in spec:
            raise ValueError(f"spec.{required} is missing; see docs/pipeline.md for an example")
    if bool(spec.get("parameters")) == bool(spec.get("nasConfig")):
        raise ValueError("set exactly one of spec.parameters and spec.nasConfig "
                         "(Katib's webhook rejects both or neither)")
    try:
        parsed = models.V1beta1Experiment.from_dict(body)
    except Exception as e:  # pydantic.ValidationError: name the field it points at.
        raise ValueError(f"Experiment {name!r} does not match kubeflow.org/v1beta1: {e}") from e
    dropped = _dropped_keys(body, parsed.to_dict())
    if dropped:
        raise ValueError(f"Experiment {name!r} has fields Katib does not know: "
                         f"{', '.join(dropped)}; check their spelling")
    return body


def _dropped_keys(sent: Any, kept: Any, path: str = "") -> list[str]:
    """Keys present in `sent` but lost after a round trip through the models."""
    if isinstance(sent, dict) and isinstance(kept, dict):
        out: list[str] = []
        for key, value in sent.items():
            where = f"{path}.{key}" if path else key
            if key not in kept:
                if value is not None:
                    out.append(where)
            elif key != "trialSpec":  # free-form Kubernetes object; validated separately.
                out.extend(_dropped_keys(value, kept[key], where))
        return out
    if isinstance(sent, list) and isinstance(kept, list):
        out = []
        for i, (a, b) in enumerate(zip(sent, kept, strict=False)):
            out.extend(_dropped_keys(a, b, f"{path}[{i}]"))
        return out
    return []


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


def trial_status(obj: dict[str, Any]) -> str:
    """Katib's trial condition: the last true one of Succeeded/Failed/.../Running/Created."""
    kinds = [c.get("type") for c in _true_conditions(obj)]
    for kind in ("Succeeded", "Failed", "MetricsUnavailable", "EarlyStopped", "Killed",
                 "Running", "Created"):
        if kind in kinds:
            return kind
    return "Created"


def trial_result(obj: dict[str, Any]) -> TrialResult:
    """Convert a Trial custom resource into the neutral TrialResult.

    Metrics come from `status.observation.metrics[]` (`latest`; Katib also records min/max).
    """
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    assignments = {str(a["name"]): str(a.get("value", ""))
                   for a in spec.get("parameterAssignments") or []}
    metrics = {str(m["name"]): str(m.get("latest", m.get("max", "")))
               for m in ((status.get("observation") or {}).get("metrics") or [])}
    return TrialResult(name=str((obj.get("metadata") or {}).get("name", "")),
                       assignments=assignments, metrics=metrics, status=trial_status(obj))


def experiment_result(experiment: dict[str, Any],
                      trials: list[dict[str, Any]]) -> ExperimentResult:
    """Combine an Experiment object and its Trial objects into an ExperimentResult."""
    status, reason, message = experiment_status(experiment)
    objective = (experiment.get("spec") or {}).get("objective") or {}
    results = sorted((trial_result(t) for t in trials), key=lambda t: t.name)
    return ExperimentResult(
        name=str((experiment.get("metadata") or {}).get("name", "")),
        status=status,
        objective_metric=str(objective.get("objectiveMetricName", "")),
        objective_type=str(objective.get("type", "maximize")),
        trials=results,
        reason=reason,
        message=message,
        extra={"currentOptimalTrial": (experiment.get("status") or {}).get("currentOptimalTrial")},
    )
