"""Costs (nac.cost), the parameter/MAC budget of construction, the equal-size baselines and
the Pareto report."""

from __future__ import annotations

import numpy as np
import pytest

from nac.baselines import handdesigned_cnn, match_parameters, random_network, scale_width
from nac.construct import NACSettings, construct
from nac.cost import count_macs, cpu_latency_ms, spec_cost
from nac.data import ingest, split_dataset
from nac.model import build_model
from nac.pareto import ParetoPoint, pareto_front, pareto_html, search_points, write_pareto_html
from nac.restructure import RestructureSettings, plan_restructure
from nac.spec import initial_envelopenet
from nac.training import TrainConfig


def test_macs_match_the_layer_formulas():
    spec = handdesigned_cnn((1, 8, 8), 3, stages=2, cells_per_stage=1, stem_channels=4)
    # stem 3x3 1->4 at 8x8; cell 3x3 4->4 at 8x8; widener 3x3/2 4->4 at 4x4; cell 3x3 8->8
    # at 4x4 (widener output = 4 pooled + 4 conv channels); head 8->3
    expected = 64 * 4 * 9 * 1 + 64 * 4 * 9 * 4 + 16 * 4 * 9 * 4 + 16 * 8 * 9 * 8 + 8 * 3
    model = build_model(spec)
    assert count_macs(model, (1, 8, 8)) == expected
    assert spec_cost(spec) == (sum(p.numel() for p in model.parameters()), expected)
    assert cpu_latency_ms(model, repeats=3) > 0


def test_equal_parameter_baselines():
    spec = initial_envelopenet((3, 8, 8), 10, layers_per_stage=(2, 2, 1), stem_channels=12,
                               stem_kernel=3, lrn=False)
    target = spec_cost(spec)[0]
    rnd = match_parameters(random_network(spec, seed=3), target)
    hand = match_parameters(handdesigned_cnn((3, 8, 8), 10), target)
    for net in (rnd, hand):
        assert abs(spec_cost(net)[0] - target) <= 0.03 * target
    assert rnd.cells_per_stage() == spec.cells_per_stage()
    assert scale_width(spec, 2.0).stem.channels == 24
    with pytest.raises(ValueError, match="factor"):
        scale_width(spec, 0)


def test_restructure_without_expansion():
    spec = initial_envelopenet((1, 8, 8), 10, stages=2, layers_per_stage=(2, 1),
                               stem_channels=12, stem_kernel=3, lrn=False)
    stats = {k: float(i) for i, k in enumerate(spec.branch_keys())}
    rs = RestructureSettings(max_layers_per_stage=(5, 5), construction=(True, False),
                             expand=(False, True))
    plan = plan_restructure(spec, stats, None, rs)
    assert plan.added == {} and plan.spec.cells_per_stage() == [2, 1]
    assert plan.spec.branch_counts()[0] == 12 - 4


@pytest.fixture(scope="module")
def digits():
    tr, va, _ = split_dataset(ingest("builtin:digits"), val_fraction=0.1, test_fraction=0.2,
                              seed=0)
    return tr.subset(np.arange(128), split="train"), va


def _settings(**kw):
    return NACSettings.small_images(iterations=2, stem_channels=8, training=TrainConfig(
        epochs=1, batch_size=32, lr=0.05, threads=1), **kw)


def test_construction_respects_a_parameter_budget(digits):
    tr, va = digits
    free = _settings()
    initial = spec_cost(free.initial_spec((1, 8, 8), 10))[0]
    budget = initial + 1500  # room for pruning, not for appending cells
    result = construct(tr, va, _settings(max_parameters=budget))
    assert spec_cost(result.spec)[0] <= budget
    assert all(it.parameters <= budget for it in result.trace)
    assert any(it.budget_note for it in result.trace)
    with pytest.raises(ValueError, match="max_parameters"):
        construct(tr, va, _settings(max_parameters=initial - 1))
    with pytest.raises(ValueError, match="max_macs"):
        _settings(max_macs=-5)


def test_pareto_front_and_report(tmp_path):
    pts = [ParetoPoint("nac", "s0", 0.30, 1000, 1.0, 10),
           ParetoPoint("random", "s0", 0.35, 2000, 2.0, 20),  # dominated by nac s0
           ParetoPoint("random", "s1", 0.25, 3000, None, 30)]
    assert [(p.arm, p.label) for p in pareto_front(pts)] == [("nac", "s0"), ("random", "s1")]
    assert [p.label for p in pareto_front(pts, "latency_ms")] == ["s0"]
    page = pareto_html(pts, title="t <x>")
    assert page.count("<svg") == 2 and "t &lt;x&gt;" in page
    assert "<script" not in page and "src=" not in page and "href=" not in page
    path = write_pareto_html(pts, tmp_path / "p.html", title="t")
    assert path.read_text().startswith("<!DOCTYPE html>")
    assert [p.error for p in search_points([{"iteration": 0, "val_accuracy": 0.9,
                                             "parameters": 5},
                                            {"iteration": "1 (constructed)",
                                             "val_accuracy": None, "parameters": None}])] \
        == [pytest.approx(0.1)]
