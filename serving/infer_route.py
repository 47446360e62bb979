"""`POST /v2/models/{name}/infer` without FastAPI's per-request machinery.

Why: at batch 1 the model runs in about 1 ms, and KServe's FastAPI route cost more than that
again on the server (KServe 0.20 on FastAPI 0.165, measured in process by driving the ASGI
app directly: 1.73 ms above the model). The time went to matching the URL against every
registered route, solving the endpoint's dependencies, validating the body into pydantic
models twice over, and `jsonable_encoder` walking the response value by value. Over HTTP on
127.0.0.1 the served overhead at batch 1 drops from about 3.0 to about 1.7 ms
(benchmarks/compress.py, README "Serving").

`InferRoute` is an ASGI middleware on KServe's own app that answers the infer path before
FastAPI's router; the rest of KServe is used unchanged: its `DataPlane` (model lookup and
readiness, `Model.__call__` with its Prometheus histograms, response and CloudEvent encoding),
its pydantic `InferenceRequest` schema, `InferRequest.from_bytes` for the binary tensor
extension, and its exception handlers, so an error is answered as KServe answers it:
`InvalidInput` -> 400, unknown model -> 404, not ready -> 503, each with the body
`{"error": "<message>"}`.

What differs from KServe's route, on purpose:
- a binary request whose JSON header or byte sizes do not fit its tensors is a 400 that names
  the field (KServe's `from_bytes` lets a KeyError or a reshape ValueError through: a 500);
- a binary response carries `Content-Type: application/octet-stream`, and a binary-mode
  CloudEvent answer the `application/json` KServe sets for it (KServe's route sends none);
- a JSON response leaves out optional fields whose value is null (KServe writes `null`).

`python -m serving --kserve-infer-route` keeps KServe's own route instead.
"""

from __future__ import annotations

from typing import Any

import orjson
from kserve.constants.constants import INFERENCE_CONTENT_LENGTH_HEADER
from kserve.errors import InvalidInput, ModelNotReady
from kserve.protocol.infer_type import InferRequest
from kserve.protocol.rest.v2_datamodels import InferenceRequest
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["InferRoute", "install_infer_route", "validation_message"]

#: The binary extension's header as the protocol spells it (KServe's constant is lower case).
BINARY_HEADER = "Inference-Header-Content-Length"
V2_REQUEST_HINT = 'send a v2 inference request {"inputs": [{"name", "shape", "datatype", "data"}]}'


def validation_message(errors: list[dict[str, Any]]) -> str:
    """The first pydantic/FastAPI validation error as `field: what; the fix`.

    One wording for both routes: FastAPI's RequestValidationError (KServe's route) and
    pydantic's ValidationError (this one) carry the same `loc`/`msg` dicts."""
    first = (errors or [{}])[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    return f"{where}: {first.get('msg', 'invalid request')}; {V2_REQUEST_HINT}"


def _decode(body: bytes, headers: dict[str, str], model_name: str) -> InferRequest:
    json_length = headers.get(INFERENCE_CONTENT_LENGTH_HEADER)
    if json_length is not None:
        return _decode_binary(body, json_length, model_name)
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        doc = _loads_with_nonfinite(body, e)
    try:
        request = InferenceRequest.model_validate(doc)
    except ValidationError as e:
        raise InvalidInput(validation_message(e.errors())) from None
    return InferRequest.from_inference_request(request, model_name)


def _loads_with_nonfinite(body: bytes, error: Exception) -> Any:
    """Python's json.dumps writes NaN and Infinity, which orjson (strict JSON) refuses and
    FastAPI's parser accepts: parse them as FastAPI does, so the model can name the bad values
    (`inputs[0].data: contains NaN`) instead of calling the JSON malformed."""
    import json

    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(f"body: JSON decode error ({error}); {V2_REQUEST_HINT} as "
                           "application/json, or raw tensors after a JSON header of "
                           f"{BINARY_HEADER} bytes") from None


def _decode_binary(body: bytes, json_length: str, model_name: str) -> InferRequest:
    try:
        n = int(json_length)
    except ValueError:
        n = -1
    if not 0 < n <= len(body):
        raise InvalidInput(f"{BINARY_HEADER}: {json_length!r} is not the "
                           f"byte length of the JSON header inside the {len(body)}-byte body; "
                           "send the header's length in bytes")
    try:
        header = orjson.loads(body[:n])
        checked = dict(header)  # the schema, with binary tensors' absent "data" allowed
        if isinstance(checked.get("inputs"), list):
            checked["inputs"] = [{"data": [], **t} for t in checked["inputs"]]
        InferenceRequest.model_validate(checked)
    except orjson.JSONDecodeError as e:
        raise InvalidInput(f"body: the first {n} bytes are not a JSON header ({e}); "
                           f"{V2_REQUEST_HINT}") from None
    except (ValidationError, TypeError, ValueError) as e:
        errors = e.errors() if isinstance(e, ValidationError) else []
        raise InvalidInput(validation_message(errors)) from None
    _check_binary_sizes(header["inputs"], len(body) - n)
    return InferRequest.from_bytes(body, n, model_name)


def _check_binary_sizes(inputs: list[dict[str, Any]], raw_bytes: int) -> None:
    """Each raw tensor's `binary_data_size` must be shape x item size, and together they must
    be the bytes after the header (what `from_bytes` slices without checking)."""
    import numpy as np
    from kserve.utils.numpy_codec import to_np_dtype

    total = 0
    for i, tensor in enumerate(inputs):
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is None:
            continue
        kind = to_np_dtype(tensor["datatype"])
        dtype = np.dtype(kind) if kind is not None else None
        count = 1
        for dim in tensor["shape"]:
            count *= int(dim)
        if dtype is not None and dtype.kind != "O" and size != count * dtype.itemsize:
            raise InvalidInput(
                f"inputs[{i}].parameters.binary_data_size: {size} bytes do not hold shape "
                f"{tensor['shape']} of {tensor['datatype']} ({count * dtype.itemsize} bytes); "
                "send the tensor's byte size")
        total += int(size)
    if total > raw_bytes:
        raise InvalidInput(f"inputs: the binary_data_size values add up to {total} bytes but "
                           f"only {raw_bytes} follow the JSON header; send every tensor's bytes")


class InferRoute:
    """ASGI middleware answering `POST /v2/models/{name}/infer` itself; every other request
    (and the `/versions/{v}/infer` path, which KServe refuses) goes on to KServe's app.

    It sits inside FastAPI's outer middlewares (the 500 handler, exception telemetry and the
    body-size limit all still apply) and answers before FastAPI's router, dependency
    resolution and response encoding. An exception is answered by the handler KServe
    registered for its type (`app.exception_handlers`, looked up along the MRO as Starlette
    does), so errors keep KServe's status codes and `{"error": ...}` body; any other exception
    propagates to FastAPI's 500 handler, as from KServe's route.
    """

    def __init__(self, app: Any, dataplane: Any, handlers: dict[Any, Any]) -> None:
        self.app, self.dataplane, self.handlers = app, dataplane, handlers

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        name = _model_name(scope)
        if name is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self._infer(name, request)
        except Exception as exc:
            handler = next((self.handlers[k] for k in type(exc).__mro__
                            if k in self.handlers and k is not Exception), None)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)

    async def _infer(self, model_name: str, request: Request) -> Response:
        dataplane = self.dataplane
        headers = dict(request.headers)
        if not await dataplane.model_ready(model_name, True):  # as KServe's route: no
            raise ModelNotReady(model_name)                     # predictor health check
        infer_request = _decode(await request.body(), headers, model_name)
        response, response_headers = await dataplane.infer(
            model_name=model_name, request=infer_request, headers=headers)
        response, encode_headers = dataplane.encode(
            model_name=model_name, response=response, headers=headers, req_attributes={})
        response_headers = {**response_headers, **encode_headers}
        response_headers.pop("content-length", None)
        # a CloudEvent answer's type (KServe's route sets it, then drops it and sends none)
        media = response_headers.pop("content-type", None)
        if isinstance(response, bytes):
            return Response(response, headers=response_headers,
                            media_type=media or "application/octet-stream")
        # orjson on the dict KServe's InferResponse.to_rest built: the same JSON KServe's
        # route sends, less its null-valued optional fields (tests/serving/test_infer_route.py)
        return Response(orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY),
                        headers=response_headers, media_type=media or "application/json")


def _model_name(scope: dict) -> str | None:
    """`name` when the request is `POST /v2/models/{name}/infer`, else None."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
        return None
    name = path[len(_PREFIX):-len(_SUFFIX)]
    return name if name and "/" not in name else None


_PREFIX, _SUFFIX = "/v2/models/", "/infer"


def install_infer_route(app: Any, dataplane: Any) -> None:
    """Add the middleware to KServe's FastAPI app (before `ModelServer.start`; the stack is
    built at the first request). `app.exception_handlers` is passed as the live dict: KServe
    fills it in `RESTServer.create_application`, after this call."""
    app.add_middleware(InferRoute, dataplane=dataplane, handlers=app.exception_handlers)
