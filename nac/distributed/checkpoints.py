"""Elastic checkpoints: `elastic-<global step>.pt`, written by rank 0 through `nac.atomic`.

Separate from `nac.training`'s per-epoch `ckpt-<epoch>.pt` because a group restarted after a
membership change resumes mid-epoch: the file carries the epoch, the step inside it and the
epoch's running totals. Only tensors and plain values, so `torch.load(weights_only=True)` reads
it; a torn or foreign file is skipped, a file of another run is refused.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

from nac.atomic import atomic_file
from nac.training import CHECKPOINT_FORMAT

__all__ = ["ELASTIC_CHECKPOINT_VERSION", "load_elastic_checkpoint", "newest_loadable",
           "save_checkpoint"]

_log = logging.getLogger(__name__)

ELASTIC_CHECKPOINT_VERSION = 1
ELASTIC_CHECKPOINTS_KEPT = 2
_CKPT_RE = re.compile(r"elastic-(\d+)\.pt")


def _checkpoints(directory: Path) -> list[tuple[int, Path]]:
    found = [(int(m.group(1)), p) for p in directory.glob("elastic-*.pt")
             if (m := _CKPT_RE.fullmatch(p.name))]
    return sorted(found, reverse=True)


def load_elastic_checkpoint(path: Path) -> dict[str, Any]:
    """One elastic checkpoint file (weights_only), checked for completeness."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT \
            or state.get("elastic") != ELASTIC_CHECKPOINT_VERSION:
        raise ValueError(f"{path}: not a complete nac elastic checkpoint")
    for key in ("model", "optimizer", "scheduler", "epoch", "step", "global_step", "history",
                "fingerprint", "acc_loss", "acc_correct", "acc_seen"):
        if key not in state:
            raise ValueError(f"{path}: missing {key!r}")
    return state


def newest_loadable(directory: Path, fingerprint: str) -> int:
    """Global step of the newest complete checkpoint of this run (-1 = none)."""
    for step, path in _checkpoints(directory):
        try:
            state = load_elastic_checkpoint(path)
        except Exception as e:  # noqa: BLE001 - a torn or foreign file is skipped, not fatal
            _log.warning("skipping unreadable checkpoint %s (%s)", path, e)
            continue
        if state["fingerprint"] != fingerprint:
            raise ValueError(f"checkpoint_dir: {directory} holds checkpoints of a different "
                             "run (other architecture, hyperparameters or micro_batches); use "
                             "an empty directory per run")
        return step
    return -1


def save_checkpoint(directory: Path, global_step: int, state: dict[str, Any]) -> None:
    with atomic_file(directory / f"elastic-{global_step:08d}.pt", "wb") as fh:
        torch.save(state, fh)
    for _, old in _checkpoints(directory)[ELASTIC_CHECKPOINTS_KEPT:]:
        old.unlink(missing_ok=True)
