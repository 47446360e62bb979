"""Fine-tuning from a parent Model (nac.finetune): what trains, what stays, what is recorded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nac.data import Dataset, fit_normalization
from nac.export import ModelError, save_model
from nac.finetune import FinetuneConfig, child_spec, finetune, load_parent
from nac.model import build_model
from nac.spec import initial_envelopenet
from nac.training import TrainConfig


def _spec(classes: int = 3):
    return initial_envelopenet((1, 8, 8), classes, stages=2, layers_per_stage=(1, 1),
                               stem_channels=8, stem_kernel=3, lrn=False,
                               envelope=("1x1", "3x3", "3x3sep"))


def _data(classes: list[str], rows: int = 48, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % len(classes)
    x = rng.normal(size=(rows, 1, 8, 8)).astype(np.float32) + y[:, None, None, None]
    ds = Dataset(x=x, y=y, classes=classes, source="test:synthetic", split="train")
    ds.normalization = fit_normalization(ds)
    return ds


@pytest.fixture
def parent(tmp_path):
    return saved_parent(tmp_path, _spec(3))


def saved_parent(tmp_path, spec):
    """A parent Model of `spec` for classes a, b, c, saved and loaded back (seeded weights)."""
    torch.manual_seed(1)
    model = build_model(spec)
    with torch.no_grad():  # non-trivial BN statistics, so "kept" is observable
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    save_model(tmp_path / "parent", model, spec, ["a", "b", "c"],
               normalization=_data(["a", "b", "c"]).normalization,
               hyperparameters={"data_source": "builtin:digits"})
    return load_parent(tmp_path / "parent")


CFG = TrainConfig(epochs=2, batch_size=16, lr=0.05, threads=1)


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k].cpu())}


def test_freeze_trains_only_a_new_head_and_keeps_bn_statistics(parent):
    target = _data(["x", "y"])
    spec = child_spec(parent, 2, (1, 8, 8))
    result = finetune(parent, spec, target, target, CFG, FinetuneConfig(mode="freeze"),
                      classes=target.classes)
    after = result.model.state_dict()
    changed = _changed({k: v for k, v in parent.state.items() if not k.startswith("head.")},
                       after)
    assert changed == set()  # weights AND running_mean/var of the whole base untouched
    assert after["head.fc.weight"].shape == (2, parent.state["head.fc.weight"].shape[1])
    assert result.extra["finetune"]["head_reinitialised"] is True
    rec = result.extra["parent"]
    assert rec["sha256"] == parent.sha256 and len(rec["sha256"]) == 64
    assert rec["classes"] == ["a", "b", "c"] and rec["data_source"] == "builtin:digits"


def test_two_stage_unfreezes_only_the_top_cells_in_stage_two(parent):
    target = _data(["x", "y"])
    spec = child_spec(parent, 2)
    result = finetune(parent, spec, target, target, replace_epochs(CFG, 3),
                      FinetuneConfig(mode="two_stage", head_epochs=1, unfreeze_cells=1,
                                     keep_bn_stats=True),
                      classes=target.classes)
    changed = _changed(parent.state, result.model.state_dict())
    # model.blocks: c1 (0), w1 (1), c2 (2). Only the top cell (c2) and the head move, and BN
    # statistics stay the parent's everywhere (keep_bn_stats=True).
    assert any(k.startswith("blocks.2.") for k in changed)
    assert not any(k.startswith(("stem.", "blocks.0.", "blocks.1.")) for k in changed)
    assert not any("running_" in k for k in changed)
    assert [h.epoch for h in result.history] == [1, 2, 3]


def replace_epochs(cfg: TrainConfig, epochs: int) -> TrainConfig:
    from dataclasses import replace

    return replace(cfg, epochs=epochs)


def test_full_with_same_classes_keeps_the_head_and_trains_everything(parent):
    same = _data(["a", "b", "c"])
    result = finetune(parent, child_spec(parent, 3), same, None, CFG,
                      FinetuneConfig(mode="full"), classes=same.classes)
    changed = _changed(parent.state, result.model.state_dict())
    assert result.extra["finetune"]["head_reinitialised"] is False
    assert any(k.startswith("stem.") for k in changed) and "head.fc.weight" in changed


def test_resume_of_a_finetune_run_continues_from_its_checkpoint(parent, tmp_path):
    target = _data(["x", "y"])
    spec = child_spec(parent, 2)
    ckpt = tmp_path / "ckpt"
    ft = FinetuneConfig(mode="freeze")
    from dataclasses import replace

    first = finetune(parent, spec, target, target, replace(CFG, checkpoint_dir=str(ckpt)), ft,
                     classes=target.classes)
    again = finetune(parent, spec, target, target, replace(CFG, checkpoint_dir=str(ckpt)), ft,
                     classes=target.classes)
    assert again.resumed_from == 2
    assert torch.equal(first.model.head.fc.weight, again.model.head.fc.weight)


def test_bad_inputs_are_refused_with_the_field_named(parent, tmp_path):
    with pytest.raises(ValueError, match="finetune mode"):
        FinetuneConfig(mode="top_only")
    with pytest.raises(ValueError, match="input"):
        child_spec(parent, 2, (3, 8, 8))
    with pytest.raises(ValueError, match="head_epochs"):
        target = _data(["x", "y"])
        finetune(parent, child_spec(parent, 2), target, None, CFG,
                 FinetuneConfig(mode="two_stage", head_epochs=2), classes=target.classes)
    (tmp_path / "parent" / "weights.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match="parent_model"):
        load_parent(tmp_path / "parent")
    with pytest.raises(ModelError, match="meta.json"):
        load_parent(tmp_path / "nowhere")
