"""What a user gets by default from nac.finetune, and a search started from a parent Model.

The defaults are the ones benchmarks/finetune.py measured to work (docs/serving.md): in
`two_stage` the unfrozen part's BatchNorm statistics follow its moving weights (frozen
statistics under them cost 40 points on animal-mnist), every cell is unfrozen in stage 2, and
the frozen part runs as in inference (no dropout noise in the features the head learns on).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nac.construct import NACSettings, construct
from nac.finetune import FinetuneConfig, child_spec, finetune
from nac.model import build_model
from nac.spec import initial_envelopenet
from nac.training import TrainConfig
from tests.nac.test_finetune import _changed, _data, saved_parent


def _spec(classes: int = 3, dropout: float = 0.0):
    return initial_envelopenet((1, 8, 8), classes, stages=2, layers_per_stage=(1, 1),
                               stem_channels=8, stem_kernel=3, lrn=False,
                               envelope=("1x1", "3x3", "3x3sep"), branch_dropout=dropout,
                               head_dropout=0.0)


def _parent(tmp_path, *, dropout: float = 0.0):
    return saved_parent(tmp_path, _spec(3, dropout))


CFG = TrainConfig(epochs=3, batch_size=16, lr=0.05, threads=1)


def test_default_two_stage_updates_the_unfrozen_cells_bn_statistics_and_keeps_the_stem(tmp_path):
    parent = _parent(tmp_path)
    target = _data(["x", "y"])
    ft = FinetuneConfig(mode="two_stage", head_epochs=1)
    assert ft.unfreeze_cells is None and ft.keep_bn_stats is False
    result = finetune(parent, child_spec(parent, 2), target, target, CFG, ft,
                      classes=target.classes)
    changed = _changed(parent.state, result.model.state_dict())
    # blocks: c1 (0), w1 (1), c2 (2): every cell trains, statistics included; the stem is
    # frozen (weights and statistics).
    for block in ("blocks.0.", "blocks.2."):
        assert any(k.startswith(block) and "running_mean" in k for k in changed), block
        assert any(k.startswith(block) and k.endswith("weight") for k in changed), block
    assert not any(k.startswith("stem.") for k in changed)
    assert result.extra["finetune"]["unfreeze_cells"] is None


def test_the_frozen_part_runs_without_dropout_while_the_head_trains(tmp_path):
    parent = _parent(tmp_path, dropout=0.5)
    target = _data(["x", "y"])
    result = finetune(parent, child_spec(parent, 2), target, target, CFG,
                      FinetuneConfig(mode="freeze"), classes=target.classes)
    model = result.model.train()  # training mode: only the frozen part's modules stay in eval
    x = torch.as_tensor(target.normalized_x()[:8])
    with torch.no_grad():
        first, second = model(x), model(x)
    assert torch.equal(first, second)  # no dropout draws anywhere (head dropout is 0 here)
    fresh = build_model(_spec(2, 0.5)).train()
    with torch.no_grad():
        assert not torch.equal(fresh(x), fresh(x))  # the same net without the hooks is noisy


def test_construct_starts_from_the_parents_architecture_and_weights(tmp_path):
    parent = _parent(tmp_path)
    rng = np.random.default_rng(0)
    train_ds, val_ds = _data(["x", "y"], rows=64), _data(["x", "y"], rows=32, seed=1)
    settings = NACSettings(
        iterations=2, stages=2, layers_per_stage=(1, 1), max_layers_per_stage=(2, 2),
        construction=(True, True), parameter_limits=(False, False), stem_channels=8,
        stem_kernel=3, lrn=False, envelope=("1x1", "3x3", "3x3sep"),
        training=TrainConfig(epochs=1, batch_size=16, lr=0.05, threads=1, stats=True,
                             seed=int(rng.integers(100))))
    result = construct(train_ds, val_ds, settings, parent=parent)
    assert result.initial_spec == child_spec(parent, 2)  # the parent's network, 2 outputs
    first, second = result.trace
    # Iteration 0 loaded every parameter but the re-initialised head; iteration 1 inherited
    # along the restructuring (nac.inherit) instead of starting from scratch.
    head = parent.state["head.fc.weight"].shape[1] * 2 + 2
    total = sum(p.numel() for p in build_model(result.initial_spec).parameters())
    assert first.inherited_fraction == pytest.approx((total - head) / total)
    assert second.inherited_fraction is not None and second.inherited_fraction > 0.3
    with pytest.raises(ValueError, match="initial.*parent"):
        construct(train_ds, val_ds, settings, parent=parent, initial=result.initial_spec)


def test_nac_search_step_takes_a_parent_only_with_the_local_construction(tmp_path):
    """The component passes parent_model to construct (local); the Katib backend's trials
    cannot start from it, so that combination is refused before anything runs."""
    from components._impl.search import run_search

    class Art:
        path = str(tmp_path / "parent")

    with pytest.raises(ValueError, match="parent_model: .*backend='local'"):
        run_search(train_data=Art(), val_data=Art(), architecture=Art(), report=Art(),
                   metrics=Art(), settings="{}", backend="katib", seed=0, experiment_name="",
                   namespace="", trial_image="", data_source="", timeout_seconds=60,
                   parent_model=Art())
