"""Weight inheritance between NAC iterations (nac.inherit) and its use by the driver."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from nac.construct import NACSettings, construct
from nac.data import ingest, split_dataset
from nac.inherit import inherit_weights
from nac.model import build_model
from nac.restructure import plan_restructure
from nac.spec import Cell, initial_envelopenet
from nac.training import TrainConfig


def _trained_like(spec, seed=0):
    """A model with non-default BN statistics and shifts (as after training), in eval mode."""
    torch.manual_seed(seed)
    model = build_model(spec)
    with torch.no_grad():
        for m in model.modules():
            if getattr(m, "running_mean", None) is not None:
                m.running_mean.uniform_(0.0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.bias.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.fixture(scope="module")
def spec():
    return initial_envelopenet((3, 12, 12), 5, stages=3, layers_per_stage=(2, 2, 1),
                               stem_channels=12, stem_kernel=3, lrn=False)


def test_same_spec_is_an_exact_copy(spec):
    old = _trained_like(spec)
    new = build_model(spec)
    report = inherit_weights(old, new)
    x = torch.randn(3, 3, 12, 12)
    assert report.inherited == report.total and report.identity == 0
    assert torch.equal(old(x), new.eval()(x))


def test_appended_cell_starts_as_identity(spec):
    """A full cell appended at the end of stage 0 passes its input through (eval mode), so
    the grown network computes what the old one did, up to BN's 1/sqrt(1 + eps)."""
    old = _trained_like(spec)
    s0 = spec.stages[0]
    grown = dataclasses.replace(spec, stages=(dataclasses.replace(
        s0, cells=s0.cells + (Cell(id="c99", ops=spec.envelope, width=s0.width),)),)
        + spec.stages[1:])
    new = build_model(grown)
    report = inherit_weights(old, new)
    x = torch.randn(4, 3, 12, 12)
    with torch.no_grad():
        ref, out = old(x), new.eval()(x)
    assert report.identity > 0 and 0.8 < report.fraction < 1.0
    assert torch.allclose(ref, out, rtol=2e-3, atol=1e-6 * float(ref.abs().max()) + 1e-9)
    # a fresh (not inherited) network is far from the old function
    other = build_model(grown).eval()
    with torch.no_grad():
        assert not torch.allclose(ref, other(x), rtol=0.1, atol=0.0)


def test_surviving_branches_keep_their_weights(spec):
    old = _trained_like(spec)
    stats = {k: float(i) for i, k in enumerate(spec.branch_keys())}  # first branches weakest
    plan = plan_restructure(spec, stats, {k: 0.5 for k in spec.gate_keys()},
                            NACSettings.small_images().restructure_settings())
    new = build_model(plan.spec)
    inherit_weights(old, new)
    c2_old, c2_new = spec.cell("c2"), plan.spec.cell("c2")
    assert c2_new.ops == c2_old.ops  # c2's branches survived, c1 lost its weakest
    old_block = old.blocks[1]
    new_block = new.blocks[[e.id for _, e in plan.spec.entries()].index("c2")]
    for op in c2_new.ops:
        i_old, i_new = c2_old.ops.index(op), c2_new.ops.index(op)
        keep = min(c2_old.branch_width, c2_new.branch_width)
        ob, nb = old_block.branches[i_old], new_block.branches[i_new]
        assert torch.equal(nb.bn.bias[:keep], ob.bn.bias[:keep])
        assert torch.equal(nb.bn.running_var[:keep], ob.bn.running_var[:keep])
    # kept skip gates carry their trained values
    for src in c2_new.inputs:
        if src in c2_old.inputs:
            assert float(new_block.gates[c2_new.inputs.index(src)]) == \
                float(old_block.gates[c2_old.inputs.index(src)])


def test_refuses_unrelated_networks(spec):
    other = initial_envelopenet((3, 12, 12), 5, stages=3, layers_per_stage=(2, 2, 1),
                                stem_channels=8, stem_kernel=3, lrn=False)
    with pytest.raises(ValueError, match="stem"):
        inherit_weights(build_model(spec), build_model(other))


def test_construct_with_inheritance_trains_shorter_runs_from_parents():
    tr, va, _ = split_dataset(ingest("builtin:digits"), val_fraction=0.1, test_fraction=0.2,
                              seed=0)
    tr = tr.subset(np.arange(256), split="train")
    settings = NACSettings.small_images(
        iterations=3, stem_channels=8, inherit_weights=True, inherit_epochs=1,
        training=TrainConfig(epochs=2, batch_size=32, lr=0.05, threads=1))
    result = construct(tr, va, settings)
    assert [it.epochs for it in result.trace] == [2, 1, 1]
    assert result.trace[0].inherited_fraction is None
    assert all(it.inherited_fraction > 0.5 for it in result.trace[1:])
    # off by default: every iteration from scratch with the full run (AMLA's schedule)
    assert NACSettings.small_images().epochs_at(2) == 6
    with pytest.raises(ValueError, match="inherit_epochs"):
        NACSettings.small_images(inherit_epochs=0)
