"""The metrics collector's rule semantics, as :class:`RuleWatcher` reproduces them."""

from __future__ import annotations

from katib.earlystopping.rules import GREATER, LESS, RuleWatcher, StopRule
from tests.conformance.pins import KATIB

SIDECAR = "cmd/metricscollector/v1beta1/file-metricscollector/main.go"


def test_citations_name_the_pinned_release() -> None:
    """The docstrings below cite this file at the pinned Katib release."""
    assert KATIB.release == "v0.19.0"
    assert KATIB.cite(SIDECAR, "updateStopRules").startswith("kubeflow/katib@v0.19.0")


def _feed(watcher: RuleWatcher, values: list[float], metric: str = "acc") -> int | None:
    """The 1-based report at which the trial stops, or None."""
    for i, v in enumerate(values, 1):
        if watcher.feed(metric, v):
            return i
    return None


def test_rule_is_compared_once_at_start_step_with_the_best_so_far() -> None:
    """kubeflow/katib@v0.19.0 cmd/metricscollector/v1beta1/file-metricscollector/main.go
    updateStopRules: the countdown reaches 0 once; the objective is compared as its best value."""
    rule = StopRule("acc", 0.5, LESS, 3)
    # best after 3 reports is 0.6 (not < 0.5): never stops, even when later values drop
    assert _feed(RuleWatcher([rule], "acc", True), [0.6, 0.1, 0.2, 0.1, 0.0]) is None
    assert _feed(RuleWatcher([rule], "acc", True), [0.1, 0.2, 0.3, 0.9]) == 3


def test_start_step_zero_compares_at_every_report_and_minimize_uses_the_minimum() -> None:
    """kubeflow/katib@v0.19.0 cmd/metricscollector/v1beta1/file-metricscollector/main.go
    watchMetricsFile: start_step 0 is not in metricStartStep, so every report is compared."""
    rule = StopRule("loss", 1.0, GREATER, 0)
    assert _feed(RuleWatcher([rule], "loss", False), [2.0], "loss") == 1
    # best (min) so far is 0.5 at report 1: later 3.0 reports do not make it GREATER than 1.0
    assert _feed(RuleWatcher([rule], "loss", False), [0.5, 3.0, 3.0], "loss") is None


def test_every_rule_must_hold_before_the_trial_stops() -> None:
    """kubeflow/katib@v0.19.0 cmd/metricscollector/v1beta1/file-metricscollector/main.go
    watchMetricsFile: rules are removed as they hold; the trial stops when none is left."""
    rules = [StopRule("acc", 0.5, LESS, 1), StopRule("loss", 0.1, GREATER, 0)]
    w = RuleWatcher(rules, "acc", True)
    assert not w.feed("acc", 0.2)  # first rule holds; the loss rule is pending
    assert w.feed("loss", 0.9)
    assert [r.metric for r in w.fired] == ["acc", "loss"]
    assert not RuleWatcher([], "acc", True).feed("acc", 0.0)  # no rules: never stops
