"""`nac.checkpoint`: the one checkpoint format (epoch and elastic files), read and written."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from nac.checkpoint import (
    CHECKPOINT_FORMAT,
    check_elastic,
    elastic_state,
    epoch_state,
    list_checkpoints,
    load_epoch_checkpoint,
    restore_epoch_state,
    run_fingerprint,
    save_checkpoint,
)
from nac.model import build_model
from nac.spec import initial_envelopenet
from nac.training import EpochRecord, TrainConfig

SPEC = initial_envelopenet((1, 8, 8), 3, stem_channels=8, layers_per_stage=(1, 1, 1))


def _run() -> tuple:
    torch.manual_seed(0)
    model = build_model(SPEC)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    return model, opt, sched


def _record(epoch: int) -> EpochRecord:
    return EpochRecord(epoch=epoch, epochs=3, train_loss=1.0, train_accuracy=0.5, val_loss=None,
                       val_accuracy=None, lr=0.1, seconds=0.1)


def test_epoch_checkpoints_round_trip_and_keep_the_two_newest(tmp_path: Path) -> None:
    fp = run_fingerprint(SPEC, TrainConfig())
    model, opt, sched = _run()
    for epoch in (1, 2, 3):
        state = epoch_state(epoch=epoch, fingerprint=fp, model=model, optimizer=opt,
                            scheduler=sched, scaler=None, device=torch.device("cpu"),
                            history=[_record(e) for e in range(1, epoch + 1)])
        save_checkpoint(tmp_path, f"ckpt-{epoch:04d}.pt", state, "ckpt")
    assert [n for n, _ in list_checkpoints(tmp_path)] == [3, 2]
    loaded = load_epoch_checkpoint(tmp_path, fp)
    assert loaded is not None and loaded["format"] == CHECKPOINT_FORMAT and loaded["epoch"] == 3
    other, opt2, sched2 = _run()
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    history = restore_epoch_state(loaded, model=other, optimizer=opt2, scheduler=sched2,
                                  scaler=None, device=torch.device("cpu"))
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 other.state_dict().values(), strict=True))


def test_a_foreign_newest_file_is_skipped_and_another_run_is_refused(tmp_path: Path,
                                                                     caplog) -> None:
    fp = run_fingerprint(SPEC, TrainConfig())
    model, opt, sched = _run()
    save_checkpoint(tmp_path, "ckpt-0001.pt", epoch_state(
        epoch=1, fingerprint=fp, model=model, optimizer=opt, scheduler=sched, scaler=None,
        device=torch.device("cpu"), history=[_record(1)]), "ckpt")
    torch.save({"format": CHECKPOINT_FORMAT, "version": 9, "epoch": 2}, tmp_path / "ckpt-0002.pt")
    with caplog.at_level(logging.WARNING, logger="nac.checkpoint"):
        assert load_epoch_checkpoint(tmp_path, fp)["epoch"] == 1
    assert "ckpt-0002.pt" in caplog.text and '"version" 9' in caplog.text
    other = run_fingerprint(SPEC, TrainConfig(lr=0.2))
    assert other != fp
    with pytest.raises(ValueError, match="checkpoint_dir: .* different run"):
        load_epoch_checkpoint(tmp_path, other)


def test_elastic_state_passes_its_own_check_and_a_missing_key_is_named(tmp_path: Path) -> None:
    model, opt, sched = _run()
    z = torch.zeros(())
    state = elastic_state(fingerprint="f", epoch=0, step=2, global_step=2, world_size=2,
                          micro_batches=2, model=model, optimizer=opt, scheduler=sched,
                          totals=(z, z, torch.zeros(5)), history=[], coverage=[])
    assert state["elastic"] == 1 and "version" not in state  # the file layout is unchanged
    assert check_elastic(state, tmp_path / "e.pt") is state
    del state["acc_seen"]
    with pytest.raises(ValueError, match="e.pt: missing 'acc_seen'"):
        check_elastic(state, tmp_path / "e.pt")
    with pytest.raises(ValueError, match='"version" 2'):
        check_elastic({**state, "elastic": 2}, tmp_path / "e.pt")
