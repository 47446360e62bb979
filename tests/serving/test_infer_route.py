"""serving/infer_route.py: the lean v2 infer path answers what KServe's own route answers.

Two real servers on 127.0.0.1 serve the same model: the default (`InferRoute` middleware) and
`--kserve-infer-route` (KServe 0.20's FastAPI route, `kserve/protocol/rest/v2_endpoints.py
V2Endpoints.infer`). The same requests, good and bad, must get the same status and the same
outputs; where the lean path differs on purpose (a binary body whose sizes do not fit is a
400 naming the field, not KServe's 500) the test says so.
"""

from __future__ import annotations

import http.client
import json

import numpy as np
import pytest

from serving.infer_route import _check_binary_sizes, _model_name, validation_message
from tests.serving.test_server import _infer_body, _request, _start, _stop


def _without_nulls(doc: object) -> object:
    """KServe's route writes unset optional fields as null; the lean path leaves them out."""
    if isinstance(doc, dict):
        return {k: _without_nulls(v) for k, v in doc.items() if v is not None}
    if isinstance(doc, list):
        return [_without_nulls(v) for v in doc]
    return doc


@pytest.fixture(scope="module")
def both(model_dir):
    """(lean port, KServe-route port) serving the same model."""
    lean, lean_port = _start(model_dir[0])
    try:
        stock, stock_port = _start(model_dir[0], "--kserve-infer-route")
    except BaseException:
        _stop(lean)
        raise
    yield lean_port, stock_port
    _stop(lean)
    _stop(stock)


def _cases(x: np.ndarray) -> dict[str, tuple[str, object]]:
    one = x[:2]
    return {
        "ok": ("/v2/models/nac/infer", {**_infer_body(one), "id": "req-1"}),
        "flat": ("/v2/models/nac/infer", {**_infer_body(one.reshape(2, 64)), "id": "req-2"}),
        "one output asked for": ("/v2/models/nac/infer", {
            **_infer_body(one), "id": "req-3", "outputs": [{"name": "class_index"}]}),
        "wrong shape": ("/v2/models/nac/infer", _infer_body(np.zeros((1, 1, 4, 4), np.float32))),
        "text datatype": ("/v2/models/nac/infer", {"inputs": [{
            "name": "input", "shape": [1, 64], "datatype": "BYTES", "data": ["a"] * 64}]}),
        "no inputs": ("/v2/models/nac/infer", {"inputs": []}),
        "inputs missing": ("/v2/models/nac/infer", {"outputs": []}),
        "too little data": ("/v2/models/nac/infer",
                            _infer_body(np.zeros((1, 64), np.float32), data=[0.0] * 3)),
        "NaN": ("/v2/models/nac/infer", _infer_body(np.full((1, 64), np.nan, np.float32))),
        "malformed JSON": ("/v2/models/nac/infer", "{not json"),
        "unknown model": ("/v2/models/other/infer", _infer_body(one)),
        "versioned path": ("/v2/models/nac/versions/1/infer", _infer_body(one)),
    }


@pytest.mark.slow
def test_lean_path_answers_every_request_as_kserves_route_does(both, model_dir):
    lean, stock = both
    for case, (path, body) in _cases(model_dir[1].x).items():
        got, want = _request(lean, "POST", path, body), _request(stock, "POST", path, body)
        assert got[0] == want[0], (case, got, want)
        if want[0] == 200:
            assert _without_nulls(got[1]) == _without_nulls(want[1]), case
        else:
            assert set(got[1]) == {"error"} == set(want[1]), (case, got, want)
    status, doc = _request(lean, "POST", "/v2/models/nac/infer", "{not json")
    assert "JSON" in doc["error"] and "application/json" in doc["error"]


def _post_binary(port: int, header: dict, raw: bytes, length: str | None = None
                 ) -> tuple[int, dict]:
    head = json.dumps(header).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v2/models/nac/infer", head + raw, {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": length if length is not None else str(len(head))})
    resp = conn.getresponse()
    body = resp.read()
    n = int(resp.getheader("Inference-Header-Content-Length") or len(body))
    return resp.status, json.loads(body[:n])


@pytest.mark.slow
def test_binary_bodies_that_do_not_fit_are_400s_naming_the_field(both, model_dir):
    lean, stock = both
    x = np.ascontiguousarray(model_dir[1].x[:1], dtype="<f4")

    def header(size: int) -> dict:
        return {"inputs": [{"name": "input", "shape": [1, 1, 8, 8], "datatype": "FP32",
                            "parameters": {"binary_data_size": size}}]}

    good = [_post_binary(port, header(256), x.tobytes()) for port in (lean, stock)]
    assert [s for s, _ in good] == [200, 200]
    lean_doc, stock_doc = (_without_nulls(doc) for _, doc in good)
    lean_doc.pop("id"), stock_doc.pop("id")  # generated per server
    assert lean_doc == stock_doc
    # 128 bytes declared for a 256-byte tensor: KServe's from_bytes fails in reshape (a 500)
    status, doc = _post_binary(lean, header(128), x.tobytes()[:128])
    assert status == 400 and "inputs[0].parameters.binary_data_size" in doc["error"], doc
    # the declared sizes run past the body
    status, doc = _post_binary(lean, header(256), x.tobytes()[:100])
    assert status == 400 and "binary_data_size" in doc["error"], doc
    # a header length that is not the JSON's
    status, doc = _post_binary(lean, header(256), x.tobytes(), length="abc")
    assert status == 400 and "Inference-Header-Content-Length" in doc["error"], doc
    status, doc = _post_binary(lean, {"outputs": []}, b"")
    assert status == 400 and "inputs" in doc["error"], doc


@pytest.mark.slow
def test_binary_cloudevent_request_gets_a_cloudevent_answer_from_both(both, model_dir):
    """ce-* headers (CloudEvents binary mode): KServe's DataPlane.encode wraps the answer
    (kserve/protocol/dataplane.py encode -> create_response_cloudevent) on both paths; the
    lean one keeps the application/json type KServe sets for it."""
    lean, stock = both
    body = json.dumps({**_infer_body(model_dir[1].x[:1]), "id": "ce-1"})
    headers = {"Content-Type": "application/json", "ce-specversion": "1.0",
               "ce-source": "test", "ce-type": "infer", "ce-id": "42"}
    answers = []
    for port in (lean, stock):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/v2/models/nac/infer", body, headers)
        resp = conn.getresponse()
        answers.append((resp.status, resp.getheader("ce-specversion"),
                        resp.getheader("Content-Type"), json.loads(resp.read())))
    (status, version, kind, doc), stock_answer = answers
    assert status == stock_answer[0] == 200 and version == stock_answer[1] == "1.0"
    assert kind == "application/json"
    assert _without_nulls(doc) == _without_nulls(stock_answer[3])


def test_only_the_unversioned_infer_path_is_taken():
    def scope(method: str, path: str) -> dict:
        return {"type": "http", "method": method, "path": path}

    assert _model_name(scope("POST", "/v2/models/nac/infer")) == "nac"
    assert _model_name(scope("POST", "/v2/models/my-model.v2/infer")) == "my-model.v2"
    for method, path in [("GET", "/v2/models/nac/infer"), ("POST", "/v2/models/nac"),
                         ("POST", "/v2/models/nac/versions/1/infer"),
                         ("POST", "/v2/models//infer"), ("POST", "/v1/models/nac:predict")]:
        assert _model_name(scope(method, path)) is None, (method, path)
    assert _model_name({"type": "websocket", "path": "/v2/models/nac/infer"}) is None


def test_binary_size_check_names_the_tensor_and_the_fix():
    from kserve.errors import InvalidInput

    def tensor(shape: list[int], datatype: str, size: int) -> dict:
        return {"name": "t", "shape": shape, "datatype": datatype,
                "parameters": {"binary_data_size": size}}

    fp32, int64 = tensor([2, 3], "FP32", 24), tensor([2], "INT64", 16)
    _check_binary_sizes([fp32, int64], 40)
    with pytest.raises(InvalidInput, match=r"inputs\[1\]\.parameters\.binary_data_size: 16 "
                                           r"bytes do not hold shape \[4\] of INT64 \(32"):
        _check_binary_sizes([fp32, tensor([4], "INT64", 16)], 40)
    with pytest.raises(InvalidInput, match="add up to 40 bytes but only 39"):
        _check_binary_sizes([fp32, int64], 39)
    assert validation_message([{"loc": ("body", "inputs", 0, "shape"), "msg": "Field required"}]
                              ).startswith("inputs.0.shape: Field required; send a v2")
