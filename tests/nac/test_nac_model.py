"""Torch builder: output shapes, widths, statistics accumulators and gate values."""

from __future__ import annotations

import pytest
import torch

from nac.model import build_model, count_parameters
from nac.restructure import restructure
from nac.spec import initial_envelopenet


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (3, 64, 64), (3, 7, 9), (1, 3, 3)])
def test_output_shape_for_input_sizes(shape):
    spec = initial_envelopenet(shape, 7, stem_channels=8)
    model = build_model(spec).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *shape))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


def test_restructured_spec_builds_and_trains_one_step():
    spec = initial_envelopenet((1, 8, 8), 10, stem_channels=12)
    stats = {k: float(i) for i, k in enumerate(spec.branch_keys())}
    spec = restructure(spec, stats, {k: 0.5 for k in spec.gate_keys()})
    model = build_model(spec)
    loss = model(torch.randn(4, 1, 8, 8)).logsumexp(1).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_cell_widths_and_concat_order():
    spec = initial_envelopenet((1, 8, 8), 10, stem_channels=20)  # 20 // 6 = 3 per branch
    model = build_model(spec).eval()
    seen = {}
    model.blocks[0].register_forward_hook(lambda m, i, o: seen.__setitem__("c1", o.shape))
    b0 = model.blocks[0].branches[0]
    b0.register_forward_hook(lambda m, i, o: seen.__setitem__("c1/1x1", o))
    with torch.no_grad():
        model(torch.randn(3, 1, 8, 8))
    assert seen["c1"] == (3, 18, 8, 8)  # 6 branches x floor(20 / 6)
    assert seen["c1/1x1"].shape == (3, 3, 8, 8)
    # separable ops are depthwise then pointwise, without bias
    sep = model.blocks[0].branches[2].conv
    assert sep[0].groups == sep[0].in_channels and sep[0].bias is None and sep[1].bias is None


def test_stats_keyed_nonnegative_and_outside_optimizer():
    spec = initial_envelopenet((1, 8, 8), 10, stem_channels=12)
    model = build_model(spec)
    assert model.branch_stats() == {}
    model.enable_stats()
    x = torch.randn(5, 1, 8, 8)
    model(x)
    stats = model.branch_stats()
    assert list(stats) == spec.branch_keys()
    assert all(v >= 0 for v in stats.values())
    assert any(v > 0 for v in stats.values())
    names = {n for n, _ in model.named_parameters()}
    assert not any("stat" in n for n in names)
    assert not any("stat" in k for k in model.state_dict())
    # eval-mode passes and disabled stats do not accumulate
    before = model.branch_stats()
    model.eval()
    model(x)
    model.train()
    model.disable_stats()
    model(x)
    assert model.branch_stats() == before


def test_mean_sq_matches_manual_computation():
    spec = initial_envelopenet((1, 8, 8), 10, stem_channels=12, branch_dropout=0.5)
    model = build_model(spec)
    model.enable_stats()
    branch = model.blocks[1].branches[3]  # c2/5x5
    captured = []
    branch.bn.register_forward_hook(lambda m, i, o: captured.append(torch.relu(o).detach()))
    for _ in range(3):
        model(torch.randn(4, 1, 8, 8))
    expected = torch.cat([c.flatten() for c in captured]).double().square().mean().item()
    assert model.branch_stats()["c2/5x5"] == pytest.approx(expected, rel=1e-5)
    model.enable_stats("variance")  # resets
    model(torch.randn(6, 1, 8, 8))
    assert all(v >= 0 for v in model.branch_stats().values())
    with pytest.raises(ValueError):
        model.enable_stats("entropy")


def test_gate_values_and_parameter_count():
    spec = initial_envelopenet((1, 8, 8), 10, stem_channels=8)
    model = build_model(spec)
    gates = model.gate_values()
    assert list(gates) == spec.gate_keys()
    assert all(0.4 < v < 0.6 for v in gates.values())  # N(0.5, 0.01)
    assert count_parameters(model) == sum(p.numel() for p in model.parameters())
    no_skip = initial_envelopenet((1, 8, 8), 10, stem_channels=8, skip=False)
    assert build_model(no_skip).gate_values() == {}
    assert count_parameters(build_model(no_skip)) < count_parameters(model)


def test_dropout_override():
    spec = initial_envelopenet((1, 8, 8), 10, stem_channels=8)
    model = build_model(spec, dropout=0.0)
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())
    with pytest.raises(ValueError, match="dropout"):
        build_model(spec, dropout=1.0)
