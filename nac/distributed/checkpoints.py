"""Elastic checkpoint files: `elastic-<global step>.pt`, written by rank 0 through `nac.atomic`.

Separate from `nac.training`'s per-epoch `ckpt-<epoch>.pt` because a group restarted after a
membership change resumes mid-epoch: the file carries the epoch, the step inside it and the
epoch's running totals. The layout (keys, header, fingerprint) is `nac.checkpoint`'s; this
module finds, reads and writes the files: a torn or foreign file is skipped, a file of another
run is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from nac.checkpoint import check_elastic, list_checkpoints, refuse_other_run
from nac.checkpoint import save_checkpoint as _save

__all__ = ["elastic_path", "load_elastic_checkpoint", "newest_loadable", "save_checkpoint"]

_log = logging.getLogger(__name__)
_PREFIX = "elastic"


def elastic_path(directory: Path, global_step: int) -> Path:
    """The file of the checkpoint written after `global_step`."""
    return directory / f"{_PREFIX}-{global_step:08d}.pt"


def load_elastic_checkpoint(path: Path) -> dict[str, Any]:
    """One elastic checkpoint file (weights_only), checked for completeness."""
    return check_elastic(torch.load(path, map_location="cpu", weights_only=True), path)


def newest_loadable(directory: Path, fingerprint: str) -> int:
    """Global step of the newest complete checkpoint of this run (-1 = none)."""
    for step, path in list_checkpoints(directory, _PREFIX):
        try:
            state = load_elastic_checkpoint(path)
        except Exception as e:  # noqa: BLE001 - a torn or foreign file is skipped, not fatal
            _log.warning("skipping unreadable checkpoint %s (%s)", path, e)
            continue
        if state["fingerprint"] != fingerprint:
            raise refuse_other_run(directory, "architecture, hyperparameters or micro_batches")
        return step
    return -1


def save_checkpoint(directory: Path, global_step: int, state: dict[str, Any]) -> None:
    """Write the checkpoint of `global_step`; keep the newest two."""
    _save(directory, elastic_path(directory, global_step).name, state, _PREFIX)
