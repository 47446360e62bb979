"""Neutral result types shared by every experiment backend.

They mirror the `katib-local-results` file (docs/contracts.md §6) so the local runner's output
maps onto them one to one, and the Kubernetes backend converts Trial custom resources into them
at its edge.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


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


@dataclass(frozen=True)
class TrialResult:
    """One trial: its parameter assignments and the metrics Katib recorded (strings, as Katib)."""

    name: str
    assignments: dict[str, str]
    metrics: dict[str, str]
    status: str

    def metric(self, name: str) -> float | None:
        """The metric as a float, or None when absent or not numeric (e.g. `unavailable`)."""
        try:
            return float(self.metrics[name])
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class ExperimentResult:
    """A finished (or observed) Experiment: status, Katib's reason/message, trials, best trial."""

    name: str
    status: ExperimentStatus
    objective_metric: str
    objective_type: str
    trials: list[TrialResult] = field(default_factory=list)
    reason: str = ""
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded_trials(self) -> list[TrialResult]:
        return [t for t in self.trials if t.status == "Succeeded"]

    @property
    def best(self) -> TrialResult | None:
        """The succeeded trial with the best objective value (None when none has a value)."""
        scored = [(t.metric(self.objective_metric), t) for t in self.succeeded_trials]
        scored = [(v, t) for v, t in scored if v is not None]
        if not scored:
            return None
        pick = max if self.objective_type == "maximize" else min
        return pick(scored, key=lambda vt: vt[0])[1]


class ExperimentFailedError(RuntimeError):
    """The Experiment ended Failed; carries Katib's own reason and message."""

    def __init__(self, name: str, reason: str, message: str) -> None:
        self.name = name
        self.reason = reason
        self.message = message
        super().__init__(f"Katib Experiment {name!r} failed: {reason}: {message}")
