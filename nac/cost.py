"""What a network costs: parameters, multiply-accumulates per image, CPU latency per image.

One place for the three numbers the budgeted search (nac.construct), the benchmarks and the
Pareto report (nac.pareto) compare. MACs are counted exactly from the layers a forward pass
runs (convolutions and the classifier; BN, ReLU, pooling and concatenation are not MACs), so
they need no per-op formulas that could drift from nac.ops.

    params, macs = spec_cost(spec)
    latency_ms = cpu_latency_ms(model)       # median of repeated batch-1 forwards, 1 thread
"""

from __future__ import annotations

import copy
import statistics
import time
from functools import lru_cache

import torch
from torch import nn

from nac.model import build_model, count_parameters
from nac.spec import ArchitectureSpec

__all__ = ["count_macs", "cpu_latency_ms", "spec_cost", "spec_parameters"]


@torch.no_grad()
def count_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one forward pass of one image of `input_shape` (C, H, W)."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1]
        total += output[0].numel() * k * (module.in_channels // module.groups)

    def linear_hook(module: nn.Linear, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += module.in_features * module.out_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(torch.zeros((1, *input_shape), device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return int(total)


@lru_cache(maxsize=256)
def _cost(doc: str, macs: bool) -> tuple[int, int]:
    from nac.spec import parse_architecture

    spec = parse_architecture(doc)
    model = build_model(spec)
    return count_parameters(model), count_macs(model, spec.input_shape) if macs else -1


def spec_cost(spec: ArchitectureSpec) -> tuple[int, int]:
    """(trainable parameters, MACs per image) of the network `spec` builds (cached by spec)."""
    return _cost(spec.dumps(), True)


def spec_parameters(spec: ArchitectureSpec) -> int:
    """Trainable parameters of `spec`'s network (no forward pass; cached by spec)."""
    return _cost(spec.dumps(), False)[0]


@torch.no_grad()
def cpu_latency_ms(model: nn.Module, input_shape: tuple[int, int, int] | None = None, *,
                   repeats: int = 30, threads: int = 1) -> float:
    """Median CPU time (ms) of a batch-1 eval forward on the CPU with `threads` threads.

    With one thread torch runs every op in the calling thread, so its CPU time
    (`time.thread_time`) is the forward's cost even on a busy shared machine, where wall time
    mostly measures waiting for a core; with more threads wall time is used. The model is
    copied to the CPU if needed and put in eval mode (restored afterwards).
    """
    shape = input_shape or tuple(model.spec.input_shape)  # type: ignore[attr-defined]
    was_training = model.training
    cpu_model = model if next(model.parameters()).device.type == "cpu" else \
        copy.deepcopy(model).cpu()
    cpu_model.eval()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.zeros((1, *shape))
        if getattr(cpu_model, "channels_last", False):
            x = x.contiguous(memory_format=torch.channels_last)
        for _ in range(3):
            cpu_model(x)
        clock = time.thread_time if threads == 1 else time.perf_counter
        times = []
        for _ in range(repeats):
            t0 = clock()
            cpu_model(x)
            times.append(clock() - t0)
    finally:
        torch.set_num_threads(before)
        model.train(was_training)
    return 1000.0 * statistics.median(times)
