"""The one training loop: NAC truncated runs, Katib trials and final training all call `train`.

    result = train(spec, train_ds, val_ds, TrainConfig(epochs=10, stats=True))
    result.val_accuracy, result.branch_stats, result.gate_stats, result.history
    evaluate(result.model, test_ds)    # accuracy, loss, predictions, confusion matrix

Defaults follow the reference's child training scaled to small data (reference/nac.md §1.4):
SGD with Nesterov momentum 0.9, weight decay 3e-4 on every parameter, per-tensor gradient-norm
clipping at 5, cosine learning-rate decay per step. Why the data path looks like this:

- Datasets here are in-memory arrays, so batches are sliced from one tensor already on the
  device (nac/batches.py); the optimiser, schedule and thread rule are nac/optimization.py's.
  Both are shared with the DDP loop (nac/distributed/ddp.py), so the two train the same way.
- The epoch's order and augmentation come from a generator seeded by (seed, epoch), and the
  dropout RNG state is checkpointed, so a resumed run is bitwise identical to an uninterrupted
  one on CPU.
- channels-last memory format on CPU and CUDA; AMP (float16 autocast + GradScaler) on CUDA only.

Checkpoints (`checkpoint_dir`): `ckpt-<epoch>.pt` after every epoch, written to a temporary file
and `os.replace`d; the two newest are kept. Resume picks the newest one that loads
(`torch.load(weights_only=True)`), skipping a corrupt or partial file. Their layout is
nac/checkpoint.py's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from nac.batches import augment, check_splits, epoch_generator, to_tensors
from nac.checkpoint import (
    CHECKPOINT_FORMAT,
    epoch_state,
    load_epoch_checkpoint,
    restore_epoch_state,
    run_fingerprint,
    save_checkpoint,
)
from nac.errors import FieldError
from nac.evaluation import EvalResult, evaluate, evaluate_tensors
from nac.model import NACNet, count_parameters
from nac.optimization import (
    build_network,
    clip_per_tensor,
    default_threads,
    make_optimizer,
    run_settings,
)
from nac.spec import ArchitectureSpec
from nac.stat_mode import StatMode

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


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters and run settings of one training run (validated on creation).

    A bad value raises `nac.errors.FieldError` (a ValueError) whose `path` is the field name.
    """

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
    threads: int | None = None  # torch intra-op threads (None = auto, nac.optimization)
    channels_last: bool = True
    stats: bool = False  # accumulate per-branch statistics for NAC
    stat_mode: StatMode | str = StatMode.MEANSSS  # "meansss" or "variance" ("mean_sq" = meansss)
    checkpoint_dir: str | None = None
    eval_batch_size: int = 512
    val_every: int = 1  # validate every N epochs (and always after the last)

    def __post_init__(self) -> None:
        def positive_int(name: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise FieldError(name, f"must be an integer >= 1, got {v!r}")

        for name in ("epochs", "batch_size", "eval_batch_size", "val_every"):
            positive_int(name)
        if self.threads is not None:
            positive_int("threads")
        for name in ("lr", "momentum", "weight_decay", "min_lr", "label_smoothing"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                    or v < 0:
                raise FieldError(name, f"must be a finite number >= 0, got {v!r}")
        if self.lr <= 0:
            raise FieldError("lr", f"must be > 0, got {self.lr!r}")
        if self.momentum >= 1:
            raise FieldError("momentum", f"must be in [0, 1), got {self.momentum!r}")
        if self.nesterov and self.momentum == 0:
            raise FieldError("nesterov", "needs momentum > 0; set nesterov=False or a momentum")
        if self.label_smoothing >= 1:
            raise FieldError("label_smoothing", f"must be in [0, 1), got {self.label_smoothing!r}")
        if self.schedule not in ("cosine", "constant"):
            raise FieldError("schedule", f"must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise FieldError("grad_clip", f"must be > 0 or None, got {self.grad_clip!r}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise FieldError("dropout", f"must be in [0, 1) or None, got {self.dropout!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise FieldError("seed", f"must be an integer >= 0, got {self.seed!r}")
        try:
            object.__setattr__(self, "stat_mode", StatMode(self.stat_mode))
        except ValueError:
            raise FieldError("stat_mode", f"must be one of {[m.value for m in StatMode]}, got "
                             f"{self.stat_mode!r}") from None
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, ValueError):
                raise FieldError("device", f"{self.device!r} is not a torch device; use 'auto', "
                                 "'cpu' or 'cuda'") from None

    def fingerprint(self) -> dict[str, Any]:
        """Fields that change the computation (a checkpoint resumes only a matching run)."""
        skip = {"checkpoint_dir", "threads", "device", "eval_batch_size", "val_every"}
        doc = {k: v for k, v in asdict(self).items() if k not in skip}
        # Checkpoints of releases before the statistic's rename keep resuming: same key.
        doc["stat_mode"] = "mean_sq" if self.stat_mode is StatMode.MEANSSS else str(self.stat_mode)
        return doc


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


def validation_due(config: TrainConfig, epoch: int) -> bool:
    """Whether 0-based `epoch` ends with validation (every `val_every`, and always the last)."""
    return (epoch + 1) % config.val_every == 0 or epoch + 1 == config.epochs


def last_validation(history: list[EpochRecord]) -> tuple[float | None, float | None]:
    """(val_loss, val_accuracy) of the newest validated epoch; (None, None) if none was."""
    for h in reversed(history):
        if h.val_accuracy is not None:
            return h.val_loss, h.val_accuracy
    return None, None


@dataclass(frozen=True)
class _Batches:
    """One run's training tensors and how an epoch cuts them (the ragged tail is dropped:
    a 1-row batch breaks BatchNorm)."""

    x: torch.Tensor
    y: torch.Tensor
    size: int
    steps: int
    augmentation: dict | None
    memory_format: torch.memory_format


def _restore(ckpt_dir: Path | None, fingerprint: str, *, model: NACNet, optimizer: Any,
             scheduler: Any, scaler: Any, device: torch.device
             ) -> tuple[list[EpochRecord], int | None]:
    """(history, epoch resumed from) after loading the newest checkpoint of this run, if any."""
    if ckpt_dir is None or not ckpt_dir.is_dir():
        return [], None
    for stale in ckpt_dir.glob(".ckpt-*.tmp"):  # a write killed half-way
        stale.unlink(missing_ok=True)
    state = load_epoch_checkpoint(ckpt_dir, fingerprint)
    if state is None:
        return [], None
    raw = restore_epoch_state(state, model=model, optimizer=optimizer, scheduler=scheduler,
                              scaler=scaler, device=device)
    return [EpochRecord(**h) for h in raw], int(state["epoch"])


def _run_epoch(model: NACNet, data: _Batches, epoch: int, config: TrainConfig, *,
               params: list[torch.Tensor], optimizer: Any, scheduler: Any, scaler: Any,
               amp: bool, device: torch.device) -> tuple[float, float]:
    """One epoch of SGD steps; (summed loss, correct predictions) over the rows seen."""
    model.train()
    g = epoch_generator(config.seed, epoch)
    order = torch.randperm(len(data.y), generator=g)
    autocast = torch.autocast("cuda", dtype=torch.float16) if amp else nullcontext()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    for step in range(data.steps):
        idx = order[step * data.size:(step + 1) * data.size]
        if data.x.device != device:
            xb = data.x[idx].to(device, non_blocking=True)
            yb = data.y[idx].to(device, non_blocking=True)
        else:
            idx = idx.to(device)
            xb, yb = data.x[idx], data.y[idx]
        xb = augment(xb, data.augmentation, g).contiguous(memory_format=data.memory_format)
        with autocast:
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if config.grad_clip is not None:
            scaler.unscale_(optimizer)
            clip_per_tensor(params, config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        loss_sum += loss.detach().float() * len(yb)
        correct += (logits.detach().argmax(1) == yb).sum()
    return float(loss_sum), float(correct)


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
    check_splits(spec, train_ds, val_ds)
    device = resolve_device(config.device)
    amp = (device.type == "cuda") if config.amp is None else (config.amp and device.type == "cuda")
    started = time.perf_counter()
    with run_settings(config, default_threads(config.threads, spec.input_shape, device)):
        model = build_network(spec, config, device, init)
        x_all, y_all = to_tensors(train_ds, device)
        # Validation batches are copied to the device one at a time, as `evaluate` does.
        val_tensors = to_tensors(val_ds, torch.device("cpu")) if val_ds is not None else None
        size = min(config.batch_size, len(y_all))
        data = _Batches(x=x_all, y=y_all, size=size, steps=len(y_all) // size,
                        augmentation=getattr(train_ds, "augmentation", None),
                        memory_format=torch.channels_last if config.channels_last
                        else torch.contiguous_format)
        params, optimizer, scheduler = make_optimizer(model, config, data.steps)
        scaler = torch.amp.GradScaler("cuda", enabled=amp)
        ckpt_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None
        fingerprint = run_fingerprint(spec, config, getattr(init, "fingerprint", None))
        history, resumed_from = _restore(ckpt_dir, fingerprint, model=model, optimizer=optimizer,
                                         scheduler=scheduler, scaler=scaler, device=device)
        for epoch in range(resumed_from or 0, config.epochs):
            t0 = time.perf_counter()
            loss_sum, correct = _run_epoch(model, data, epoch, config, params=params,
                                           optimizer=optimizer, scheduler=scheduler,
                                           scaler=scaler, amp=amp, device=device)
            seen = max(1, data.steps * data.size)
            ev = evaluate_tensors(model, *val_tensors, batch_size=config.eval_batch_size) \
                if val_tensors is not None and validation_due(config, epoch) else None
            record = EpochRecord(
                epoch=epoch + 1, epochs=config.epochs, train_loss=loss_sum / seen,
                train_accuracy=correct / seen, val_loss=ev.loss if ev else None,
                val_accuracy=ev.accuracy if ev else None,
                lr=float(optimizer.param_groups[0]["lr"]), seconds=time.perf_counter() - t0)
            history.append(record)
            if ckpt_dir is not None:
                save_checkpoint(ckpt_dir, f"ckpt-{epoch + 1:04d}.pt", epoch_state(
                    epoch=epoch + 1, fingerprint=fingerprint, model=model, optimizer=optimizer,
                    scheduler=scheduler, scaler=scaler if amp else None, device=device,
                    history=history), "ckpt")
            if on_epoch is not None:
                on_epoch(record)
        model.eval()
        branch_stats = model.branch_stats() if config.stats else {}
        gate_stats = model.gate_values()
    val_loss, val_acc = last_validation(history)
    return TrainResult(
        model=model, history=history, val_accuracy=val_acc, val_loss=val_loss,
        branch_stats=branch_stats, gate_stats=gate_stats,
        seconds=time.perf_counter() - started, parameters=count_parameters(model),
        device=str(device), resumed_from=resumed_from)
