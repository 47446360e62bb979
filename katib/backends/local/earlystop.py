"""Katib's medianstop early stopping, computed in-process.

What Katib does (`pkg/earlystopping/v1beta1/medianstop/service.py` and the metrics-collector
sidecar) and what we implement:
- For each Succeeded trial take its first `start_step` reported objective values and average
  them. Once `min_trials_required` trials are averaged, the rule value is the **mean** of those
  averages. Katib's code computes `sum/len` although the algorithm is called "median"; we keep
  Katib's arithmetic so a local run stops the same trials a cluster run would.
- The rule compares a running trial's best objective so far (max when maximizing, min when
  minimizing) once it has reported at least `start_step` values: maximize stops it when the
  best is LESS than the rule value, minimize when GREATER.
- Difference: Katib attaches the rule to trials created after it exists; locally the current
  rule applies to every running trial, so bad trials already running are stopped too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from katib.earlystopping.rules import StopRule
from katib.types import Objective
from katib.validation import Experiment
from katib.validation_rules import MedianStopSettings

__all__ = ["MedianStop", "StopRule", "make_early_stopping"]


def make_early_stopping(experiment: Experiment) -> Any:
    """The runner's early stopper: medianstop in-process, others through our gRPC service."""
    if experiment.early_stopping is not None:
        return MedianStop(experiment.early_stopping, experiment.objective)
    if experiment.early_stopping_algorithm:
        from katib.backends.local.service_stop import ServiceEarlyStop

        return ServiceEarlyStop(experiment)
    return None


class MedianStop:
    """Tracks succeeded trials' early objective values and decides whether to stop a trial."""

    def __init__(self, settings: MedianStopSettings, objective: Objective) -> None:
        self.settings = settings
        self.objective = objective
        self._averages: dict[str, float] = {}

    def add_succeeded(self, trial_name: str, objective_values: Sequence[float]) -> None:
        """Record a Succeeded trial's reported objective values (in report order)."""
        first = list(objective_values)[: self.settings.start_step]
        if first and trial_name not in self._averages:
            self._averages[trial_name] = sum(first) / len(first)

    def rule(self) -> StopRule | None:
        """The current rule, or None until `min_trials_required` trials have succeeded."""
        if len(self._averages) < self.settings.min_trials_required:
            return None
        value = sum(self._averages.values()) / len(self._averages)
        comparison = "less" if self.objective.type == "maximize" else "greater"
        return StopRule(self.objective.metric, value, comparison, self.settings.start_step)

    # The runner drives every early stopper through one interface; medianstop needs no service.
    def __enter__(self) -> MedianStop:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def validate(self, experiment: Any) -> None:
        return None

    def refresh(self, experiment: Any, trials: Sequence[Any]) -> None:
        return None

    def attach(self, trial: str) -> None:
        return None

    def describe(self, rule: StopRule, reports: int) -> str:
        return (f"medianstop: best {rule.metric} after {reports} reports is "
                f"{'below' if rule.comparison == 'less' else 'above'} the rule value "
                f"{rule.value:.6g} (mean of {self.settings.min_trials_required}+ "
                f"succeeded trials' first {rule.start_step} values)")

    def should_stop(self, objective_values: Sequence[float], trial: str = "") -> StopRule | None:
        """The rule that fires for a running trial's values so far, else None."""
        rule = self.rule()
        if rule is None or len(objective_values) < rule.start_step:
            return None
        if rule.comparison == "less":
            return rule if max(objective_values) < rule.value else None
        return rule if min(objective_values) > rule.value else None
