"""The optimisation side of a run: network, SGD + schedule, clipping, threads and determinism.

Shared by `nac.training.train` and `nac.distributed.ddp.train_ddp`, so one process and a
torchrun group build, optimise and schedule the same way (reference/nac.md §1.4: SGD with
Nesterov momentum, weight decay on every parameter, per-tensor gradient-norm clipping, cosine
decay per step). channels-last is ~1.8x faster for these small convolutions on CPU (oneDNN)
and is what tensor cores want on CUDA.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch

from nac.errors import FieldError
from nac.model import NACNet, build_model

if TYPE_CHECKING:
    from nac.spec import ArchitectureSpec
    from nac.training import TrainConfig

__all__ = ["SMALL_INPUT_PIXELS", "build_network", "clip_per_tensor", "default_threads",
           "lr_factor", "make_optimizer", "requested_threads", "run_settings"]

#: With no thread count given, CPU runs on inputs of at most this many pixels (H*W) use one
#: thread: their ops are tiny, and on a shared machine a second OpenMP thread waiting for a core
#: made digits training 25-50x slower (measured); larger inputs keep torch's default.
SMALL_INPUT_PIXELS = 16 * 16


def requested_threads(explicit: int | None,
                      env: Mapping[str, str] | None = None) -> int | None:
    """The thread count a caller asked for: `explicit`, else $OMP_NUM_THREADS, else None.

    None leaves the choice to `default_threads`. The local Katib runner gives each trial its
    share of the cores through OMP_NUM_THREADS; an explicit count wins over it.
    """
    if explicit is not None:
        if isinstance(explicit, bool) or not isinstance(explicit, int) or explicit < 1:
            raise FieldError("threads", f"must be >= 1, got {explicit}")
        return explicit
    value = (os.environ if env is None else env).get("OMP_NUM_THREADS", "").strip()
    if not value:
        return None
    try:
        count = int(value)
    except ValueError:
        raise FieldError("OMP_NUM_THREADS", f"{value!r} is not an integer; unset it or give a "
                         "thread count") from None
    return count if count >= 1 else None


def default_threads(threads: int | None, input_shape: Sequence[int],
                    device: torch.device) -> int | None:
    """torch intra-op threads for a run: `threads` if set, 1 for small CPU inputs, else None."""
    if threads is not None:
        return threads
    if device.type == "cpu" and input_shape[1] * input_shape[2] <= SMALL_INPUT_PIXELS:
        return 1
    return None


@contextmanager
def run_settings(config: TrainConfig, threads_wanted: int | None) -> Iterator[None]:
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


def build_network(spec: ArchitectureSpec, config: TrainConfig, device: torch.device,
                  init: Callable[[NACNet], NACNet | None] | None = None) -> NACNet:
    """The seeded network on `device` (channels-last when configured, statistics when asked).

    `init(model)` runs on the freshly built network before it moves: it may load weights and
    freeze parameters, or return another module to train (nac.finetune).
    """
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    model = build_model(spec, dropout=config.dropout)
    if init is not None:
        model = init(model) or model
    model = model.to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.channels_last = config.channels_last
    if config.stats:
        model.enable_stats(config.stat_mode)
    return model


def make_optimizer(model: torch.nn.Module, config: TrainConfig, steps_per_epoch: int
                   ) -> tuple[list[torch.Tensor], torch.optim.SGD, Any]:
    """(trainable parameters, SGD, per-step LambdaLR over the whole run)."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                nesterov=config.nesterov, weight_decay=config.weight_decay,
                                foreach=True)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(
        steps_per_epoch * config.epochs, config.schedule, config.min_lr / config.lr))
    return params, optimizer, scheduler


def lr_factor(total_steps: int, schedule: str, floor: float) -> Callable[[int], float]:
    """Multiplier of the base rate at a step: 1 ("constant") or cosine from 1 to `floor`."""
    def factor(step: int) -> float:
        if schedule == "constant":
            return 1.0
        t = min(step, total_steps) / max(1, total_steps)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

    return factor


def clip_per_tensor(params: list[torch.Tensor], max_norm: float) -> None:
    """Scale each gradient whose L2 norm exceeds max_norm (tf.clip_by_norm per tensor)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    norms = torch.stack(torch._foreach_norm(grads))
    scales = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
    torch._foreach_mul_(grads, list(scales.unbind(0)))
