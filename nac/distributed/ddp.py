"""`train` under DDP, world-size invariant, with step checkpoints that any world size resumes.

Why it is built this way:

- **Data**: `DistributedSampler(shuffle=True, drop_last=True, seed=config.seed)` with
  `set_epoch(epoch)`: its permutation depends only on (seed, epoch) and each rank takes every
  W-th position. Rank r's b = B/W contiguous samples at step k are the global positions
  k*B + r + W*i, so the union over ranks is always the same global batch whatever W is. A
  resumed epoch skips `step * B / W` samples on every rank, which skips exactly the first
  `step * B` positions of the permutation at any world size.
- **Micro-batches**: the global batch is cut into M = `micro_batches` interleaved micro-batches
  (positions congruent to j mod M); rank r runs j = r, r+W, ... and accumulates their gradients
  (DDP `no_sync` for all but the last). BatchNorm therefore always sees the same samples
  together, the dropout/augmentation RNG is seeded per (seed, epoch, step, j), and only
  micro-batch 0 updates the BatchNorm running statistics (the others run with momentum 0), so
  a step computes the same function of the weights at every world size. With M and W powers of
  two the loss scaling is exact and the weights match bit for bit across 1 and 2 workers.
- **Learning rate**: `config.lr` is the rate of the global batch `config.batch_size`; neither is
  rescaled when workers come or go (no linear-scaling rule: it would change the trajectory at
  every membership change).
- **One writer**: rank 0 writes `elastic-<global step>.pt` through `nac.atomic` every
  `checkpoint_every` steps and at each epoch end; every rank resumes from the step rank 0
  picked (broadcast), so a restarted group never mixes checkpoints. Files hold only tensors and
  plain values (`torch.load(weights_only=True)`).
- **Fail fast**: the process group's collective timeout (`collective_timeout`, seconds) turns a
  hung or vanished peer into an exception instead of a hang; torchrun then restarts the group.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler

from nac.batches import augment, check_splits, to_tensors
from nac.checkpoint import elastic_state, restore_weights, run_fingerprint, weights_sha256
from nac.distributed.checkpoints import (
    elastic_path,
    load_elastic_checkpoint,
    newest_loadable,
    save_checkpoint,
)
from nac.errors import FieldError
from nac.evaluation import evaluate_tensors
from nac.model import count_parameters
from nac.optimization import (
    build_network,
    clip_per_tensor,
    default_threads,
    make_optimizer,
    run_settings,
)
from nac.spec import ArchitectureSpec
from nac.training import (
    EpochRecord,
    TrainConfig,
    TrainResult,
    last_validation,
    resolve_device,
    validation_due,
)

__all__ = ["ElasticConfig", "Preempted", "StepRecord", "World", "train_ddp", "world_from_env"]


@dataclass(frozen=True)
class ElasticConfig:
    """Distributed settings that are not hyperparameters (validated on creation)."""

    micro_batches: int = 2  # global batch split; every world size must divide it
    checkpoint_every: int = 10  # steps between checkpoints (lost work <= this on a failure)
    collective_timeout: float = 60.0  # seconds before a collective with a dead peer raises
    backend: str = "auto"  # "auto" = nccl on CUDA, gloo on CPU

    def __post_init__(self) -> None:
        for name in ("micro_batches", "checkpoint_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {v!r}")
        if not self.collective_timeout > 0:
            raise ValueError(f"collective_timeout: must be > 0 seconds, got "
                             f"{self.collective_timeout!r}")
        if self.backend not in ("auto", "gloo", "nccl"):
            raise ValueError(f"backend: must be 'auto', 'gloo' or 'nccl', got {self.backend!r}")


class Preempted(RuntimeError):
    """The group stopped on request after checkpointing (resume by relaunching)."""


@dataclass(frozen=True)
class World:
    """This process's place in the group, as torchrun's environment describes it."""

    rank: int
    world_size: int
    local_rank: int
    restart_count: int
    run_id: str


def world_from_env(env: dict[str, str] | None = None) -> World | None:
    """The torchrun (or Training Operator) world, or None outside a distributed launcher."""
    env = dict(os.environ) if env is None else env
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    try:
        return World(rank=int(env["RANK"]), world_size=int(env["WORLD_SIZE"]),
                     local_rank=int(env.get("LOCAL_RANK", "0")),
                     restart_count=int(env.get("TORCHELASTIC_RESTART_COUNT", "0")),
                     run_id=env.get("TORCHELASTIC_RUN_ID", ""))
    except ValueError as e:
        raise ValueError(f"RANK/WORLD_SIZE/LOCAL_RANK: not integers ({e}); launch the "
                         "workers with torchrun") from None


@dataclass(frozen=True)
class StepRecord:
    """One optimizer step (what `on_step` receives on rank 0)."""

    epoch: int  # 0-based epoch of the step
    step: int  # steps done in this epoch (1-based)
    global_step: int
    world_size: int
    loss: float  # rank 0's share of the step's loss
    time: float  # wall clock (time.time()) when the step finished


# -- process group -----------------------------------------------------------------------
def _init_group(world: World, elastic: ElasticConfig, device: torch.device) -> None:
    backend = elastic.backend
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and device.type != "cuda":
        raise ValueError("backend: nccl needs a CUDA device; use gloo (or 'auto') on CPU")
    dist.init_process_group(backend, init_method="env://", rank=world.rank,
                            world_size=world.world_size,
                            timeout=timedelta(seconds=elastic.collective_timeout),
                            device_id=device if device.type == "cuda" else None)


def _device_for(config: TrainConfig, world: World) -> torch.device:
    device = resolve_device(config.device)
    if device.type == "cuda":  # one GPU per local rank
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    return device


# -- helpers -----------------------------------------------------------------------------
def _check_split(config: TrainConfig, elastic: ElasticConfig, world_size: int, n: int) -> None:
    b, m = config.batch_size, elastic.micro_batches
    if b % m:
        raise FieldError("batch_size", f"the global batch {b} must be a multiple of "
                         f"micro_batches={m}")
    if m % world_size:
        raise ValueError(f"world size {world_size}: cannot split micro_batches={m} evenly; "
                         f"launch with --nnodes=MIN:MAX whose sizes all divide {m}, or set "
                         "micro_batches to a common multiple of every world size")
    if b > n:
        raise FieldError("batch_size", f"the global batch {b} exceeds the {n} training rows")


def _mb_seed(seed: int, epoch: int, step: int, micro: int) -> int:
    return (((seed * 1_000_003 + epoch) * 1_000_033 + step) * 1_009 + micro) % (2**63 - 1)


@contextmanager
def _running_stats_frozen(model: nn.Module, frozen: bool) -> Iterator[None]:
    """BatchNorm with momentum 0 (running statistics untouched, counter restored)."""
    if not frozen:
        yield
        return
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.num_batches_tracked.clone()
              if m.num_batches_tracked is not None else None) for m in bns]
    for m in bns:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(bns, saved, strict=True):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


# -- the loop ----------------------------------------------------------------------------
def train_ddp(
    spec: ArchitectureSpec,
    train_ds: Any,
    val_ds: Any | None = None,
    config: TrainConfig | None = None,
    elastic: ElasticConfig | None = None,
    *,
    world: World | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    on_step: Callable[[StepRecord], None] | None = None,
    on_resume: Callable[[dict[str, Any]], None] | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train `spec` as one member of a torchrun group (or resume the group's checkpoint).

    Callbacks run on rank 0 only. When `stop_requested()` turns true on any rank (the worker
    CLI wires it to SIGTERM, which torchrun sends before restarting a group for a new member),
    the group checkpoints after the current step and raises `Preempted`, so a scale-up loses
    no work. Returns the trained model on every rank; validation metrics,
    history and `extra` (coverage per epoch, weights digest) are meaningful on rank 0.
    """
    config = config or TrainConfig()
    elastic = elastic or ElasticConfig()
    world = world or world_from_env()
    if world is None:
        raise ValueError("train_ddp: no RANK/WORLD_SIZE in the environment; launch under "
                         "torchrun (python -m torch.distributed.run) or use nac.training.train")
    if config.stats:
        raise ValueError("stats: NAC branch statistics are per process; collect them with a "
                         "single-worker run (workers=1)")
    check_splits(spec, train_ds, val_ds)
    n = len(train_ds.y)
    _check_split(config, elastic, world.world_size, n)
    device = _device_for(config, world)
    started = time.perf_counter()
    _init_group(world, elastic, device)
    try:
        with run_settings(config, default_threads(config.threads, spec.input_shape, device)):
            return _loop(spec, train_ds, val_ds, config, elastic, world, device, started,
                         on_epoch, on_step, on_resume, stop_requested)
    finally:
        dist.destroy_process_group()


def _loop(spec: ArchitectureSpec, train_ds: Any, val_ds: Any | None, config: TrainConfig,
          elastic: ElasticConfig, world: World, device: torch.device, started: float,
          on_epoch: Callable[[EpochRecord], None] | None,
          on_step: Callable[[StepRecord], None] | None,
          on_resume: Callable[[dict[str, Any]], None] | None,
          stop_requested: Callable[[], bool] | None) -> TrainResult:
    rank, wsize, m = world.rank, world.world_size, elastic.micro_batches
    model = build_network(spec, config, device)
    n = len(train_ds.y)
    steps_per_epoch = n // config.batch_size  # the ragged tail is dropped, as in `train`
    params, optimizer, scheduler = make_optimizer(model, config, steps_per_epoch)
    fingerprint = run_fingerprint(spec, config) + f":mb{m}"
    ckpt_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None
    history: list[EpochRecord] = []
    coverage: list[dict[str, int]] = []
    start_epoch = start_step = 0
    # Accumulators live on the device: NCCL reduces only CUDA tensors.
    acc_loss = torch.zeros((), dtype=torch.float64, device=device)
    acc_correct = torch.zeros((), dtype=torch.float64, device=device)
    acc_seen = torch.zeros(n, dtype=torch.float64, device=device)
    resumed_from = None
    chosen = torch.tensor([-1], dtype=torch.long, device=device)
    if ckpt_dir is not None and rank == 0:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        chosen[0] = newest_loadable(ckpt_dir, fingerprint)
    dist.broadcast(chosen, 0)  # every rank resumes the checkpoint rank 0 picked
    if int(chosen[0]) >= 0:
        if ckpt_dir is None:
            raise ValueError("checkpoint_dir: rank 0 resumes a checkpoint but this rank has "
                             "no checkpoint_dir; give every worker the same arguments")
        state = load_elastic_checkpoint(elastic_path(ckpt_dir, int(chosen[0])))
        restore_weights(state, model=model, optimizer=optimizer, scheduler=scheduler)
        history = [EpochRecord(**h) for h in state["history"]]
        coverage = [dict(c) for c in state.get("coverage", [])]
        start_epoch, start_step = int(state["epoch"]), int(state["step"])
        resumed_from = int(state["global_step"])
        if rank == 0:  # rank 0 carries the epoch's totals so far; the others start at zero
            acc_loss = state["acc_loss"].double().to(device)
            acc_correct = state["acc_correct"].double().to(device)
            acc_seen = state["acc_seen"].double().to(device)
        if rank == 0 and on_resume is not None:
            on_resume({"global_step": resumed_from, "epoch": start_epoch, "step": start_step,
                       "world_size": wsize, "saved_world_size": state.get("world_size")})
    ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                  else None, forward_sync_buffers=False)
    sampler = DistributedSampler(range(n), num_replicas=wsize, rank=rank, shuffle=True,
                                 seed=config.seed, drop_last=True)
    x_all, y_all = to_tensors(train_ds, device)
    val_tensors = to_tensors(val_ds, torch.device("cpu")) if val_ds is not None else None
    augmentation = getattr(train_ds, "augmentation", None)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    local_b, per_rank = config.batch_size // wsize, m // wsize
    scale = wsize / m  # DDP averages over W ranks; each rank sums per_rank micro-batch means
    global_step = start_epoch * steps_per_epoch + start_step

    def save(epoch: int, step: int) -> None:
        nonlocal acc_loss, acc_correct, acc_seen
        for t in (acc_loss, acc_correct, acc_seen):  # fold every rank's share into rank 0's
            dist.all_reduce(t)
        if rank != 0:
            acc_loss, acc_correct, acc_seen = (torch.zeros_like(t) for t in
                                               (acc_loss, acc_correct, acc_seen))
        if rank == 0 and ckpt_dir is not None:
            save_checkpoint(ckpt_dir, global_step, elastic_state(
                fingerprint=fingerprint, epoch=epoch, step=step, global_step=global_step,
                world_size=wsize, micro_batches=m, model=model, optimizer=optimizer,
                scheduler=scheduler, totals=(acc_loss, acc_correct, acc_seen),
                history=history, coverage=coverage))

    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        ddp.train()
        sampler.set_epoch(epoch)
        local = torch.tensor(list(iter(sampler)), dtype=torch.long)
        first = start_step if epoch == start_epoch else 0
        for step in range(first, steps_per_epoch):
            batch_idx = local[step * local_b:(step + 1) * local_b]
            optimizer.zero_grad(set_to_none=True)
            step_loss = 0.0
            for t in range(per_rank):
                micro = rank + wsize * t
                idx = batch_idx[t::per_rank]
                mb_seed = _mb_seed(config.seed, epoch, step, micro)
                g = torch.Generator().manual_seed(mb_seed)
                torch.manual_seed(mb_seed)
                xb, yb = x_all[idx.to(x_all.device)], y_all[idx.to(y_all.device)]
                xb = augment(xb.to(device), augmentation, g).contiguous(
                    memory_format=memory_format)
                yb = yb.to(device)
                sync = nullcontext() if t == per_rank - 1 else ddp.no_sync()
                with sync, _running_stats_frozen(model, micro != 0):
                    logits = ddp(xb)
                    loss = F.cross_entropy(logits, yb, label_smoothing=config.label_smoothing)
                    (loss * scale).backward()
                acc_loss += float(loss.detach()) * len(yb)
                acc_correct += float((logits.detach().argmax(1) == yb).sum())
                acc_seen.index_add_(0, idx.to(device),
                                    torch.ones(len(idx), dtype=torch.float64, device=device))
                step_loss += float(loss.detach()) / per_rank
            if config.grad_clip is not None:
                clip_per_tensor(params, config.grad_clip)
            optimizer.step()
            scheduler.step()
            global_step += 1
            if rank == 0 and on_step is not None:
                on_step(StepRecord(epoch=epoch, step=step + 1, global_step=global_step,
                                   world_size=wsize, loss=step_loss, time=time.time()))
            if stop_requested is not None:
                flag = torch.tensor([int(bool(stop_requested()))], device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # stop together or not at all
                if int(flag[0]):
                    save(epoch, step + 1)
                    raise Preempted(f"stopped on request after global step {global_step}; "
                                    "the checkpoint resumes it")
            if (step + 1) % elastic.checkpoint_every == 0 and step + 1 < steps_per_epoch:
                save(epoch, step + 1)
        for t in (acc_loss, acc_correct, acc_seen):
            dist.all_reduce(t)
        seen_rows = max(1, steps_per_epoch * config.batch_size)
        counts = acc_seen.long()
        coverage.append({"epoch": epoch + 1, "once": int((counts == 1).sum()),
                         "more": int((counts > 1).sum()), "never": int((counts == 0).sum()),
                         "rows": n})
        ep_val_loss = ep_val_acc = None
        if rank == 0 and val_tensors is not None and validation_due(config, epoch):
            ev = evaluate_tensors(model, *val_tensors, batch_size=config.eval_batch_size)
            ep_val_loss, ep_val_acc = ev.loss, ev.accuracy
        record = EpochRecord(
            epoch=epoch + 1, epochs=config.epochs, train_loss=float(acc_loss) / seen_rows,
            train_accuracy=float(acc_correct) / seen_rows, val_loss=ep_val_loss,
            val_accuracy=ep_val_acc, lr=float(optimizer.param_groups[0]["lr"]),
            seconds=time.perf_counter() - t0)
        history.append(record)
        acc_loss, acc_correct, acc_seen = (torch.zeros_like(t) for t in
                                           (acc_loss, acc_correct, acc_seen))
        save(epoch + 1, 0)
        if rank == 0 and on_epoch is not None:
            on_epoch(record)
    model.eval()
    val_loss, val_acc = last_validation(history)
    return TrainResult(
        model=model, history=history, val_accuracy=val_acc, val_loss=val_loss,
        branch_stats={}, gate_stats=model.gate_values(),
        seconds=time.perf_counter() - started, parameters=count_parameters(model),
        device=str(device), resumed_from=resumed_from,
        extra={"coverage": coverage, "world_size": wsize, "rank": rank,
               "weights_sha256": weights_sha256(model), "global_step": global_step})
