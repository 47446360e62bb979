"""Training data as tensors: the checks, the device copy, the per-epoch order and augmentation.

Shared by `nac.training.train` (one process) and `nac.distributed.ddp.train_ddp` (a torchrun
group), so both read, place and augment data with the same code. Datasets here are in-memory
arrays, so batches are sliced from one tensor (no DataLoader workers, no per-sample Python):
on CUDA a dataset of at most `DEVICE_DATA_LIMIT` bytes is copied to the device once, a larger
one stays in pinned host memory and is copied per batch, non-blocking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from nac.spec import ArchitectureSpec

__all__ = ["DEVICE_DATA_LIMIT", "augment", "check_data", "check_splits", "epoch_generator",
           "to_tensors"]

#: Datasets up to this many bytes are copied to the accelerator once.
DEVICE_DATA_LIMIT = 1 << 30


def check_data(spec: ArchitectureSpec, ds: Any, name: str) -> None:
    """Refuse a split whose shape, labels or size cannot train `spec` (message names `name`)."""
    shape = tuple(int(v) for v in ds.x.shape[1:])
    if shape != tuple(spec.input_shape):
        raise ValueError(f"{name}: examples have shape {list(shape)} but the architecture's "
                         f"input_shape is {list(spec.input_shape)}; build the spec for this data")
    if ds.y.size and int(ds.y.max()) >= spec.num_classes:
        raise ValueError(f"{name}: labels go up to {int(ds.y.max())} but the architecture has "
                         f"num_classes={spec.num_classes}")
    if len(ds.y) == 0:
        raise ValueError(f"{name}: has no rows")


def check_splits(spec: ArchitectureSpec, train_ds: Any, val_ds: Any | None) -> None:
    """`check_data` on the train split and, when given, the validation split."""
    check_data(spec, train_ds, "train_ds")
    if val_ds is not None:
        check_data(spec, val_ds, "val_ds")


def to_tensors(ds: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(normalised x float32, y int64) of a dataset, placed for `device` (see module doc)."""
    x = torch.from_numpy(np.ascontiguousarray(ds.normalized_x(), dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(ds.y, dtype=np.int64))
    if device.type != "cpu":
        if x.numel() * 4 <= DEVICE_DATA_LIMIT:
            return x.to(device), y.to(device)
        return x.pin_memory(), y.pin_memory()
    return x, y


def augment(x: torch.Tensor, settings: dict | None, g: torch.Generator) -> torch.Tensor:
    """The train split's recorded augmentation (nac.data.augment), vectorised over the batch.

    Shift each image by up to `random_shift` px in H and W (zero padding in normalised space,
    i.e. the channel mean), then mirror each left-right with probability 1/2 when `hflip`.
    Draws come from `g` in this order (dy, dx, flip), so a seeded generator replays a batch.
    """
    if not settings:
        return x
    n, _, h, w = x.shape
    k = int(settings.get("random_shift", 0) or 0)
    if k:
        dy = torch.randint(0, 2 * k + 1, (n,), generator=g).to(x.device)
        dx = torch.randint(0, 2 * k + 1, (n,), generator=g).to(x.device)
        padded = F.pad(x, (k, k, k, k))
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]
        idx = torch.arange(n, device=x.device)[:, None, None]
        x = padded[idx, :, rows, cols].permute(0, 3, 1, 2)
    if settings.get("hflip"):
        flip = (torch.rand(n, generator=g) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of one epoch's order and augmentation: a function of (seed, epoch) only,
    so a run resumed at an epoch boundary draws exactly what the uninterrupted run drew."""
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)
