"""The checkpoint format, in one place: what a checkpoint holds, how it is checked, its key.

Two layouts share the `"format": "nac-checkpoint"` header (docs/contracts.md):

- **epoch** files `ckpt-<epoch>.pt`, written by `nac.training.train` after every epoch
  (`"version": 1`): model, optimizer, scheduler, AMP scaler, branch statistics, RNG states and
  the history so far. Resuming restores all of them, so a resumed CPU run is bitwise identical
  to an uninterrupted one.
- **elastic** files `elastic-<global step>.pt`, written by rank 0 of `nac.distributed.ddp`
  (`"elastic": 1` instead of `"version"`, as since their first release): the step inside the
  epoch and the epoch's running totals, so a group restarted at another world size resumes
  mid-epoch.

Both are plain tensors and values (`torch.load(weights_only=True)`); both are keyed by
`run_fingerprint` (architecture + every hyperparameter that changes the computation), so a
directory of another run is refused instead of silently resumed. Files are written through
`nac.atomic`; the two newest of each kind are kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nac.atomic import atomic_file
from nac.documents import check_header

if TYPE_CHECKING:
    from nac.spec import ArchitectureSpec
    from nac.training import EpochRecord, TrainConfig

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "CHECKPOINTS_KEPT",
    "ELASTIC_CHECKPOINT_VERSION",
    "check_elastic",
    "epoch_state",
    "elastic_state",
    "list_checkpoints",
    "load_epoch_checkpoint",
    "refuse_other_run",
    "restore_epoch_state",
    "restore_weights",
    "run_fingerprint",
    "save_checkpoint",
    "weights_sha256",
]

_log = logging.getLogger(__name__)

#: "format" field of every checkpoint file.
CHECKPOINT_FORMAT = "nac-checkpoint"
#: Epoch checkpoint layout version; files of another version are skipped as unreadable.
CHECKPOINT_VERSION = 1
#: Elastic checkpoint layout version (stored under the "elastic" key).
ELASTIC_CHECKPOINT_VERSION = 1
#: Checkpoints of each kind kept in a directory (the newest and one fallback).
CHECKPOINTS_KEPT = 2

_EPOCH_KEYS = ("model", "optimizer", "scheduler", "rng_cpu", "history", "fingerprint")
_ELASTIC_KEYS = ("model", "optimizer", "scheduler", "epoch", "step", "global_step", "history",
                 "fingerprint", "acc_loss", "acc_correct", "acc_seen")
_HINT = "it is skipped; the run resumes from an older checkpoint or starts over"


def run_fingerprint(spec: ArchitectureSpec, config: TrainConfig, init: str | None = None) -> str:
    """sha256 of what changes the computation; a checkpoint resumes only a matching run.

    `init` names the starting weights of a fine-tuning run (nac.finetune), so a run from one
    parent model never resumes a run from another.
    """
    doc: dict[str, Any] = {"spec": spec.to_json(), "config": config.fingerprint()}
    if init is not None:
        doc["init"] = init
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def weights_sha256(model: Any) -> str:
    """sha256 over the state dict's tensors in key order (equal weights -> equal digest)."""
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def list_checkpoints(directory: Path, prefix: str = "ckpt") -> list[tuple[int, Path]]:
    """(number, path) of `<prefix>-<number>.pt` files in `directory`, newest first."""
    pattern = re.compile(rf"{re.escape(prefix)}-(\d+)\.pt")
    found = [(int(m.group(1)), p) for p in directory.glob(f"{prefix}-*.pt")
             if (m := pattern.fullmatch(p.name))]
    return sorted(found, reverse=True)


def save_checkpoint(directory: Path, name: str, state: dict[str, Any], prefix: str) -> None:
    """Write `state` to `directory/name` atomically; keep the newest CHECKPOINTS_KEPT."""
    with atomic_file(directory / name, "wb") as fh:
        torch.save(state, fh)
    for _, old in list_checkpoints(directory, prefix)[CHECKPOINTS_KEPT:]:
        old.unlink(missing_ok=True)


def _require(state: dict[str, Any], keys: tuple[str, ...], where: str) -> dict[str, Any]:
    for key in keys:
        if key not in state:
            raise ValueError(f"{where}: missing {key!r}; {_HINT}")
    return state


def refuse_other_run(directory: Path, what: str) -> ValueError:
    """The error for a checkpoint directory that holds another run's files."""
    return ValueError(f"checkpoint_dir: {directory} holds checkpoints of a different run (other "
                      f"{what}); use an empty directory per run")


# -- epoch checkpoints (nac.training) --------------------------------------------------------
def epoch_state(*, epoch: int, fingerprint: str, model: Any, optimizer: Any, scheduler: Any,
                scaler: Any | None, device: torch.device,
                history: list[EpochRecord]) -> dict[str, Any]:
    """The dict an epoch checkpoint holds (`scaler` None when AMP is off)."""
    return {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
        "epoch": epoch, "fingerprint": fingerprint,
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "stats": model.stats_state(),
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "history": [asdict(h) for h in history],
    }


def load_epoch_checkpoint(directory: Path, fingerprint: str) -> dict[str, Any] | None:
    """The newest epoch checkpoint that loads (None: none); raises if it is another run's."""
    for epoch, path in list_checkpoints(directory):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            check_header(state, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, where=str(path), hint=_HINT)
            if state.get("epoch") != epoch:
                raise ValueError(f"{path}: holds epoch {state.get('epoch')!r}, not {epoch}")
            _require(state, _EPOCH_KEYS, str(path))
        except Exception as e:  # noqa: BLE001 - any unreadable file is skipped, not fatal
            _log.warning("skipping unreadable checkpoint %s (%s)", path, e)
            continue
        if state["fingerprint"] != fingerprint:
            raise refuse_other_run(directory, "architecture or hyperparameters")
        return state
    return None


def restore_weights(state: dict[str, Any], *, model: Any, optimizer: Any,
                    scheduler: Any) -> None:
    """Load the model, optimizer and scheduler states every checkpoint kind holds."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])


def restore_epoch_state(state: dict[str, Any], *, model: Any, optimizer: Any, scheduler: Any,
                        scaler: Any, device: torch.device) -> list[dict[str, Any]]:
    """Load an epoch checkpoint into the run's objects and RNGs; return its raw history."""
    restore_weights(state, model=model, optimizer=optimizer, scheduler=scheduler)
    if state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    model.load_stats_state(state.get("stats", {}))
    torch.set_rng_state(state["rng_cpu"])
    if device.type == "cuda" and state.get("rng_cuda") is not None:
        torch.cuda.set_rng_state(state["rng_cuda"], device)
    return list(state["history"])


# -- elastic checkpoints (nac.distributed) ---------------------------------------------------
def elastic_state(*, fingerprint: str, epoch: int, step: int, global_step: int, world_size: int,
                  micro_batches: int, model: Any, optimizer: Any, scheduler: Any,
                  totals: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                  history: list[EpochRecord], coverage: list[dict[str, int]]) -> dict[str, Any]:
    """The dict an elastic checkpoint holds; `totals` = the epoch's (loss, correct, seen)."""
    acc_loss, acc_correct, acc_seen = totals
    return {
        "format": CHECKPOINT_FORMAT, "elastic": ELASTIC_CHECKPOINT_VERSION,
        "fingerprint": fingerprint, "epoch": epoch, "step": step,
        "global_step": global_step, "world_size": world_size, "micro_batches": micro_batches,
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "acc_loss": acc_loss.cpu(), "acc_correct": acc_correct.cpu(), "acc_seen": acc_seen.cpu(),
        "history": [asdict(h) for h in history], "coverage": coverage,
    }


def check_elastic(state: Any, path: Path) -> dict[str, Any]:
    """`state` when it is a complete elastic checkpoint; ValueError naming the file otherwise."""
    # The layout version lives under "elastic", not "version" (the file format predates it).
    doc = {**state, "version": state.get("elastic")} if isinstance(state, dict) else state
    check_header(doc, CHECKPOINT_FORMAT, ELASTIC_CHECKPOINT_VERSION, where=f"{path} (elastic)",
                 hint=_HINT)
    return _require(state, _ELASTIC_KEYS, str(path))
