"""medianstop as Katib computes it: mean of succeeded trials' first start_step averages."""

from __future__ import annotations

from katib.backends.local.earlystop import MedianStop
from katib.types import Objective
from katib.validation_rules import MedianStopSettings


def test_rule_waits_for_min_trials_then_uses_mean_of_averages() -> None:
    ms = MedianStop(MedianStopSettings(min_trials_required=2, start_step=2),
                    Objective(type="maximize", metric="accuracy"))
    ms.add_succeeded("a", [0.6, 0.8, 0.99])  # first two -> 0.7
    assert ms.rule() is None
    assert ms.should_stop([0.1, 0.1]) is None
    ms.add_succeeded("b", [0.9, 0.9])  # -> 0.9
    rule = ms.rule()
    assert rule is not None and abs(rule.value - 0.8) < 1e-12 and rule.comparison == "less"
    assert ms.should_stop([0.1]) is None  # fewer than start_step reports
    assert ms.should_stop([0.1, 0.7]) == rule
    assert ms.should_stop([0.1, 0.85]) is None  # best so far above the rule


def test_minimize_compares_greater() -> None:
    ms = MedianStop(MedianStopSettings(min_trials_required=1, start_step=1),
                    Objective(type="minimize", metric="loss"))
    ms.add_succeeded("a", [0.5])
    assert ms.should_stop([0.6]) is not None
    assert ms.should_stop([0.6, 0.4]) is None
