"""ONNX variants of a network: FP32 export (parity-checked), FP16 and static INT8.

- FP32: `torch.onnx.export` (the TorchScript exporter, opset 17, dynamic batch axis; torch
  2.13's dynamo exporter needs `onnxscript`, which is not a dependency). The graph takes the
  *normalised* input (N, C, H, W) float32 named `input` and returns `logits`; normalisation
  stays in one place (`nac.data.Normalization`), applied by the caller as `predict` does.
- FP16: weights and activations in float16 with float32 inputs/outputs
  (`onnxruntime.transformers.float16`); halves the file, but ONNX Runtime's CPU provider has
  few float16 kernels, so on a CPU it is a size variant, not a speed one.
- INT8: static quantisation (`onnxruntime.quantization.quantize_static`), QDQ format,
  per-channel int8 weights, uint8 activations calibrated (min/max) on training rows, after
  `quant_pre_process` (shape inference + graph optimisation). `reduce_range` (7-bit
  weights) is on by default: on x86-64 CPUs without VNNI (AVX2 only, like the development
  machine) ORT's u8s8 kernels can saturate the 16-bit intermediate sums (ORT quantisation
  docs, "data type selection"); VNNI CPUs can turn it off.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["INPUT_NAME", "OPSET", "OUTPUT_NAME", "compact_names", "export_onnx", "ort_session",
           "parity",
           "to_fp16", "to_int8"]

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
#: ONNX opset of the export (supported by every ORT release since 1.12).
OPSET = 17


def export_onnx(model: nn.Module, input_shape: tuple[int, int, int],
                path: str | os.PathLike[str]) -> Path:
    """Export `model` (eval mode, CPU, contiguous format) to `path`; return it."""
    model = model.cpu().eval().to(memory_format=torch.contiguous_format)
    example = torch.zeros((1, *input_shape), dtype=torch.float32)
    target = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings: the shapes are fixed per model
        torch.onnx.export(model, (example,), str(target), dynamo=False, opset_version=OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    return target


def ort_session(path: str | os.PathLike[str], *, threads: int | None = 1):
    """An ONNX Runtime CPU session (all graph optimisations; `threads` intra-op threads)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def parity(model: nn.Module, session, x: np.ndarray, *, batch_size: int = 256
           ) -> dict[str, float]:
    """Max |logit difference| and argmax agreement of torch vs ORT on normalised `x`."""
    model = model.cpu().eval()
    worst, agree = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)
            ref = model(torch.from_numpy(xb)).float().numpy()
            got = session.run([OUTPUT_NAME], {INPUT_NAME: xb})[0]
            worst = max(worst, float(np.abs(ref - got).max()))
            agree += int((ref.argmax(1) == got.argmax(1)).sum())
    return {"max_abs_logit_diff": worst, "argmax_agreement": agree / max(1, len(x))}


def to_fp16(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Float16 copy of an FP32 ONNX model (float32 inputs and outputs kept)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    converted = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    onnx.save(converted, str(dst))
    return compact_names(dst)


def compact_names(path: str | os.PathLike[str]) -> Path:
    """Rewrite `path` with short tensor names and no node names (same graph, same outputs).

    The exporter's and the quantiser's names (`/blocks.6/branches.3/conv/conv.1/Conv_output_0
    _QuantizeLinear`...) cost ~300 bytes per node: a third of a small INT8 file.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in keep:
            return name
        return names.setdefault(name, f"t{len(names)}")

    for init in graph.initializer:
        init.name = short(init.name)
    for info in graph.value_info:
        info.name = short(info.name)
    for node in graph.node:
        node.name, node.doc_string = "", ""
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
    onnx.save(model, str(path))
    return Path(path)


class _Calibration:
    """CalibrationDataReader over normalised rows, in batches."""

    def __init__(self, x: np.ndarray, batch_size: int) -> None:
        self._batches: Iterator[np.ndarray] = iter(
            [np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)
             for i in range(0, len(x), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch}


def to_int8(src: str | os.PathLike[str], dst: str | os.PathLike[str], calibration: np.ndarray,
            *, reduce_range: bool = True, batch_size: int = 64) -> Path:
    """Static INT8 (QDQ, per-channel weights) calibrated on normalised `calibration` rows."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if len(calibration) == 0:
        raise ValueError("calibration: no rows; give the training split")
    with tempfile.TemporaryDirectory(prefix="nac-int8-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(dst), _Calibration(calibration, batch_size),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        reduce_range=reduce_range, calibrate_method=CalibrationMethod.MinMax)
    return compact_names(dst)
