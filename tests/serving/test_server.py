"""The real KServe model server (`python -m serving`) over HTTP on 127.0.0.1, v2 protocol.

Open Inference Protocol (KServe docs, "V2 protocol"): health at /v2/health/ready, inference at
POST /v2/models/{name}/infer, errors as HTTP 4xx with the body {"error": "<message>"}.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nac.compress import CompressConfig, compress_model
from nac.export import load_model, predict

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(port: int, method: str, path: str, body: object = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
    conn.request(method, path, data, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    raw = resp.read()
    try:
        return resp.status, json.loads(raw)
    except json.JSONDecodeError:
        return resp.status, {"raw": raw.decode(errors="replace")}


def _start(model_dir: Path, *extra: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "serving", "--model-dir", str(model_dir),
                             "--http-port", str(port), *extra], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {proc.stdout.read()}")
        try:
            if _request(port, "GET", "/v2/health/ready")[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("server never became ready")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def servers(model_dir):
    """(HTTP port, gRPC port) of one server speaking both."""
    grpc_port = _free_port()
    proc, port = _start(model_dir[0], "--grpc-port", str(grpc_port))
    yield port, grpc_port
    _stop(proc)


@pytest.fixture(scope="module")
def server(servers):
    return servers[0]


def _infer_body(x: np.ndarray, **overrides: object) -> dict:
    tensor = {"name": "input", "shape": list(x.shape), "datatype": "FP32",
              "data": x.ravel().tolist(), **overrides}
    return {"inputs": [tensor]}


@pytest.mark.slow
def test_ready_and_infer_match_in_process_predict(server, model_dir):
    directory, ds = model_dir
    assert _request(server, "GET", "/v2/health/ready") == (200, {"ready": True})
    status, meta = _request(server, "GET", "/v2/models/nac")
    assert status == 200 and meta["name"] == "nac"
    x = ds.x[:5]
    status, doc = _request(server, "POST", "/v2/models/nac/infer", _infer_body(x))
    assert status == 200, doc
    out = {o["name"]: o for o in doc["outputs"]}
    probs = np.asarray(out["probabilities"]["data"], dtype=np.float32).reshape(5, 3)
    model, m = load_model(directory)
    np.testing.assert_allclose(probs, predict(model, m, x), atol=1e-5)
    assert out["class_index"]["data"] == probs.argmax(1).tolist()
    assert doc["model_name"] == "nac" and doc["parameters"]["variant"] == "torch"
    flat = _infer_body(x.reshape(5, 64))  # [N, C*H*W] is accepted too
    assert _request(server, "POST", "/v2/models/nac/infer", flat)[0] == 200


@pytest.mark.slow
@pytest.mark.parametrize(("body", "field"), [
    (_infer_body(np.zeros((1, 1, 4, 4), np.float32)), "inputs[0].shape"),
    ({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "BYTES",
                  "data": ["a"] * 64}]}, "inputs[0].datatype"),
    ({"inputs": []}, "inputs"),
    (_infer_body(np.zeros((1, 64), np.float32), data=[0.0] * 3), "inputs[0].data"),
    (_infer_body(np.full((1, 64), np.nan, np.float32)), "NaN"),
])
def test_bad_requests_get_the_protocol_error_shape(server, body, field):
    status, doc = _request(server, "POST", "/v2/models/nac/infer", body)
    assert 400 <= status < 500, doc
    assert set(doc) == {"error"} and field in doc["error"], doc


@pytest.mark.slow
def test_unknown_model_and_malformed_json(server):
    status, doc = _request(server, "POST", "/v2/models/other/infer",
                           _infer_body(np.zeros((1, 64), np.float32)))
    assert status == 404 and "error" in doc
    status, doc = _request(server, "POST", "/v2/models/nac/infer", "{not json")
    assert status == 400 and set(doc) == {"error"} and "JSON" in doc["error"], doc
    status, doc = _request(server, "POST", "/v2/models/nac/infer", {"outputs": []})
    assert status == 400 and "inputs" in doc["error"], doc


def _binary_request(port: int, x: np.ndarray) -> tuple[int, dict, bytes]:
    """v2 binary tensor extension: a JSON header, then the raw little-endian FP32 bytes."""
    data = np.ascontiguousarray(x, dtype="<f4").tobytes()
    header = json.dumps({"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(data)}}],
                         "parameters": {"binary_data_output": True}}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v2/models/nac/infer", header + data,
                 {"Content-Type": "application/octet-stream",
                  "Inference-Header-Content-Length": str(len(header))})
    resp = conn.getresponse()
    body = resp.read()
    n = int(resp.getheader("Inference-Header-Content-Length") or len(body))
    return resp.status, json.loads(body[:n]), body[n:]


@pytest.mark.slow
def test_binary_tensor_extension_and_grpc_answer_what_json_does(servers, model_dir):
    """The same three rows through v2 JSON, the binary extension (raw outputs asked for) and
    v2 gRPC with raw_input_contents: identical probabilities; bad shapes are refused with the
    field named (HTTP 400 {"error"}, gRPC INVALID_ARGUMENT)."""
    import grpc
    from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
    from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

    port, grpc_port = servers
    x = model_dir[1].x[:3]
    status, doc = _request(port, "POST", "/v2/models/nac/infer", _infer_body(x))
    assert status == 200
    expected = np.asarray(doc["outputs"][0]["data"], dtype=np.float32).reshape(3, 3)

    status, header, raw = _binary_request(port, x)
    assert status == 200, header
    outputs = {o["name"]: o for o in header["outputs"]}
    size = outputs["probabilities"]["parameters"]["binary_data_size"]
    probs = np.frombuffer(raw[:size], dtype="<f4").reshape(3, 3)
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    classes = np.frombuffer(raw[size:], dtype="<i8")
    assert classes.tolist() == expected.argmax(1).tolist()
    status, doc, _ = _binary_request(port, np.zeros((1, 16), np.float32))  # 64 bytes, wrong shape
    assert status == 400 and set(doc) == {"error"} and "inputs[0].shape" in doc["error"], doc

    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32",
                                                       shape=list(x.shape))
        resp = stub.ModelInfer(pb.ModelInferRequest(
            model_name="nac", inputs=[tensor], raw_input_contents=[x.astype("<f4").tobytes()]))
        assert [o.name for o in resp.outputs] == ["probabilities", "class_index"]
        np.testing.assert_allclose(np.frombuffer(resp.raw_output_contents[0], dtype="<f4")
                                   .reshape(3, 3), expected, atol=1e-6)
        bad = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32",
                                                    shape=[1, 1, 4, 4])
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(pb.ModelInferRequest(model_name="nac", inputs=[bad],
                                                 raw_input_contents=[bytes(64)]))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "inputs[0].shape" in info.value.details()


def test_per_request_timing_middleware_is_dropped_unless_asked_for():
    """KServe adds its timing middleware to the app; without --request-log it is removed when
    Starlette builds the middleware stack (at the first request), unless --timing-middleware."""
    from fastapi import FastAPI
    from timing_asgi import TimingClient, TimingMiddleware

    class Client(TimingClient):
        def timing(self, metric_name, timing, tags) -> None:
            pass
    from timing_asgi.integrations import StarletteScopeToName

    from serving.__main__ import quiet_per_request_logs

    kept = []
    for drop in (True, False):
        app = FastAPI()
        app.add_middleware(TimingMiddleware, client=Client(),
                           metric_namer=StarletteScopeToName(prefix="t", starlette_app=app))
        quiet_per_request_logs(app, drop_timing=drop)
        app.build_middleware_stack()
        kept.append([m.cls for m in app.user_middleware])
    assert kept == [[], [TimingMiddleware]]


@pytest.mark.slow
def test_serves_the_compressed_int8_variant(model_dir, tmp_path):
    directory, ds = model_dir
    out = tmp_path / "compressed"
    compress_model(directory, out, ds, ds, CompressConfig(
        variants=("fp32", "int8"), latency_iters=5, calibration_rows=32),
        log=lambda *_: None)
    proc, port = _start(out, "--variant", "int8")
    try:
        status, doc = _request(port, "POST", "/v2/models/nac/infer", _infer_body(ds.x[:4]))
        assert status == 200 and doc["parameters"]["variant"] == "int8"
        probs = np.asarray(doc["outputs"][0]["data"]).reshape(4, 3)
        assert np.allclose(probs.sum(1), 1.0, atol=1e-4)
    finally:
        _stop(proc)


def test_cli_refuses_a_missing_variant_with_exit_code_2(model_dir):
    done = subprocess.run([sys.executable, "-m", "serving", "--model-dir", str(model_dir[0]),
                           "--variant", "int8"], cwd=ROOT, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 2 and "variant" in done.stderr and "compress" in done.stderr
