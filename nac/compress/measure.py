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


def latency_ms(predict: Predictor, x: np.ndarray, *, warmup: int = 20, iters: int = 200
               ) -> tuple[float, float]:
    """(p50, p95) milliseconds of batch-1 calls over rows of `x`."""
    rows = [np.ascontiguousarray(x[i % len(x)][None], dtype=np.float32)
            for i in range(warmup + iters)]
    for row in rows[:warmup]:
        predict(row)
    times = []
    for row in rows[warmup:]:
        t0 = time.perf_counter()
        predict(row)
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


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


def measure(predict: Predictor, x: np.ndarray, y: np.ndarray, *, size_bytes: int,
            iters: int = 200) -> Measurement:
    """All numbers of one predictor on normalised `x` with labels `y`."""
    p50, p95 = latency_ms(predict, x, iters=iters)
    return Measurement(accuracy=accuracy(predict, x, y), size_bytes=float(size_bytes),
                       latency_ms_p50=p50, latency_ms_p95=p95,
                       throughput_rows_s=throughput(predict, x))
