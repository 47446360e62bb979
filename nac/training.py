"""The one training loop: NAC truncated runs, Katib trials and final training all call `train`.

    result = train(spec, train_ds, val_ds, TrainConfig(epochs=10, stats=True))
    result.val_accuracy, result.branch_stats, result.gate_stats, result.history
    evaluate(result.model, test_ds)    # accuracy, loss, predictions, confusion matrix

Defaults follow the reference's child training scaled to small data (reference/nac.md §1.4):
SGD with Nesterov momentum 0.9, weight decay 3e-4 on every parameter, per-tensor gradient-norm
clipping at 5, cosine learning-rate decay per step. Why the data path looks like this:

- Datasets here are in-memory arrays, so batches are sliced from one tensor already on the
  device (no DataLoader workers, no per-sample Python). On CUDA a dataset above
  `DEVICE_DATA_LIMIT` bytes stays in pinned host memory and is copied per batch, non-blocking.
- The epoch's order and augmentation come from a generator seeded by (seed, epoch), and the
  dropout RNG state is checkpointed, so a resumed run is bitwise identical to an uninterrupted
  one on CPU.
- channels-last memory format is ~1.8x faster for these small convolutions on CPU (oneDNN) and
  is what tensor cores want on CUDA; AMP (float16 autocast + GradScaler) is used on CUDA only.

Checkpoints (`checkpoint_dir`): `ckpt-<epoch>.pt` after every epoch, written to a temporary file
and `os.replace`d; the two newest are kept. Resume picks the newest one that loads
(`torch.load(weights_only=True)`), skipping a corrupt or partial file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nac.atomic import atomic_file
from nac.model import NACNet, StatMode, build_model, count_parameters
from nac.spec import ArchitectureSpec

__all__ = [
    "CHECKPOINT_FORMAT",
    "EpochRecord",
    "EvalResult",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "resolve_device",
    "train",
]

_log = logging.getLogger(__name__)

#: "format" field of checkpoint files.
CHECKPOINT_FORMAT = "nac-checkpoint"
#: Checkpoint layout version; others are skipped as unreadable.
CHECKPOINT_VERSION = 1
#: Datasets up to this many bytes are copied to the accelerator once.
DEVICE_DATA_LIMIT = 1 << 30
#: With `threads=None`, CPU runs on inputs of at most this many pixels (H*W) use one thread:
#: their ops are tiny, and on a shared machine a second OpenMP thread waiting for a core made
#: digits training 25-50x slower (measured); larger inputs keep torch's default.
SMALL_INPUT_PIXELS = 16 * 16
#: Checkpoints kept in `checkpoint_dir` (the newest and one fallback).
CHECKPOINTS_KEPT = 2
_CKPT_RE = re.compile(r"ckpt-(\d+)\.pt")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters and run settings of one training run (validated on creation)."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 3e-4
    schedule: str = "cosine"  # "cosine" (per step, to min_lr) or "constant"
    min_lr: float = 0.0
    grad_clip: float | None = 5.0  # per-tensor L2-norm clip, as the reference
    dropout: float | None = None  # overrides the spec's branch and head dropout
    label_smoothing: float = 0.0
    seed: int = 0
    deterministic: bool = True
    device: str = "auto"  # "auto" = CUDA when available, else CPU; or "cpu", "cuda", "cuda:1"
    amp: bool | None = None  # None = on for CUDA, off for CPU
    threads: int | None = None  # torch intra-op threads (None = auto, see SMALL_INPUT_PIXELS)
    channels_last: bool = True
    stats: bool = False  # accumulate per-branch statistics for NAC
    stat_mode: str = "mean_sq"  # "mean_sq" (MeanSSS) or "variance"
    checkpoint_dir: str | None = None
    eval_batch_size: int = 512
    val_every: int = 1  # validate every N epochs (and always after the last)

    def __post_init__(self) -> None:
        def positive_int(name: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {v!r}")

        for name in ("epochs", "batch_size", "eval_batch_size", "val_every"):
            positive_int(name)
        if self.threads is not None:
            positive_int("threads")
        for name in ("lr", "momentum", "weight_decay", "min_lr", "label_smoothing"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                    or v < 0:
                raise ValueError(f"{name}: must be a finite number >= 0, got {v!r}")
        if self.lr <= 0:
            raise ValueError(f"lr: must be > 0, got {self.lr!r}")
        if self.momentum >= 1:
            raise ValueError(f"momentum: must be in [0, 1), got {self.momentum!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov: needs momentum > 0; set nesterov=False or a momentum")
        if self.label_smoothing >= 1:
            raise ValueError(f"label_smoothing: must be in [0, 1), got {self.label_smoothing!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule: must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip: must be > 0 or None, got {self.grad_clip!r}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"dropout: must be in [0, 1) or None, got {self.dropout!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: must be an integer >= 0, got {self.seed!r}")
        try:
            StatMode(self.stat_mode)
        except ValueError:
            raise ValueError(f"stat_mode: must be one of {[m.value for m in StatMode]}, got "
                             f"{self.stat_mode!r}") from None
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, ValueError):
                raise ValueError(f"device: {self.device!r} is not a torch device; use 'auto', "
                                 "'cpu' or 'cuda'") from None

    def fingerprint(self) -> dict[str, Any]:
        """Fields that change the computation (a checkpoint resumes only a matching run)."""
        skip = {"checkpoint_dir", "threads", "device", "eval_batch_size", "val_every"}
        return {k: v for k, v in asdict(self).items() if k not in skip}


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of history (also what `on_epoch` receives)."""

    epoch: int  # 1-based, completed epochs
    epochs: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float  # wall time of this epoch


@dataclass
class EvalResult:
    accuracy: float
    loss: float
    predictions: np.ndarray  # (N,) int64 predicted class indices
    confusion: np.ndarray  # (K, K) int64, rows = true class, columns = predicted

    @property
    def error(self) -> float:
        return 1.0 - self.accuracy


@dataclass
class TrainResult:
    model: NACNet
    history: list[EpochRecord]
    val_accuracy: float | None
    val_loss: float | None
    branch_stats: dict[str, float]
    gate_stats: dict[str, float]
    seconds: float  # wall time of this call (a resumed run counts only its own part)
    parameters: int
    device: str
    resumed_from: int | None = None  # epoch of the checkpoint resumed from
    extra: dict[str, Any] = field(default_factory=dict)


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU.

    A bare "cuda" gets its index, so it compares equal to the device tensors report
    (`cuda:0`) and the training loop keeps on-GPU data on its fast path.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    resolved = torch.device(device)
    if resolved.type == "cuda" and resolved.index is None and torch.cuda.is_available():
        resolved = torch.device("cuda", torch.cuda.current_device())
    return resolved


# -- data --------------------------------------------------------------------------------
def _check_data(spec: ArchitectureSpec, ds: Any, name: str) -> None:
    shape = tuple(int(v) for v in ds.x.shape[1:])
    if shape != tuple(spec.input_shape):
        raise ValueError(f"{name}: examples have shape {list(shape)} but the architecture's "
                         f"input_shape is {list(spec.input_shape)}; build the spec for this data")
    if ds.y.size and int(ds.y.max()) >= spec.num_classes:
        raise ValueError(f"{name}: labels go up to {int(ds.y.max())} but the architecture has "
                         f"num_classes={spec.num_classes}")
    if len(ds.y) == 0:
        raise ValueError(f"{name}: has no rows")


def _tensors(ds: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.ascontiguousarray(ds.normalized_x(), dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(ds.y, dtype=np.int64))
    if device.type != "cpu":
        if x.numel() * 4 <= DEVICE_DATA_LIMIT:
            return x.to(device), y.to(device)
        return x.pin_memory(), y.pin_memory()
    return x, y


def _augment(x: torch.Tensor, settings: dict | None, g: torch.Generator) -> torch.Tensor:
    """Vectorised `nac.data.augment` semantics: shift by up to k px (zero pad), hflip half."""
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


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


# -- optimisation helpers ----------------------------------------------------------------
def _clip_per_tensor(params: list[torch.Tensor], max_norm: float) -> None:
    """Scale each gradient whose L2 norm exceeds max_norm (tf.clip_by_norm per tensor)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    norms = torch.stack(torch._foreach_norm(grads))
    scales = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
    torch._foreach_mul_(grads, list(scales.unbind(0)))


def _lr_lambda(total_steps: int, schedule: str, floor: float) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if schedule == "constant":
            return 1.0
        t = min(step, total_steps) / max(1, total_steps)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

    return factor


def _threads(config: TrainConfig, spec: ArchitectureSpec, device: torch.device) -> int | None:
    if config.threads is not None:
        return config.threads
    if device.type == "cpu" and spec.input_shape[1] * spec.input_shape[2] <= SMALL_INPUT_PIXELS:
        return 1
    return None


@contextmanager
def _run_settings(config: TrainConfig, threads_wanted: int | None):
    """Thread count and determinism for the run; restored afterwards."""
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    det_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        if threads_wanted is not None:
            torch.set_num_threads(threads_wanted)
        if config.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det, warn_only=det_warn)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


# -- checkpoints -------------------------------------------------------------------------
def _fingerprint(spec: ArchitectureSpec, config: TrainConfig, init: str | None = None) -> str:
    doc = {"spec": spec.to_json(), "config": config.fingerprint()}
    if init is not None:  # a run started from a parent model resumes only that run
        doc["init"] = init
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _checkpoints(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for p in directory.glob("ckpt-*.pt"):
        m = _CKPT_RE.fullmatch(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found, reverse=True)


def _save_checkpoint(directory: Path, epoch: int, state: dict[str, Any]) -> None:
    with atomic_file(directory / f"ckpt-{epoch:04d}.pt", "wb") as fh:
        torch.save(state, fh)
    for _, old in _checkpoints(directory)[CHECKPOINTS_KEPT:]:
        old.unlink(missing_ok=True)


def _load_checkpoint(directory: Path, fingerprint: str) -> dict[str, Any] | None:
    """The newest checkpoint that loads; raises if it belongs to a different run."""
    for epoch, path in _checkpoints(directory):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT \
                    or state.get("version") != CHECKPOINT_VERSION or state.get("epoch") != epoch:
                raise ValueError("not a complete nac checkpoint")
            for key in ("model", "optimizer", "scheduler", "rng_cpu", "history", "fingerprint"):
                if key not in state:
                    raise ValueError(f"missing {key!r}")
        except Exception as e:  # noqa: BLE001 - any unreadable file is skipped, not fatal
            _log.warning("skipping unreadable checkpoint %s (%s)", path, e)
            continue
        if state["fingerprint"] != fingerprint:
            raise ValueError(
                f"checkpoint_dir: {directory} holds checkpoints of a different run (other "
                "architecture or hyperparameters); use an empty directory per run")
        return state
    return None


# -- the loop ----------------------------------------------------------------------------
def train(
    spec: ArchitectureSpec,
    train_ds: Any,
    val_ds: Any | None = None,
    config: TrainConfig | None = None,
    *,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    init: Callable[[NACNet], NACNet | None] | None = None,
) -> TrainResult:
    """Train `spec` from scratch (or resume from `config.checkpoint_dir`) on `train_ds`.

    `train_ds` / `val_ds` are `nac.data.Dataset`s (anything with `x`, `y`, `normalized_x()` and
    `augmentation`); the train split's augmentation is applied on the fly. Validation runs after
    every epoch when `val_ds` is given. Returns the trained model (in eval mode), history,
    final validation metrics, and the branch statistics / gate values when `config.stats`.
    `init(model)` runs on the freshly built network before the optimiser sees it: it may load
    weights and freeze parameters, or return another module to train (a pruned copy); its
    `fingerprint` attribute, when set, keys the checkpoints (nac.finetune).
    """
    config = config or TrainConfig()
    _check_data(spec, train_ds, "train_ds")
    if val_ds is not None:
        _check_data(spec, val_ds, "val_ds")
    device = resolve_device(config.device)
    amp = (device.type == "cuda") if config.amp is None else (config.amp and device.type == "cuda")
    started = time.perf_counter()
    with _run_settings(config, _threads(config, spec, device)):
        random.seed(config.seed)
        torch.manual_seed(config.seed)
        model = build_model(spec, dropout=config.dropout)
        if init is not None:  # fine-tuning / pruning (nac.finetune): start from given weights
            model = init(model) or model
        model = model.to(device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.channels_last = config.channels_last
        if config.stats:
            model.enable_stats(config.stat_mode)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                    nesterov=config.nesterov, weight_decay=config.weight_decay,
                                    foreach=True)
        x_all, y_all = _tensors(train_ds, device)
        # Validation batches are copied to the device one at a time, as `evaluate` does.
        val_tensors = _tensors(val_ds, torch.device("cpu")) if val_ds is not None else None
        n = len(y_all)
        batch = min(config.batch_size, n)
        steps_per_epoch = n // batch  # drop the ragged tail: a 1-row batch breaks BatchNorm
        total_steps = steps_per_epoch * config.epochs
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, _lr_lambda(total_steps, config.schedule, config.min_lr / config.lr))
        scaler = torch.amp.GradScaler("cuda", enabled=amp)
        history: list[EpochRecord] = []
        start_epoch, resumed_from = 0, None
        ckpt_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None
        fingerprint = _fingerprint(spec, config, getattr(init, "fingerprint", None))
        if ckpt_dir is not None and ckpt_dir.is_dir():
            for stale in ckpt_dir.glob(".ckpt-*.tmp"):  # a write killed half-way
                stale.unlink(missing_ok=True)
            state = _load_checkpoint(ckpt_dir, fingerprint)
            if state is not None:
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
                if state.get("scaler"):
                    scaler.load_state_dict(state["scaler"])
                model.load_stats_state(state.get("stats", {}))
                torch.set_rng_state(state["rng_cpu"])
                if device.type == "cuda" and state.get("rng_cuda") is not None:
                    torch.cuda.set_rng_state(state["rng_cuda"], device)
                history = [EpochRecord(**h) for h in state["history"]]
                start_epoch = resumed_from = int(state["epoch"])
        augmentation = getattr(train_ds, "augmentation", None)
        memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        autocast = (torch.autocast("cuda", dtype=torch.float16) if amp else nullcontext())
        val_loss = val_acc = None
        for h in history:
            if h.val_accuracy is not None:
                val_loss, val_acc = h.val_loss, h.val_accuracy
        for epoch in range(start_epoch, config.epochs):
            t0 = time.perf_counter()
            model.train()
            g = _epoch_generator(config.seed, epoch)
            order = torch.randperm(n, generator=g)
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            for step in range(steps_per_epoch):
                idx = order[step * batch:(step + 1) * batch]
                if x_all.device != device:
                    xb = x_all[idx].to(device, non_blocking=True)
                    yb = y_all[idx].to(device, non_blocking=True)
                else:
                    idx = idx.to(device)
                    xb, yb = x_all[idx], y_all[idx]
                xb = _augment(xb, augmentation, g).contiguous(memory_format=memory_format)
                with autocast:
                    logits = model(xb)
                    loss = F.cross_entropy(logits, yb, label_smoothing=config.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.grad_clip is not None:
                    scaler.unscale_(optimizer)
                    _clip_per_tensor(params, config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                loss_sum += loss.detach().float() * len(yb)
                correct += (logits.detach().argmax(1) == yb).sum()
            seen = max(1, steps_per_epoch * batch)
            ep_val_loss = ep_val_acc = None
            if val_ds is not None and ((epoch + 1) % config.val_every == 0
                                       or epoch + 1 == config.epochs):
                ev = _evaluate_tensors(model, *val_tensors, batch_size=config.eval_batch_size)
                val_loss, val_acc = ep_val_loss, ep_val_acc = ev.loss, ev.accuracy
            record = EpochRecord(
                epoch=epoch + 1, epochs=config.epochs, train_loss=float(loss_sum) / seen,
                train_accuracy=float(correct) / seen, val_loss=ep_val_loss, val_accuracy=ep_val_acc,
                lr=float(optimizer.param_groups[0]["lr"]), seconds=time.perf_counter() - t0)
            history.append(record)
            if ckpt_dir is not None:
                _save_checkpoint(ckpt_dir, epoch + 1, {
                    "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
                    "epoch": epoch + 1, "fingerprint": fingerprint,
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict() if amp else None,
                    "stats": model.stats_state(),
                    "rng_cpu": torch.get_rng_state(),
                    "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda"
                    else None,
                    "history": [asdict(h) for h in history],
                })
            if on_epoch is not None:
                on_epoch(record)
        model.eval()
        branch_stats = model.branch_stats() if config.stats else {}
        gate_stats = model.gate_values()
    return TrainResult(
        model=model, history=history, val_accuracy=val_acc, val_loss=val_loss,
        branch_stats=branch_stats, gate_stats=gate_stats,
        seconds=time.perf_counter() - started, parameters=count_parameters(model),
        device=str(device), resumed_from=resumed_from)


def evaluate(model: nn.Module, dataset: Any, *, batch_size: int = 512) -> EvalResult:
    """Accuracy, mean cross-entropy, predictions and confusion matrix of `model` on `dataset`.

    Uses the dataset's stored normalisation; the model is put in eval mode (and restored).
    """
    return _evaluate_tensors(model, *_tensors(dataset, torch.device("cpu")),
                             batch_size=batch_size)


@torch.no_grad()
def _evaluate_tensors(model: nn.Module, x_all: torch.Tensor, y_all: torch.Tensor, *,
                      batch_size: int) -> EvalResult:
    """`evaluate` on CPU tensors from `_tensors` (built once per run by `train`)."""
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        channels_last = bool(getattr(model, "channels_last", False))
        num_classes = int(getattr(getattr(model, "spec", None), "num_classes", 0)) or \
            int(y_all.max()) + 1
        preds, loss_sum = [], 0.0
        for start in range(0, len(y_all), batch_size):
            xb = x_all[start:start + batch_size].to(device)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yb = y_all[start:start + batch_size].to(device)
            logits = model(xb).float()
            loss_sum += float(F.cross_entropy(logits, yb, reduction="sum"))
            preds.append(logits.argmax(1).cpu())
        pred = torch.cat(preds).numpy().astype(np.int64) if preds else np.zeros(0, np.int64)
        truth = y_all.numpy()
        confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
        np.add.at(confusion, (truth, pred), 1)
        rows = max(1, len(truth))
        return EvalResult(accuracy=float((pred == truth).sum()) / rows, loss=loss_sum / rows,
                          predictions=pred, confusion=confusion)
    finally:
        model.train(was_training)
