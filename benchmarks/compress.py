"""Compression and serving measured: every variant of one Model, side by side in one run.

1. The Model: `--model DIR` (a `nac-model`, e.g. `local_outputs/model` from `make run`), or
   one trained here quickly (the pipeline's initial small-image EnvelopeNet, `--epochs`).
2. `nac.compress.compress_model` builds fp32 ONNX (parity vs torch), fp16, static INT8
   (calibrated on the train split) and a pruned + fine-tuned variant, and measures all of them
   round-robin on the test split: accuracy, bytes, batch-1 latency, throughput.
3. The selected variant is served by the real KServe server (`python -m serving`, a
   subprocess on 127.0.0.1) and its batch-1 v2 infer latency over HTTP (keep-alive) is
   measured round-robin against the same variant called in process; the difference of the
   p50s is the serving overhead.

    python benchmarks/compress.py [--model DIR] [--source builtin:digits] [--prune-epochs 15]

Last line: RESULT {"ort_speedup_b1", "int8_size_ratio", "int8_acc_drop", "pruned_mac_ratio",
"pruned_acc_drop", "serve_overhead_ms_p50", ...}
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

from nac.compress import CompressConfig, compress_model
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


def serve_overhead(model_dir: Path, variant: str, x: np.ndarray, iters: int) -> dict:
    """p50/p95 of v2 infer over HTTP vs the same ORT session in process, round robin."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "serving", "--model-dir", str(model_dir),
                             "--variant", variant, "--http-port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(port, proc)
        meta = read_meta(model_dir)
        from nac.data.format import Normalization

        norm = Normalization.from_json(meta.normalization) if meta.normalization else None
        local = ort_predictor(ort_session(model_dir / "onnx" / f"{variant}.onnx"))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        served, inproc = [], []
        for i in range(iters + 20):
            raw = x[i % len(x)][None]
            body = json.dumps({"inputs": [{"name": "input", "shape": list(raw.shape),
                                           "datatype": "FP32",
                                           "data": raw.ravel().tolist()}]})
            t0 = time.perf_counter()
            conn.request("POST", "/v2/models/nac/infer", body,
                         {"Content-Type": "application/json"})
            resp = conn.getresponse()
            doc = json.loads(resp.read())
            t1 = time.perf_counter()
            xn = norm.apply(raw) if norm is not None else raw
            local(np.ascontiguousarray(xn, dtype=np.float32))
            t2 = time.perf_counter()
            if resp.status != 200:
                raise RuntimeError(f"infer failed: {doc}")
            if i >= 20:
                served.append((t1 - t0) * 1000)
                inproc.append((t2 - t1) * 1000)
        return {"served_p50_ms": float(np.percentile(served, 50)),
                "served_p95_ms": float(np.percentile(served, 95)),
                "inprocess_p50_ms": float(np.percentile(inproc, 50)),
                "overhead_ms_p50": float(np.percentile(served, 50) - np.percentile(inproc, 50))}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="", help="nac-model directory (default: train one)")
    ap.add_argument("--source", default="builtin:digits")
    ap.add_argument("--epochs", type=int, default=8, help="quick training when no --model")
    ap.add_argument("--prune-epochs", type=int, default=15)
    ap.add_argument("--prune-target", type=float, default=0.55, help="MAC ratio to prune to")
    ap.add_argument("--iters", type=int, default=300, help="batch-1 calls per variant")
    ap.add_argument("--budget", type=float, default=0.005, help="accuracy budget (fraction)")
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
        doc = compress_model(model_dir, out, splits.train, splits.test, CompressConfig(
            accuracy_budget=args.budget, prune_epochs=args.prune_epochs,
            prune_target_mac_ratio=args.prune_target, latency_iters=args.iters))
        v = doc["variants"]
        serve_variant = doc["selected"] if doc["selected"] != "torch" else "fp32"
        serve = serve_overhead(out, serve_variant, splits.test.x, args.iters)
    print("\n| variant | accuracy | bytes | p50 ms | p95 ms | rows/s | MACs |")
    print("|---|---|---|---|---|---|---|")
    for name, m in v.items():
        print(f"| {name} | {m['accuracy']:.4f} | {m['size_bytes']:.0f} | "
              f"{m['latency_ms_p50']:.3f} | {m['latency_ms_p95']:.3f} | "
              f"{m['throughput_rows_s']:.0f} | {m['macs']:.0f} |")
    print(f"\nONNX parity: {doc['parity']}; selected: {doc['selected']}; served "
          f"{serve_variant}: {serve}")
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
        "serve_overhead_ms_p50": round(serve["overhead_ms_p50"], 3),
        "served_p50_ms": round(serve["served_p50_ms"], 3), "selected": doc["selected"],
        "torch_accuracy": ref, "eval_rows": doc["eval_rows"],
        "wall_seconds": round(time.perf_counter() - started, 1)}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
