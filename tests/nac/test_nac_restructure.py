"""Restructuring (prune + expand + skip pruning) against reference/nac.md §1.6-1.7."""

from __future__ import annotations

import pytest

from nac.restructure import (
    RestructureError,
    RestructureSettings,
    plan_restructure,
    prune_budget,
    restructure,
)
from nac.spec import ENVELOPE_OPS, initial_envelopenet


def _stats_by_op_then_age(spec):
    """Deterministic synthetic MeanSSS: an op ranking, older cells slightly weaker."""
    rank = {op: i for i, op in enumerate(ENVELOPE_OPS)}
    return {f"{c.id}/{op}": rank[op] + 0.1 * int(c.id[1:]) for c in spec.cells() for op in c.ops}


def _gates(spec, value=lambda src, dst: 0.5):
    return {k: value(*k.split(">")) for k in spec.gate_keys()}


def test_prune_budget():
    assert [prune_budget(n, 6) for n in (2, 3, 12, 14, 16, 17, 18, 30)] == [0, 1, 4, 4, 5, 5, 6, 6]


def test_worked_trace_amla_defaults():
    """Stage-0 branches 12->14->16->17->18->18; stages 0 and 1 end with 7 cells, 18 branches."""
    spec = initial_envelopenet((3, 32, 32), 10)
    counts, budgets = [spec.branch_counts()], []
    for _ in range(5):
        plan = plan_restructure(spec, _stats_by_op_then_age(spec), _gates(spec),
                                RestructureSettings())
        spec = plan.spec
        counts.append(spec.branch_counts())
        budgets.append((plan.budgets[0], plan.budgets[1]))
        assert {len(v) for v in plan.pruned.values()} == {b for b in plan.budgets.values()}
    assert [c[0] for c in counts] == [12, 14, 16, 17, 18, 18]
    assert [c[1] for c in counts] == [12, 14, 16, 17, 18, 18]
    assert [b[0] for b in budgets] == [4, 4, 5, 5, 6]
    assert spec.cells_per_stage() == [7, 7, 2]  # stage 1 cap 6 is tested before adding
    assert spec.branch_counts() == [18, 18, 12]  # stage 2 never constructs
    per_cell = spec.branches_per_cell()
    for stage in per_cell[:2]:
        assert stage[-1] == 6 and min(stage) >= 1 and sum(stage) == 18
    assert per_cell[2] == [6, 6]
    # a 6th step: stage 0 (7 <= cap 7) still grows; stage 1 (7 > cap 6) is frozen
    again = restructure(spec, _stats_by_op_then_age(spec), _gates(spec))
    assert again.cells_per_stage() == [8, 7, 2]
    assert again.branches_per_cell()[1:] == per_cell[1:]


def test_ids_stable_and_new_cells_full_and_dense():
    spec = initial_envelopenet((1, 8, 8), 10)
    plan = plan_restructure(spec, _stats_by_op_then_age(spec), _gates(spec))
    new = plan.spec
    assert plan.added == {0: "c7", 1: "c8"}
    assert [c.id for c in new.stages[0].cells] == ["c1", "c2", "c7"]
    assert [c.id for c in new.stages[1].cells] == ["c3", "c4", "c8"]
    assert new.cell("c7").ops == ENVELOPE_OPS and new.cell("c8").ops == ENVELOPE_OPS
    # new cell: every earlier entry except its direct predecessor
    assert new.cell("c7").inputs == ("c1",)
    assert new.cell("c8").inputs == ("c1", "c2", "c7", "w1", "c3")
    # surviving cells get an edge from every earlier new cell (c7 precedes stage 1 and 2)
    assert "c7" in new.cell("c3").inputs and "c7" in new.cell("c5").inputs
    assert "c8" in new.cell("c5").inputs


def test_prune_lowest_and_never_last_branch():
    spec = initial_envelopenet((1, 8, 8), 10, layers_per_stage=(2, 2, 2))
    stats = {k: 10.0 for k in spec.branch_keys()}
    # c1's branches are all the weakest: only 5 of them can go, the 6th stays
    for op in ENVELOPE_OPS:
        stats[f"c1/{op}"] = 0.0
    stats["c2/7x7sep"] = 1.0
    settings = RestructureSettings(max_filter_prune=6)
    plan = plan_restructure(spec, stats, _gates(spec), settings)
    assert plan.budgets[0] == 4
    assert plan.pruned[0] == ["c1/1x1", "c1/3x3", "c1/3x3sep", "c1/5x5"]  # ties: network order
    assert plan.spec.cell("c1").ops == ("5x5sep", "7x7sep")
    # a cell reduced to one branch is skipped by the walk, the next weakest goes instead
    spec2 = initial_envelopenet((1, 8, 8), 10, layers_per_stage=(2, 2, 2),
                                envelope=("3x3", "5x5"))
    stats2 = {k: 5.0 for k in spec2.branch_keys()}
    stats2.update({"c1/3x3": 0.0, "c1/5x5": 0.1, "c2/5x5": 1.0})
    plan2 = plan_restructure(spec2, stats2, _gates(spec2), RestructureSettings(max_filter_prune=6))
    assert plan2.budgets[0] == 1  # floor(4 / 3)
    assert plan2.pruned[0] == ["c1/3x3"]


def test_worst_case_prunes_strongest():
    spec = initial_envelopenet((1, 8, 8), 10)
    stats = _stats_by_op_then_age(spec)
    best = plan_restructure(spec, stats, _gates(spec)).pruned[0]
    worst = plan_restructure(spec, stats, _gates(spec),
                             RestructureSettings(worst_case=True)).pruned[0]
    assert all(k.endswith(("1x1", "3x3")) for k in best)
    assert all(k.endswith(("7x7sep", "5x5sep")) for k in worst)


def test_at_least_one_pruned_even_with_zero_budget():
    spec = initial_envelopenet((1, 8, 8), 10, stages=1, layers_per_stage=(1,),
                               envelope=("3x3", "5x5"))
    assert prune_budget(2, 6) == 0
    plan = plan_restructure(spec, {"c1/3x3": 1.0, "c1/5x5": 2.0}, {},
                            RestructureSettings(max_layers_per_stage=(5,), construction=(True,)))
    assert plan.pruned[0] == ["c1/3x3"]
    assert plan.spec.branches_per_cell() == [[1, 2]]


def test_nothing_prunable_is_an_error():
    spec = initial_envelopenet((1, 8, 8), 10, stages=1, layers_per_stage=(2,), envelope=("3x3",))
    with pytest.raises(RestructureError, match="stage 0: nothing can be pruned"):
        restructure(spec, {"c1/3x3": 1.0, "c2/3x3": 2.0}, {},
                    RestructureSettings(max_layers_per_stage=(5,), construction=(True,)))


def test_skip_gates_keep_top_half():
    spec = initial_envelopenet((1, 8, 8), 10)
    # c6 has 6 inputs (c1, c2, w1, c3, c4, w2): keep the 3 largest gates
    values = {"c1": 0.9, "c2": 0.1, "w1": 0.8, "c3": 0.2, "c4": 0.7, "w2": 0.3}
    gates = _gates(spec, lambda src, dst: values.get(src, 0.5) if dst == "c6" else 0.5)
    plan = plan_restructure(spec, _stats_by_op_then_age(spec), gates)
    assert plan.kept_gates["c6"] == ["c1", "w1", "c4"]
    # plus the new cells c7 (stage 0) and c8 (stage 1), in network order
    assert plan.spec.cell("c6").inputs == ("c1", "c7", "w1", "c4", "c8")
    # c4 had 3 inputs -> keeps ceil(3/2) = 2 (all equal: earlier sources win), plus c7
    assert plan.kept_gates["c4"] == ["c1", "c2"]
    assert plan.spec.cell("c4").inputs == ("c1", "c2", "c7")


def test_missing_gate_stats_keep_inputs_but_partial_is_an_error():
    spec = initial_envelopenet((1, 8, 8), 10)
    new = restructure(spec, _stats_by_op_then_age(spec), {})
    assert set(spec.cell("c6").inputs) <= set(new.cell("c6").inputs)
    partial = _gates(spec)
    del partial["c1>c6"]
    with pytest.raises(RestructureError, match="gate_stats: missing 'c1>c6'"):
        restructure(spec, _stats_by_op_then_age(spec), partial)


def test_bad_stats_and_settings_are_named():
    spec = initial_envelopenet((1, 8, 8), 10)
    stats = _stats_by_op_then_age(spec)
    missing = dict(stats)
    del missing["c2/5x5"]
    with pytest.raises(RestructureError, match=r"branch_stats: missing 1 branch\(es\) of "
                                               r"constructing stage 0, e.g. 'c2/5x5'"):
        restructure(spec, missing, {})
    with pytest.raises(RestructureError, match="branch_stats: key 'c99/1x1' is not in the"):
        restructure(spec, {**stats, "c99/1x1": 1.0}, {})
    with pytest.raises(RestructureError, match=r"branch_stats\['c1/1x1'\]: must be a finite"):
        restructure(spec, {**stats, "c1/1x1": float("nan")}, {})
    with pytest.raises(RestructureError, match="construction: has 2 entries but the arch"):
        restructure(spec, stats, {}, RestructureSettings(construction=(True, True),
                                                         max_layers_per_stage=(7, 6, 2)))
    with pytest.raises(RestructureError, match="max_filter_prune: must be an integer"):
        RestructureSettings(max_filter_prune=-1)


def test_deterministic_and_stats_of_frozen_stage_not_needed():
    spec = initial_envelopenet((1, 8, 8), 10)
    stats = {k: v for k, v in _stats_by_op_then_age(spec).items()
             if not k.startswith(("c5/", "c6/"))}  # stage 2 does not construct
    a = restructure(spec, stats, _gates(spec))
    b = restructure(spec, dict(reversed(list(stats.items()))), _gates(spec))
    assert a == b and a.dumps() == b.dumps()


def test_parameter_limits_shrink_inner_cells():
    spec = initial_envelopenet((1, 8, 8), 10, stem_channels=64)
    s = RestructureSettings(parameter_limits=(True, False, False))
    for _ in range(2):
        spec = restructure(spec, _stats_by_op_then_age(spec), _gates(spec), s)
    widths = [c.width for c in spec.stages[0].cells]
    assert widths[-1] == 64 and widths[:-1] == [int(64 / 2 * (3 ** 0.5 - 1))] * 3
    assert [c.width for c in spec.stages[1].cells] == [128] * 4
