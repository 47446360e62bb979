"""ASHA's settings and rule choice, without gRPC (katib/earlystopping/asha.py)."""

from __future__ import annotations

import pytest

from katib.earlystopping import asha
from katib.earlystopping.rules import GREATER, LESS
from katib.suggestion.errors import SuggestionInputError


def test_defaults_and_geometric_rungs() -> None:
    """Defaults chosen on the LCBench surrogate (docs/early-stopping.md): one cut per trial
    must carry ASHA's whole selection pressure, so eta 8 at report 2."""
    cfg = asha.parse([])
    assert (cfg.reduction_factor, cfg.brackets, cfg.min_trials_required) == (8, 1, 3)
    assert cfg.rungs == (2, 16, 128, 1024, 8192, 65536, 524288, 4194304)
    cfg = asha.parse([("eta", "3"), ("min_resource", "1")])
    assert cfg.rungs == (1, 3, 9, 27, 81, 243, 729, 2187)
    cfg = asha.parse([("eta", "2"), ("min_resource", "2"), ("max_resource", "20")])
    assert cfg.rungs == (2, 4, 8, 16)
    assert asha.parse([("rungs", "1,5,9")]).rungs == (1, 5, 9)


@pytest.mark.parametrize(("settings", "fragment"), [
    ([("reduction_factor", "1")], "reduction_factor='1' is invalid (below the minimum 2)"),
    ([("reduction_factor", "x")], "allowed: integer in [2, 1000]"),
    ([("max_resource", "3"), ("min_resource", "3")], "must be greater than min_resource=3"),
    ([("rungs", "3,3")], "must be strictly increasing"),
    ([("brackets", "3"), ("eta", "3"), ("min_resource", "1"), ("max_resource", "4")],
     "exceeds the 2 rungs"),
    ([("start_step", "4")], "known settings: brackets, max_resource, min_resource"),
])
def test_bad_settings_name_the_setting_and_the_fix(settings, fragment: str) -> None:
    with pytest.raises(SuggestionInputError) as e:
        asha.parse(settings)
    assert fragment in str(e.value)


def test_no_rule_until_a_rung_has_enough_values() -> None:
    cfg = asha.parse([("reduction_factor", "2"), ("min_resource", "1"),
                      ("min_trials_required", "3")])
    assert asha.rule_for_next(cfg, "acc", True, {"a": [0.5], "b": [0.6]}, 2) is None


def test_cut_is_the_top_one_over_eta_of_the_rung_maximize_and_minimize() -> None:
    cfg = asha.parse([("reduction_factor", "3"), ("min_resource", "1"),
                      ("min_trials_required", "3")])
    # rung 1 = the best of each trial's first report
    histories = {"a": [0.1, 0.9], "b": [0.5], "c": [0.2], "d": [0.7], "e": [0.3]}
    rule = asha.rule_for_next(cfg, "acc", True, histories, 5)
    # rung 1 values 0.1, 0.5, 0.2, 0.7, 0.3; keep ceil(5/3) = 2: cut at the 2nd best, 0.5
    assert (rule.metric, rule.value, rule.comparison, rule.start_step) == ("acc", 0.5, LESS, 1)
    rule = asha.rule_for_next(cfg, "loss", False, histories, 5)
    assert (rule.value, rule.comparison) == (0.2, GREATER)


def test_brackets_cycle_rungs_and_fall_back_to_a_lower_rung() -> None:
    cfg = asha.parse([("reduction_factor", "2"), ("rungs", "1,2"), ("brackets", "2"),
                      ("min_trials_required", "2")])
    short = {"a": [0.1], "b": [0.4], "c": [0.3, 0.35]}
    assert asha.rule_for_next(cfg, "m", True, short, 2).start_step == 1  # bracket 0
    # bracket 1 wants rung 2, which has one value (< 2): falls back to rung 1
    assert asha.rule_for_next(cfg, "m", True, short, 3).start_step == 1
    long = {**short, "d": [0.2, 0.6]}
    rule = asha.rule_for_next(cfg, "m", True, long, 3)
    # rung 2 (best of first 2): c 0.35, d 0.6; keep 1 -> cut 0.6
    assert (rule.start_step, rule.value) == (2, 0.6)


def test_warm_up_trials_do_not_grow_with_eta() -> None:
    """The first cut needs min_trials_required rung values (default 3), not eta: with eta 8
    tied to it, 8 trials would train in full before any is judged (416 of LCBench's epochs)."""
    assert asha.parse([("reduction_factor", "8")]).min_trials_required == 3
    assert asha.parse([("reduction_factor", "8"), ("min_trials_required", "0")]
                      ).min_trials_required == 8  # 0 keeps the old meaning
    cfg = asha.parse([("reduction_factor", "8"), ("min_resource", "2")])
    three = {"a": [0.2, 0.4], "b": [0.3, 0.9], "c": [0.1, 0.5]}
    rule = asha.rule_for_next(cfg, "acc", True, three, 3)
    # three values at report 2 (0.4, 0.9, 0.5): keep ceil(3/8) = 1, so only a trial whose
    # best of its first 2 reports reaches 0.9 goes on
    assert (rule.value, rule.comparison, rule.start_step) == (0.9, LESS, 2)
    assert asha.rule_for_next(cfg, "acc", True, dict(list(three.items())[:2]), 2) is None
