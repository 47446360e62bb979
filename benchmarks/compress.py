"""Compression and serving measured: every variant of one Model, side by side in one run.

1. The Model: `--model DIR` (a `nac-model`, e.g. `local_outputs/model` from `make run`), or
   one trained here quickly (the pipeline's initial small-image EnvelopeNet, `--epochs`).
2. `nac.compress.compress_model` builds fp32 ONNX (parity vs torch), fp16, static INT8
   (calibrated on the train split) and a pruned + fine-tuned variant, and measures all of them
   round-robin on the test split: accuracy, bytes, batch-1 latency, throughput.
3. The selected variant is served by the real KServe server (`python -m serving`, two
   subprocesses on 127.0.0.1) and its batch-1 v2 infer latency is measured per served path,
   all interleaved call by call with the same variant called in process (the difference of
   the p50s is the serving overhead; each served call includes building the request and
   decoding the answer): `json` (v2 JSON over HTTP keep-alive, the default server: the
   headline), `json_kserve` (the same request to KServe as it ships: its FastAPI infer
   route and its timing middleware), `binary` (the v2 binary tensor extension), `grpc` (v2
   gRPC, raw tensors).

    python benchmarks/compress.py [--model DIR] [--source builtin:digits] [--prune-epochs 15]
    python benchmarks/compress.py --serve-only [--model DIR]   # step 3 only (fp32 + int8)

Last line: RESULT {"ort_speedup_b1", "int8_size_ratio", "int8_acc_drop", "pruned_mac_ratio",
"pruned_acc_drop", "serve_overhead_ms_p50", "serve_overhead_ms_p50_{json_kserve,binary,grpc}",
...} (`--serve-only`: the serving keys).
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nac.compress import CompressConfig, compress_model, read_compression
from nac.compress.measure import ort_predictor
from nac.compress.onnx_variants import ort_session
from nac.construct import NACSettings
from nac.data import split_dataset
from nac.data.ingest import ingest
from nac.export import read_meta, save_model
from nac.training import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v2/health/ready")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError("serve did not become ready")


#: Served path -> (server, how the request travels). Server "kserve" is KServe as it ships
#: (its FastAPI infer route and its timing middleware); "lean" is `python -m serving`'s default.
SERVE_MODES = {"json_kserve": ("kserve", "json"), "json": ("lean", "json"),
               "binary": ("lean", "binary"), "grpc": ("lean", "grpc")}
INFER = "/v2/models/nac/infer"


class _Client:
    """One keep-alive v2 client per server: JSON, the binary tensor extension, or gRPC. Each
    call builds the request, sends it and decodes the probabilities (all inside the timing)."""

    def __init__(self, http_port: int, grpc_port: int | None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=30)
        self.stub = None
        if grpc_port:
            import grpc
            from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as pb_grpc

            channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
            grpc.channel_ready_future(channel).result(timeout=60)
            self.stub = pb_grpc.GRPCInferenceServiceStub(channel)

    def _post(self, body: bytes | str, headers: dict[str, str]) -> http.client.HTTPResponse:
        self.conn.request("POST", INFER, body, headers)
        resp = self.conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"infer failed: {resp.status} {resp.read()[:300]!r}")
        return resp

    def json(self, raw: np.ndarray) -> np.ndarray:
        body = json.dumps({"inputs": [{"name": "input", "shape": list(raw.shape),
                                       "datatype": "FP32", "data": raw.ravel().tolist()}]})
        doc = json.loads(self._post(body, {"Content-Type": "application/json"}).read())
        return np.asarray(doc["outputs"][0]["data"], dtype=np.float32)

    def binary(self, raw: np.ndarray) -> np.ndarray:
        data = np.ascontiguousarray(raw, dtype="<f4").tobytes()
        header = json.dumps({"inputs": [{"name": "input", "shape": list(raw.shape),
                                         "datatype": "FP32",
                                         "parameters": {"binary_data_size": len(data)}}],
                             "parameters": {"binary_data_output": True}}).encode()
        resp = self._post(header + data, {"Content-Type": "application/octet-stream",
                                          "Inference-Header-Content-Length": str(len(header))})
        body, n = resp.read(), int(resp.getheader("Inference-Header-Content-Length"))
        size = json.loads(body[:n])["outputs"][0]["parameters"]["binary_data_size"]
        return np.frombuffer(body[n:n + size], dtype="<f4")

    def grpc(self, raw: np.ndarray) -> np.ndarray:
        from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb

        tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32",
                                                       shape=list(raw.shape))
        resp = self.stub.ModelInfer(pb.ModelInferRequest(
            model_name="nac", inputs=[tensor],
            raw_input_contents=[np.ascontiguousarray(raw, dtype="<f4").tobytes()]))
        return np.frombuffer(resp.raw_output_contents[0], dtype="<f4")


def _server(model_dir: Path, variant: str, *flags: str) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "serving", "--model-dir", str(model_dir),
                             "--variant", variant, "--http-port", str(port), *flags], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_ready(port, proc)
    return proc, port


def serve_overhead(model_dir: Path, variant: str, x: np.ndarray, iters: int) -> dict:
    """p50/p95 of batch-1 v2 infer per served path (SERVE_MODES) vs the same ORT session in
    process, all interleaved call by call in rotating order; overhead = served - in-process p50.
    """
    from importlib.util import find_spec

    from nac.data.format import Normalization

    grpc_port = _free_port()
    servers = {"kserve": _server(model_dir, variant, "--timing-middleware",
                              "--kserve-infer-route"),
               "lean": _server(model_dir, variant, "--grpc-port", str(grpc_port))}
    try:
        clients = {"kserve": _Client(servers["kserve"][1], None),
                   "lean": _Client(servers["lean"][1], grpc_port)}
        meta = read_meta(model_dir)
        norm = Normalization.from_json(meta.normalization) if meta.normalization else None
        local = ort_predictor(ort_session(model_dir / "onnx" / f"{variant}.onnx"))

        def inprocess(raw: np.ndarray) -> np.ndarray:
            xn = norm.apply(raw) if norm is not None else raw
            return local(np.ascontiguousarray(xn, dtype=np.float32))

        calls = {name: getattr(clients[server], how) for name, (server, how) in
                 SERVE_MODES.items()}
        calls["inprocess"] = inprocess
        logits = inprocess(x[:1])[0]
        expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        for name, call in calls.items():  # every path answers the same probabilities
            if name != "inprocess":
                np.testing.assert_allclose(call(x[:1]), expected, atol=1e-5, err_msg=name)
        times: dict[str, list[float]] = {name: [] for name in calls}
        order = list(calls)
        for i in range(iters + 50):
            raw = x[i % len(x)][None]
            for name in order[i % len(order):] + order[:i % len(order)]:
                t0 = time.perf_counter()
                calls[name](raw)
                if i >= 50:
                    times[name].append((time.perf_counter() - t0) * 1000)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(timeout=30)
    p50 = {name: float(np.percentile(t, 50)) for name, t in times.items()}
    return {"iters": iters, "inprocess_p50_ms": p50["inprocess"],
            "uvloop": find_spec("uvloop") is not None,
            "httptools": find_spec("httptools") is not None,
            **{f"{name}_p50_ms": p50[name] for name in SERVE_MODES},
            **{f"{name}_p95_ms": float(np.percentile(times[name], 95)) for name in SERVE_MODES},
            **{f"{name}_overhead_ms_p50": p50[name] - p50["inprocess"] for name in SERVE_MODES}}


def _serve_result(serve: dict) -> dict:
    """The RESULT keys of the serving comparison: the headline is v2 JSON over HTTP (what
    every v2 client speaks) on the default server; the other paths beside it."""
    out = {"serve_overhead_ms_p50": round(serve["json_overhead_ms_p50"], 3),
           "served_p50_ms": round(serve["json_p50_ms"], 3),
           "inprocess_p50_ms": round(serve["inprocess_p50_ms"], 3)}
    for name in SERVE_MODES:
        if name != "json":
            out[f"serve_overhead_ms_p50_{name}"] = round(serve[f"{name}_overhead_ms_p50"], 3)
    return {**out, "uvloop": serve["uvloop"], "httptools": serve["httptools"]}


def _print_serve(serve: dict, variant: str) -> None:
    print(f"\nserved {variant}, batch 1, {serve['iters']} calls per path, interleaved; "
          f"in process {serve['inprocess_p50_ms']:.3f} ms p50")
    print("| path | p50 ms | p95 ms | overhead p50 ms |\n|---|---|---|---|")
    for name in SERVE_MODES:
        print(f"| {name} | {serve[f'{name}_p50_ms']:.3f} | {serve[f'{name}_p95_ms']:.3f} | "
              f"{serve[f'{name}_overhead_ms_p50']:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="", help="nac-model directory (default: train one)")
    ap.add_argument("--source", default="builtin:digits")
    ap.add_argument("--epochs", type=int, default=8, help="quick training when no --model")
    ap.add_argument("--prune-epochs", type=int, default=15)
    ap.add_argument("--prune-target", type=float, default=0.55, help="MAC ratio to prune to")
    ap.add_argument("--iters", type=int, default=300, help="batch-1 calls per variant")
    ap.add_argument("--serve-iters", type=int, default=1000, help="batch-1 calls per served path")
    ap.add_argument("--budget", type=float, default=0.005, help="accuracy budget (fraction)")
    ap.add_argument("--serve-only", action="store_true",
                    help="only the serving comparison: --model as it is when compressed "
                         "(compression.json), else compressed to fp32 + int8 only (no pruning)")
    args = ap.parse_args()
    started = time.perf_counter()
    splits = split_dataset(ingest(args.source), seed=0)
    print(f"data {args.source}: train {splits.train.rows}, test {splits.test.rows} rows; "
          "2-vCPU VM shared with other jobs, 1 thread per predictor", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-compress-") as tmp:
        model_dir = Path(args.model) if args.model else Path(tmp) / "model"
        if not args.model:
            spec = NACSettings.small_images().initial_spec(tuple(splits.train.x.shape[1:]),
                                                           len(splits.train.classes))
            r = train(spec, splits.train, splits.val, TrainConfig(epochs=args.epochs,
                                                                  batch_size=32, threads=1))
            save_model(model_dir, r.model, spec, splits.train.classes,
                       normalization=splits.train.normalization)
            print(f"trained {args.epochs} epochs: val accuracy {r.val_accuracy:.4f}", flush=True)
        out = Path(tmp) / "compressed"
        doc = read_compression(model_dir) if args.serve_only else None
        if doc is not None:
            out = model_dir
        else:
            variants = ("fp32", "int8") if args.serve_only else CompressConfig.variants
            doc = compress_model(model_dir, out, splits.train, splits.test, CompressConfig(
                accuracy_budget=args.budget, prune_epochs=args.prune_epochs, variants=variants,
                prune_target_mac_ratio=args.prune_target, latency_iters=args.iters))
        v = doc["variants"]
        serve_variant = doc["selected"] if doc["selected"] != "torch" else "fp32"
        serve = serve_overhead(out, serve_variant, splits.test.x, args.serve_iters)
    _print_serve(serve, serve_variant)
    if args.serve_only:
        print("RESULT " + json.dumps({**_serve_result(serve), "variant": serve_variant,
                                      "wall_seconds": round(time.perf_counter() - started, 1)}))
        return
    print("\n| variant | accuracy | bytes | p50 ms | p95 ms | rows/s | MACs |")
    print("|---|---|---|---|---|---|---|")
    for name, m in v.items():
        print(f"| {name} | {m['accuracy']:.4f} | {m['size_bytes']:.0f} | "
              f"{m['latency_ms_p50']:.3f} | {m['latency_ms_p95']:.3f} | "
              f"{m['throughput_rows_s']:.0f} | {m['macs']:.0f} |")
    print(f"\nONNX parity: {doc['parity']}; selected: {doc['selected']}")
    ref = v["torch"]["accuracy"]
    result = {
        "ort_speedup_b1": round(v["torch"]["latency_ms_p50"] / v["fp32"]["latency_ms_p50"], 2),
        "onnx_max_abs_logit_diff": doc["parity"]["max_abs_logit_diff"],
        "onnx_argmax_agreement": doc["parity"]["argmax_agreement"],
        "int8_size_ratio": round(v["int8"]["size_bytes"] / v["fp32"]["size_bytes"], 3),
        "int8_acc_drop": round(100 * (ref - v["int8"]["accuracy"]), 2),
        "int8_speedup_b1": round(v["fp32"]["latency_ms_p50"] / v["int8"]["latency_ms_p50"], 2),
        "fp16_size_ratio": round(v["fp16"]["size_bytes"] / v["fp32"]["size_bytes"], 3),
        "pruned_mac_ratio": round(v["pruned"]["mac_ratio"], 3),
        "pruned_acc_drop": round(100 * (ref - v["pruned"]["accuracy"]), 2),
        **_serve_result(serve), "selected": doc["selected"],
        "torch_accuracy": ref, "eval_rows": doc["eval_rows"],
        "wall_seconds": round(time.perf_counter() - started, 1)}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
