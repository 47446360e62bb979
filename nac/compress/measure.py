"""Accuracy, size, latency and throughput of a predictor, measured on this machine.

Latency is per request at batch 1 (p50 and p95 over `iters` calls after `warmup`, each call on
a different stored example); throughput is rows/s over whole batches. Torch and ONNX Runtime
are measured with the same thread count (`threads`, default 1: a serving replica usually gets
one core, and more threads only add noise on a shared machine).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from nac.compress.onnx_variants import INPUT_NAME, OUTPUT_NAME

__all__ = ["Measurement", "measure", "ort_predictor", "torch_predictor"]

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Measurement:
    """One variant's numbers (all finite floats: KFP metadata rejects null/NaN/inf)."""

    accuracy: float
    size_bytes: float
    latency_ms_p50: float
    latency_ms_p95: float
    throughput_rows_s: float

    def to_json(self) -> dict[str, float]:
        return {k: round(float(v), 6) for k, v in asdict(self).items()}


@contextmanager
def _torch_threads(threads: int):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def torch_predictor(model: nn.Module, threads: int = 1) -> Predictor:
    """Eager torch logits for normalised float32 (N, C, H, W)."""
    model = model.cpu().eval().to(memory_format=torch.contiguous_format)
    model.channels_last = False

    def run(x: np.ndarray) -> np.ndarray:
        with _torch_threads(threads), torch.inference_mode():
            return model(torch.from_numpy(x)).float().numpy()

    return run


def ort_predictor(session) -> Predictor:
    def run(x: np.ndarray) -> np.ndarray:
        return session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]

    return run


def latency_ms(predictors: dict[str, Predictor], x: np.ndarray, *, warmup: int = 20,
               iters: int = 200) -> dict[str, tuple[float, float]]:
    """(p50, p95) milliseconds of batch-1 calls, per predictor.

    The predictors take turns call by call (round robin over the same rows), so on a shared
    machine a burst of foreign load hits all of them alike and their ratios stay fair.
    """
    rows = [np.ascontiguousarray(x[i % len(x)][None], dtype=np.float32)
            for i in range(warmup + iters)]
    for row in rows[:warmup]:
        for predict in predictors.values():
            predict(row)
    times: dict[str, list[float]] = {name: [] for name in predictors}
    for row in rows[warmup:]:
        for name, predict in predictors.items():
            t0 = time.perf_counter()
            predict(row)
            times[name].append((time.perf_counter() - t0) * 1000.0)
    return {name: (float(np.percentile(t, 50)), float(np.percentile(t, 95)))
            for name, t in times.items()}


def accuracy(predict: Predictor, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    correct = 0
    for i in range(0, len(x), batch_size):
        xb = np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)
        correct += int((predict(xb).argmax(1) == y[i:i + batch_size]).sum())
    return correct / max(1, len(y))


def throughput(predict: Predictor, x: np.ndarray, *, batch_size: int = 256,
               min_seconds: float = 0.5) -> float:
    batch = np.ascontiguousarray(np.resize(x, (batch_size, *x.shape[1:])), dtype=np.float32)
    predict(batch)
    rows, t0 = 0, time.perf_counter()
    while True:
        predict(batch)
        rows += batch_size
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            return rows / elapsed


def measure(predictors: dict[str, tuple[Predictor, int]], x: np.ndarray, y: np.ndarray, *,
            iters: int = 200) -> dict[str, Measurement]:
    """All numbers of every (predictor, size in bytes) on normalised `x` with labels `y`."""
    lat = latency_ms({n: p for n, (p, _) in predictors.items()}, x, iters=iters)
    return {name: Measurement(accuracy=accuracy(p, x, y), size_bytes=float(size),
                              latency_ms_p50=lat[name][0], latency_ms_p95=lat[name][1],
                              throughput_rows_s=throughput(p, x))
            for name, (p, size) in predictors.items()}
