"""Katib's vocabulary as types, shared by the suggestion service, both backends and components.

One `TrialStatus` (Katib's trial condition names), one `Objective`, one `ExperimentResult`,
one best-trial rule, one Experiment-name rule and one way to read a Trial custom resource's
metrics. Standard library only (plus the stdlib-only `katib.suggestion.metrics`), so the lean
suggestion image can import it.

The neutral result types mirror the `katib-local-results` file (docs/contracts.md §6): the local
runner's output maps onto them one to one, and the Kubernetes backend converts Trial custom
resources into them at its edge (`TrialResult.from_trial_cr`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from katib.constants import NAME_MAX_LENGTH, NAME_PATTERN, UNAVAILABLE_METRIC_VALUE
from katib.suggestion.metrics import parse_metric


class TrialStatus(enum.StrEnum):
    """A trial's condition, with Katib's names (pkg/apis/controller/trials/v1beta1/trial_types.go;
    `Unknown` is the gRPC API's default for a condition the controller did not set)."""

    CREATED = "Created"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    EARLY_STOPPED = "EarlyStopped"
    KILLED = "Killed"
    UNKNOWN = "Unknown"

    @property
    def completed(self) -> bool:
        """Katib counts it as completed (its metrics and condition are final)."""
        return self not in (TrialStatus.CREATED, TrialStatus.RUNNING, TrialStatus.UNKNOWN)

    @property
    def counts_as_failed(self) -> bool:
        """Katib counts Failed and MetricsUnavailable against maxFailedTrialCount."""
        return self in (TrialStatus.FAILED, TrialStatus.METRICS_UNAVAILABLE)

    @property
    def has_result(self) -> bool:
        """Its metrics count as a result (a trial's objective, a warm-start prior)."""
        return self in (TrialStatus.SUCCEEDED, TrialStatus.EARLY_STOPPED)


#: Trial condition types in the order `trial_status_of_cr` prefers them (terminal ones first).
_CR_CONDITION_ORDER = (TrialStatus.SUCCEEDED, TrialStatus.FAILED, TrialStatus.METRICS_UNAVAILABLE,
                       TrialStatus.EARLY_STOPPED, TrialStatus.KILLED, TrialStatus.RUNNING,
                       TrialStatus.CREATED)


class ExperimentStatus(enum.Enum):
    """Where an Experiment is in its lifecycle (Katib's condition types)."""

    CREATED = "Created"
    RUNNING = "Running"
    RESTARTING = "Restarting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def finished(self) -> bool:
        return self in (ExperimentStatus.SUCCEEDED, ExperimentStatus.FAILED)


class Reason(enum.Enum):
    """Why an Experiment ended, with Katib's condition reasons (status_util.go)."""

    GOAL_REACHED = "ExperimentGoalReached"
    MAX_TRIALS_REACHED = "ExperimentMaxTrialsReached"
    SUGGESTION_END_REACHED = "ExperimentSuggestionEndReached"
    FAILED = "ExperimentFailed"
    INTERRUPTED = "ExperimentInterrupted"

    @property
    def succeeded(self) -> bool:
        return self in (Reason.GOAL_REACHED, Reason.MAX_TRIALS_REACHED,
                        Reason.SUGGESTION_END_REACHED)


class ObjectiveType(enum.StrEnum):
    """spec.objective.type (common_types.go ObjectiveType)."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


@dataclass(frozen=True)
class Objective:
    """spec.objective with Katib's defaults applied (every metric's strategy filled in).

    `type` accepts the enum or its string; `strategies` maps metric name -> min/max/latest.
    """

    type: ObjectiveType
    metric: str
    goal: float | None = None
    additional_metrics: tuple[str, ...] = ()
    strategies: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", ObjectiveType(self.type))
        object.__setattr__(self, "additional_metrics", tuple(self.additional_metrics))

    @property
    def maximize(self) -> bool:
        return self.type is ObjectiveType.MAXIMIZE

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Objective first, as Katib's collector orders them."""
        return (self.metric, *self.additional_metrics)

    def is_better(self, a: float, b: float) -> bool:
        return a > b if self.maximize else a < b

    def goal_reached(self, value: float) -> bool:
        if self.goal is None:
            return False
        return value >= self.goal if self.maximize else value <= self.goal


def default_strategy(objective_type: ObjectiveType | str) -> str:
    """Katib's default metric strategy: max when maximizing, min when minimizing
    (experiment_defaults.go; its comment says "latest", the code does not)."""
    return "max" if ObjectiveType(objective_type) is ObjectiveType.MAXIMIZE else "min"


def best_trial(trials: Iterable[Any], objective: Objective) -> Any | None:
    """The one best-trial rule: the Succeeded trial with the best numeric objective value
    (earliest wins a tie). Trials need `.status` and `.metrics` (name -> Katib string)."""
    best: Any | None = None
    best_value = 0.0
    for t in trials:
        value = parse_metric(t.metrics.get(objective.metric))
        if TrialStatus(t.status) is not TrialStatus.SUCCEEDED or value is None:
            continue
        if best is None or objective.is_better(value, best_value):
            best, best_value = t, value
    return best


def name_problem(name: str) -> str | None:
    """Why `name` is not a valid Experiment name, or None.

    Katib v0.19.0's webhook (pkg/webhook/v1beta1/experiment/validator/validator.go
    `ValidateExperiment`) requires lowercase alphanumerics or '-', a leading letter, a trailing
    alphanumeric and at most 40 characters; its regex lacks a `$`, we anchor it as its message
    describes (the API server refuses the rest anyway).
    """
    if not name:
        return "required (a DNS label such as 'digits-grid')"
    if len(name) > NAME_MAX_LENGTH or not re.match(NAME_PATTERN, name):
        return (f"{name!r} must be at most {NAME_MAX_LENGTH} lowercase letters, digits and '-', "
                "starting with a letter and ending with a letter or digit")
    return None


def validate_experiment_name(name: str, *, where: str = "metadata.name",
                             error: type[Exception] = ValueError) -> str:
    """Return `name` when Katib accepts it as an Experiment name; raise `error` naming `where`."""
    problem = name_problem(name)
    if problem is not None:
        raise error(f"{where}: {problem}")
    return name


# ---- Trial custom resources -------------------------------------------------------------------

def trial_status_of_cr(obj: Mapping[str, Any]) -> TrialStatus:
    """A Trial CR's condition: the first true one of Succeeded/Failed/.../Running/Created."""
    conditions = ((obj.get("status") or {}).get("conditions")) or []
    true = {c.get("type") for c in conditions if str(c.get("status", "")).lower() == "true"}
    return next((s for s in _CR_CONDITION_ORDER if s.value in true), TrialStatus.CREATED)


def trial_cr_metrics(obj: Mapping[str, Any]) -> dict[str, str]:
    """A Trial CR's metrics as Katib itself reads them: each metric's `min`/`max`/`latest` picked
    by the Trial's `spec.objective.metricStrategies`, min/max falling back to `latest` when
    `unavailable` (pkg/controller.v1beta1/experiment/util/status_util.go
    `getObjectiveMetricValue`, suggestionclient.go `convertTrialObservation`). A metric without a
    strategy gets Katib's default for the objective type (the webhook always sets one)."""
    spec_objective = (obj.get("spec") or {}).get("objective") or {}
    default = default_strategy(spec_objective.get("type") or ObjectiveType.MAXIMIZE)
    strategies = {str(s.get("name")): str(s.get("value"))
                  for s in spec_objective.get("metricStrategies") or []}
    out: dict[str, str] = {}
    observation = (obj.get("status") or {}).get("observation") or {}
    for m in observation.get("metrics") or []:
        strategy = strategies.get(str(m.get("name")), default)
        latest = str(m.get("latest", UNAVAILABLE_METRIC_VALUE))
        value = latest if strategy == "latest" else str(m.get(strategy, UNAVAILABLE_METRIC_VALUE))
        out[str(m["name"])] = latest if value == UNAVAILABLE_METRIC_VALUE else value
    return out


# ---- results --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrialResult:
    """One trial: its parameter assignments, the metrics Katib recorded (strings, as Katib) and
    its condition (a `TrialStatus`; a string is converted)."""

    name: str
    assignments: dict[str, str]
    metrics: dict[str, str]
    status: TrialStatus

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", TrialStatus(self.status))

    def metric(self, name: str) -> float | None:
        """The metric as a finite float, or None when absent or not numeric (`unavailable`)."""
        return parse_metric(self.metrics.get(name))

    @classmethod
    def from_trial_cr(cls, obj: Mapping[str, Any]) -> TrialResult:
        """Convert a Trial custom resource (kubeflow.org/v1beta1) into a TrialResult."""
        spec = obj.get("spec") or {}
        assignments = {str(a["name"]): str(a.get("value", ""))
                       for a in spec.get("parameterAssignments") or [] if "name" in a}
        return cls(name=str((obj.get("metadata") or {}).get("name", "")),
                   assignments=assignments, metrics=trial_cr_metrics(obj),
                   status=trial_status_of_cr(obj))


@dataclass(frozen=True)
class ExperimentResult:
    """A finished (or observed) Experiment: status, Katib's reason/message, trials, best trial."""

    name: str
    status: ExperimentStatus
    objective: Objective
    trials: list[TrialResult] = field(default_factory=list)
    reason: str = ""
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def objective_metric(self) -> str:
        return self.objective.metric

    @property
    def succeeded_trials(self) -> list[TrialResult]:
        return [t for t in self.trials if t.status is TrialStatus.SUCCEEDED]

    @property
    def best(self) -> TrialResult | None:
        """The succeeded trial with the best objective value (None when none has a value)."""
        return best_trial(self.trials, self.objective)


class ExperimentFailedError(RuntimeError):
    """The Experiment ended Failed; carries Katib's own reason and message."""

    def __init__(self, name: str, reason: str, message: str) -> None:
        self.name = name
        self.reason = reason
        self.message = message
        super().__init__(f"Katib Experiment {name!r} failed: {reason}: {message}")
