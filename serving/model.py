"""The KServe custom model: a `nac-model` (or its compressed variant) behind the v2 protocol.

KServe's `ModelServer` provides the HTTP server and the Open Inference Protocol (v2) routes:
`/v2/health/live`, `/v2/health/ready`, `/v2/models/{name}`, `/v2/models/{name}/ready` and
`POST /v2/models/{name}/infer`. This class only loads the artifact and turns one v2 request
into one forward pass:

- input: exactly one tensor, datatype FP32 (FP64/INT* are accepted and cast), shape
  `[N, C, H, W]` or `[N, C*H*W]` matching the model's input shape; raw values, the model's
  stored normalisation is applied here (as `nac.export.predict` does);
- outputs: `probabilities` FP32 `[N, K]` and `class_index` INT64 `[N]`; class names are in
  the model's metadata (`/v2/models/{name}`: parameters.classes) and in `meta.json`;
- the v2 binary tensor extension (raw little-endian bytes after a JSON header of
  `Inference-Header-Content-Length` bytes; `parameters.binary_data_output` for raw outputs)
  and the v2 gRPC protocol (`python -m serving --grpc-port`) carry the same tensors.

A bad request raises `kserve.errors.InvalidInput`, which KServe answers with HTTP 400 and the
protocol's error body `{"error": "<message>"}`; the message names the field and the fix.

Which backend runs: `variant="auto"` serves the variant `compress` selected (its ONNX file
through ONNX Runtime) or, for an uncompressed Model, the torch network; `"torch"` or a
variant name (`fp32`, `int8`, ...) forces one.
"""

from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from kserve import Model
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

__all__ = ["NACModel", "install_error_shape", "load_predictor"]

#: v2 datatypes accepted for the input tensor (cast to float32).
INPUT_DATATYPES = ("FP32", "FP64", "FP16", "INT8", "INT16", "INT32", "INT64", "UINT8")


def load_predictor(model_dir: str | os.PathLike[str], variant: str = "auto", *,
                   threads: int = 1) -> tuple[Any, Any, str]:
    """(predict(normalised x) -> logits, ModelMeta, variant served) for a Model directory."""
    from nac.compress import ONNX_DIR, read_compression
    from nac.compress.measure import ort_predictor, torch_predictor
    from nac.compress.onnx_variants import ort_session
    from nac.export import load_model, read_meta

    meta = read_meta(model_dir)
    doc = read_compression(model_dir)
    if variant == "auto":
        variant = doc["selected"] if doc else "torch"
    if variant == "torch":
        model, _ = load_model(model_dir)
        return torch_predictor(model, threads), meta, variant
    path = Path(model_dir) / ONNX_DIR / f"{variant}.onnx"
    if not path.is_file():
        have = sorted(p.stem for p in (Path(model_dir) / ONNX_DIR).glob("*.onnx"))
        raise ValueError(f"variant: {variant!r} is not in {model_dir} (has torch"
                         f"{''.join(', ' + h for h in have)}); run compress first or pick one")
    return ort_predictor(ort_session(path, threads=threads)), meta, variant


def install_error_shape(app: Any) -> None:
    """Answer a body FastAPI cannot parse (malformed JSON, a missing field) with HTTP 400 and
    the v2 error body `{"error": ...}`, as KServe answers InvalidInput; FastAPI's default is
    422 with `{"detail": [...]}`, which v2 clients do not read."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    from serving.infer_route import validation_message

    async def handler(_request: Any, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=400,
                            content={"error": validation_message(list(exc.errors()))})

    app.add_exception_handler(RequestValidationError, handler)


class NACModel(Model):
    """KServe model serving one `nac-model` directory."""

    def __init__(self, name: str, model_dir: str, *, variant: str = "auto",
                 threads: int = 1) -> None:
        super().__init__(name)
        self.model_dir, self.variant, self.threads = model_dir, variant, threads
        self._predict: Any = None
        self._meta: Any = None
        self._norm: tuple[np.ndarray, np.ndarray] | None = None  # float32 mean, std (1, C, 1, 1)
        # Response ids for requests without one: a per-process prefix and a counter, not a
        # uuid4 per request (an os.urandom syscall and string formatting on the hot path).
        self._id_prefix, self._counter = uuid.uuid4().hex[:12], itertools.count()

    def load(self) -> bool:
        from nac.data.format import Normalization

        self._predict, self._meta, self.variant = load_predictor(
            self.model_dir, self.variant, threads=self.threads)
        if self._meta.normalization:  # as Normalization.apply, with the arrays built once
            norm = Normalization.from_json(self._meta.normalization)
            self._norm = tuple(np.asarray(v, dtype=np.float32).reshape(1, -1, 1, 1)
                               for v in (norm.mean, norm.std))
        self.ready = True
        return self.ready

    @property
    def classes(self) -> list[str]:
        return list(self._meta.classes)

    def _input(self, payload: InferRequest) -> np.ndarray:
        if len(payload.inputs) != 1:
            raise InvalidInput(f"inputs: expected exactly 1 tensor, got {len(payload.inputs)}; "
                               "send one [N, C, H, W] tensor")
        tensor = payload.inputs[0]
        if tensor.datatype not in INPUT_DATATYPES:
            raise InvalidInput(f"inputs[0].datatype: {tensor.datatype!r} is not numeric; send "
                               "FP32")
        shape = tuple(int(v) for v in tensor.shape)
        c, h, w = self._meta.input_shape
        if len(shape) == 2 and shape[1] == c * h * w:
            shape = (shape[0], c, h, w)
        if len(shape) != 4 or shape[1:] != (c, h, w) or shape[0] < 1:
            raise InvalidInput(f"inputs[0].shape: {list(tensor.shape)} does not fit the model; "
                               f"send [N, {c}, {h}, {w}] or [N, {c * h * w}] with N >= 1")
        try:
            x = tensor.as_numpy()
        except (ValueError, TypeError) as e:
            raise InvalidInput(f"inputs[0].data: does not hold {int(np.prod(tensor.shape))} "
                               f"numbers of shape {list(tensor.shape)} ({e})") from None
        x = np.asarray(x, dtype=np.float32).reshape(shape)
        if not np.isfinite(x).all():
            raise InvalidInput("inputs[0].data: contains NaN or infinity; send finite values")
        if self._norm is not None:
            mean, std = self._norm
            x = (x - mean) / std  # a new C-contiguous float32 array: the request's is not touched
        return np.ascontiguousarray(x, dtype=np.float32)

    def predict(self, payload: InferRequest, headers: dict[str, str] | None = None
                ) -> InferResponse:
        if not isinstance(payload, InferRequest):
            raise InvalidInput("use the v2 protocol: POST /v2/models/{name}/infer with "
                               '{"inputs": [{"name", "shape", "datatype", "data"}]}')
        x = self._input(payload)
        logits = np.asarray(self._predict(x), dtype=np.float32)
        z = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(z)
        probs /= probs.sum(axis=1, keepdims=True)
        top = probs.argmax(axis=1).astype(np.int64)
        # Raw bytes when the client asked for them (REST binary tensor extension:
        # parameters.binary_data_output; gRPC: raw_input_contents in, raw_output_contents out).
        binary = bool(payload.use_binary_outputs)
        p_out = InferOutput(name="probabilities", shape=list(probs.shape), datatype="FP32")
        c_out = InferOutput(name="class_index", shape=list(top.shape), datatype="INT64")
        if binary or payload.from_grpc:
            p_out.set_data_from_numpy(probs, binary_data=binary)
            c_out.set_data_from_numpy(top, binary_data=binary)
        else:  # REST JSON: InferResponse.to_rest turns numpy data into lists, once
            p_out.data, c_out.data = probs, top
        return InferResponse(model_name=self.name, infer_outputs=[p_out, c_out],
                             response_id=payload.id or f"{self._id_prefix}-{next(self._counter)}",
                             parameters={"variant": self.variant}, use_binary_outputs=binary,
                             requested_outputs=payload.request_outputs)
