"""Katib's early-stopping rules and how the metrics collector enforces them.

A rule is ``EarlyStoppingRule{name, value, comparison, start_step}``. Katib's controller asks
the early-stopping service for rules right after each ``GetSuggestions`` and copies them onto
every Trial created from that reply (``suggestionclient.go:SyncAssignments``); they never change
afterwards. The metrics-collector sidecar then enforces them
(``cmd/metricscollector/v1beta1/file-metricscollector/main.go:watchMetricsFile``,
``updateStopRules``), and :class:`RuleWatcher` reproduces that here:

- for the objective metric the compared value is the best reported so far (max when
  maximizing, min when minimizing), for other metrics the value just reported;
- a rule with ``start_step`` N is compared exactly once, at the N-th report of its metric (the
  per-metric countdown hits zero once; ``start_step`` 0 compares at every report);
- a rule that holds is removed; the trial is stopped when **every** rule has been removed
  (rules are AND-ed), so one rule per metric is what works: this is why our ASHA emits one rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LESS = "less"
GREATER = "greater"
EQUAL = "equal"
COMPARISONS = (EQUAL, LESS, GREATER)


@dataclass(frozen=True)
class StopRule:
    """Stop when ``metric`` compares ``comparison`` to ``value`` at report ``start_step``."""

    metric: str
    value: float
    comparison: str
    start_step: int

    def holds(self, observed: float) -> bool:
        if self.comparison == LESS:
            return observed < self.value
        if self.comparison == GREATER:
            return observed > self.value
        return observed == self.value


class RuleWatcher:
    """One trial's sidecar: feed it each reported value; it says when the trial must stop."""

    def __init__(self, rules: Sequence[StopRule], objective: str, maximize: bool) -> None:
        self.pending = list(rules)
        self.objective = objective
        self.maximize = maximize
        self._best: float | None = None
        # main.go keys the countdown by metric name: the last rule for a metric sets it.
        self._countdown = {r.metric: r.start_step for r in rules if r.start_step != 0}
        self.fired: list[StopRule] = []
        self.reports = 0

    @property
    def armed(self) -> bool:
        return bool(self.pending) or bool(self.fired)

    def feed(self, metric: str, value: float) -> bool:
        """Record one report; True once every rule has held (the trial is early-stopped)."""
        if not self.pending:
            return bool(self.fired)
        if metric == self.objective:
            self.reports += 1
            if self._best is None or (value > self._best if self.maximize else value < self._best):
                self._best = value
        for rule in list(self.pending):
            if rule.metric != metric:
                continue
            observed = self._best if metric == self.objective and self._best is not None \
                else value
            if rule.metric in self._countdown:
                self._countdown[rule.metric] -= 1
                if self._countdown[rule.metric] != 0:
                    continue
            if rule.holds(observed):
                self.pending.remove(rule)
                self.fired.append(rule)
        return not self.pending and bool(self.fired)
