"""Compress a `nac-model`: every variant built and measured here, the fastest one within budget.

    report = compress_model("model/", "model-compressed/", train_ds, test_ds,
                            CompressConfig(accuracy_budget=0.005))
    report["selected"]       # "int8", "fp32", "pruned", ... (see compression.json)

Variants: `torch` (the eager model, the reference), `fp32` (ONNX Runtime), `fp16` (size),
`int8` (static, calibrated on training rows), `pruned` (channels cut by torch-pruning, short
fine-tune, then ONNX). Each is measured on `eval_ds` on this machine: accuracy, file size,
batch-1 latency p50/p95, throughput. The selected variant is the one with the lowest
`optimize_for` figure (batch-1 p50 latency, or throughput) whose accuracy is at most
`accuracy_budget` below the torch model's; the torch model qualifies by definition.

The output is a `nac-model` directory (the input's files, so `load_model`/`predict` keep
working) plus `onnx/<variant>.onnx` and `compression.json` (format `nac-compression`,
version 1) holding every number; written atomically.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nac.atomic import atomic_directory
from nac.compress.measure import measure, ort_predictor, torch_predictor
from nac.compress.onnx_variants import export_onnx, ort_session, parity, to_fp16, to_int8
from nac.compress.prune import count_macs, prune_and_finetune
from nac.documents import check_header
from nac.export import ARCHITECTURE_FILE, META_FILE, WEIGHTS_FILE, load_model

__all__ = ["COMPRESSION_FILE", "FORMAT", "VARIANTS", "CompressConfig", "compress_model",
           "read_compression"]

FORMAT = "nac-compression"
VERSION = 1
COMPRESSION_FILE = "compression.json"
ONNX_DIR = "onnx"
#: Every variant, in build order; `torch` is the reference the budget is measured against.
VARIANTS = ("torch", "fp32", "fp16", "int8", "pruned")
#: ONNX parity bound of the FP32 export (max |logit difference|).
PARITY_TOLERANCE = 1e-4


@dataclass(frozen=True)
class CompressConfig:
    """What to build and how to choose (validated on creation)."""

    accuracy_budget: float = 0.005  # largest accepted accuracy drop (fraction: 0.005 = 0.5 pt)
    optimize_for: str = "latency"  # "latency" (batch-1 p50) or "throughput"
    variants: tuple[str, ...] = ("fp32", "fp16", "int8", "pruned")
    calibration_rows: int = 512
    int8_reduce_range: bool = True
    prune_target_mac_ratio: float = 0.55
    prune_epochs: int = 15
    prune_steps: int = 3  # cuts, each followed by prune_epochs / prune_steps epochs (prune.py)
    threads: int = 1
    latency_iters: int = 200

    def __post_init__(self) -> None:
        if not 0 <= self.accuracy_budget < 1:
            raise ValueError(f"accuracy_budget: must be in [0, 1) (a fraction: 0.005 = 0.5 "
                             f"points), got {self.accuracy_budget!r}")
        if self.optimize_for not in ("latency", "throughput"):
            raise ValueError(f"optimize_for: must be 'latency' or 'throughput', got "
                             f"{self.optimize_for!r}")
        object.__setattr__(self, "variants", tuple(self.variants))
        unknown = [v for v in self.variants if v not in VARIANTS[1:]]
        if unknown:
            raise ValueError(f"variants: {unknown} unknown; choose from {list(VARIANTS[1:])}")
        for name in ("calibration_rows", "threads", "latency_iters", "prune_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {v!r}")


def _normalised(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    return (np.ascontiguousarray(ds.normalized_x(), dtype=np.float32),
            np.asarray(ds.y, dtype=np.int64))


def _check_data(meta: Any, ds: Any, name: str) -> None:
    if tuple(ds.x.shape[1:]) != tuple(meta.input_shape):
        raise ValueError(f"{name}: examples have shape {list(ds.x.shape[1:])} but the model takes "
                         f"{list(meta.input_shape)}")
    if list(ds.classes) != list(meta.classes):
        raise ValueError(f"{name}: classes {list(ds.classes)} differ from the model's "
                         f"{list(meta.classes)}; give splits of the data it was trained on")


def select(variants: dict[str, dict[str, float]], budget: float, optimize_for: str) -> str:
    """The fastest variant whose accuracy is within `budget` of the torch reference."""
    reference = variants["torch"]["accuracy"]
    ok = {n: v for n, v in variants.items()
          if v["accuracy"] >= reference - budget - 1e-12 and v.get("parity_ok", 1.0) == 1.0}
    if optimize_for == "throughput":
        return max(ok, key=lambda n: ok[n]["throughput_rows_s"])
    return min(ok, key=lambda n: ok[n]["latency_ms_p50"])


def compress_model(model_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                   train_ds: Any, eval_ds: Any, config: CompressConfig | None = None,
                   *, log: Any = print) -> dict[str, Any]:
    """Build, measure and choose (module docstring); return the compression.json document."""
    config = config or CompressConfig()
    model, meta = load_model(model_dir)
    _check_data(meta, train_ds, "train_data")
    _check_data(meta, eval_ds, "eval_data")
    shape = tuple(meta.input_shape)
    # Calibration / fine-tune rows use the model's normalisation, as serving does.
    from nac.data.format import Normalization

    norm = Normalization.from_json(meta.normalization) if meta.normalization else None
    train_ds = replace(train_ds, normalization=norm)
    eval_ds = replace(eval_ds, normalization=norm)
    x_eval, y_eval = _normalised(eval_ds)
    x_train, _ = _normalised(train_ds)
    rng = np.random.default_rng(0)
    calib = x_train[rng.permutation(len(x_train))[:config.calibration_rows]]
    macs, params = count_macs(model, shape)
    numbers: dict[str, dict[str, float]] = {}
    src = Path(model_dir)
    with atomic_directory(out_dir) as tmp:
        for name in (WEIGHTS_FILE, ARCHITECTURE_FILE, META_FILE):
            shutil.copy2(src / name, tmp / name)
        onnx_dir = tmp / ONNX_DIR
        onnx_dir.mkdir()
        weights_bytes = (src / WEIGHTS_FILE).stat().st_size
        fp32 = export_onnx(model, shape, onnx_dir / "fp32.onnx")
        built = {"fp32": fp32}
        if "fp16" in config.variants:
            built["fp16"] = to_fp16(fp32, onnx_dir / "fp16.onnx")
        if "int8" in config.variants:
            built["int8"] = to_int8(fp32, onnx_dir / "int8.onnx", calib,
                                    reduce_range=config.int8_reduce_range)
        extra: dict[str, dict[str, float]] = {n: {"macs": macs, "parameters": params}
                                              for n in ("torch", *built)}
        if "pruned" in config.variants:
            pr = prune_and_finetune(model, train_ds, None,
                                    target_mac_ratio=config.prune_target_mac_ratio,
                                    epochs=config.prune_epochs, steps=config.prune_steps)
            built["pruned"] = export_onnx(pr.model, shape, onnx_dir / "pruned.onnx")
            extra["pruned"] = {"macs": pr.macs_after, "parameters": pr.params_after,
                               "mac_ratio": pr.mac_ratio, "channel_ratio": pr.channel_ratio,
                               "finetune_epochs": pr.finetune_epochs,
                               "prune_steps": config.prune_steps}
        check = parity(model, ort_session(fp32, threads=config.threads), x_eval)
        parity_ok = check["max_abs_logit_diff"] <= PARITY_TOLERANCE and \
            check["argmax_agreement"] == 1.0
        if not parity_ok:
            log(f"compress: ONNX parity failed {check}; ONNX variants are not selectable")
        predictors: dict[str, tuple[Any, int]] = {
            "torch": (torch_predictor(model, config.threads), weights_bytes)}
        for name, path in built.items():
            predictors[name] = (ort_predictor(ort_session(path, threads=config.threads)),
                                path.stat().st_size)
        for name, m in measure(predictors, x_eval, y_eval, iters=config.latency_iters).items():
            numbers[name] = {**m.to_json(), **{k: float(v) for k, v in extra[name].items()}}
            if name != "torch":
                numbers[name]["parity_ok"] = float(parity_ok)
            log(f"compress: {name:6s} acc={m.accuracy:.4f} size={m.size_bytes / 1024:.0f}KiB "
                f"p50={m.latency_ms_p50:.3f}ms p95={m.latency_ms_p95:.3f}ms "
                f"thr={m.throughput_rows_s:.0f}/s")
        selected = select(numbers, config.accuracy_budget, config.optimize_for)
        doc = {"format": FORMAT, "version": VERSION, "selected": selected,
               "selected_file": "" if selected == "torch" else f"{ONNX_DIR}/{selected}.onnx",
               "config": {k: (list(v) if isinstance(v, tuple) else v)
                          for k, v in asdict(config).items()},
               "parity": check, "variants": numbers,
               "eval_rows": len(y_eval), "calibration_rows": len(calib)}
        (tmp / COMPRESSION_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    log(f"compress: selected {selected} (budget {config.accuracy_budget}, "
        f"{config.optimize_for})")
    return doc


def read_compression(model_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """compression.json of a compressed Model, or None for a plain one."""
    path = Path(model_dir) / COMPRESSION_FILE
    if not path.is_file():
        return None
    return check_header(json.loads(path.read_text(encoding="utf-8")), FORMAT, VERSION,
                        where=str(path), hint="re-run compress")
