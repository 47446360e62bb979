"""Benchmark the suggestion service the way Katib's controller drives it.

A real server subprocess per algorithm (``python -m katib.suggestion``) on 127.0.0.1; every
request carries the whole trial history and asks for 1 assignment, which comes back as the next
SUCCEEDED trial with a synthetic objective. Latency p50/p95 over 20 calls once the history
reaches 10, 100 and 1000 trials (nac: 10 and 100), and the server's peak RSS (VmHWM from
/proc/<pid>/status) at each mark. HPO space: log-uniform double, int, 3-way categorical,
maximize accuracy (the configuration Katib's own services were measured on).

    .venv/bin/python benchmarks/suggestion_service.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import grpc

from katib import nac_stats
from katib.api import api_pb2, api_pb2_grpc
from katib.suggestion import testing as T
from nac.spec import parse_architecture

ROOT = Path(__file__).resolve().parents[1]
CALLS = 20


def _status(pid: int, key: str) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{key}:\s+(\d+) kB", text).group(1)) / 1024


def _objective(a: dict[str, str]) -> float:
    return (1.0 - abs(math.log10(float(a["lr"])) + 2.5) / 4 - abs(int(a["layers"]) - 5) / 20
            + (0.03 if a["optimizer"] == "adam" else 0.0))


class Server:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "katib.suggestion", "--port", "0", "--host", "127.0.0.1",
             "--log-level", "WARNING"],
            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        port = int(self.proc.stdout.readline().rsplit(":", 1)[1])
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", 64 << 20),
                                          ("grpc.max_send_message_length", 64 << 20)])
        self.stub = api_pb2_grpc.SuggestionStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _stats_for(arch: str, rng: random.Random, cache: dict[str, list[str]]) -> str:
    if arch not in cache:
        spec = parse_architecture(arch)
        cache[arch] = [spec.branch_keys(), spec.gate_keys()]
    branches, gates = cache[arch]
    return nac_stats.encode({k: rng.random() for k in branches}, {k: rng.random() for k in gates})


def run(algorithm: str, marks: list[int]) -> list[dict]:
    nas = algorithm == "nac"
    if nas:
        exp = T.nas_experiment(name="bench-nac", input_sizes=(32, 32, 3), parallel=1,
                               settings={"iterations": "100", "trials_per_iteration": "1"},
                               max_trials=1000)
    else:
        settings = {"sampler": "tpe"} if algorithm == "warm-start" else {}
        exp = T.hpo_experiment(name=f"bench-{algorithm}", algorithm=algorithm, settings=settings)
    server = Server()
    rng = random.Random(0)
    req = api_pb2.GetSuggestionsRequest(experiment=exp, current_request_number=1)
    cache: dict[str, list[str]] = {}
    rows, lat = [], []
    last = marks[-1] + CALLS
    try:
        for i in range(last):
            req.total_request_number = len(req.trials) + 1
            t0 = time.perf_counter()
            reply = server.stub.GetSuggestions(req, timeout=60)
            ms = (time.perf_counter() - t0) * 1e3
            item = reply.parameter_assignments[0]
            a = T.assignments_of(item)
            if nas:
                metrics = {"accuracy": f"{rng.random():.4f}",
                           "nac-stats": _stats_for(a["architecture"], rng, cache)}
            else:
                metrics = {"accuracy": f"{_objective(a):.6f}"}
            req.trials.append(T.trial(item.trial_name or f"t{i}", a, metrics=metrics,
                                      completion_time=T.rfc3339(i)))
            n_hist = i  # history length this call carried
            for m in marks:
                if m <= n_hist < m + CALLS:
                    lat.append(ms)
                    if n_hist == m + CALLS - 1:
                        q = statistics.quantiles(lat, n=20, method="inclusive")
                        rows.append({"algorithm": algorithm, "history": m,
                                     "p50_ms": statistics.median(lat), "p95_ms": q[18],
                                     "vmhwm_mib": _status(server.proc.pid, "VmHWM"),
                                     "vmrss_mib": _status(server.proc.pid, "VmRSS"),
                                     "request_kib": req.ByteSize() / 1024})
                        lat = []
    finally:
        server.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="marks 10 and 100 only")
    args = parser.parse_args()
    hpo_marks = [10, 100] if args.quick else [10, 100, 1000]
    rows = []
    for algorithm in ("warm-start", "random", "cmaes"):
        rows += run(algorithm, hpo_marks)
    rows += run("nac", [10, 100])
    print(f"{'algorithm':<12}{'history':>8}{'p50 ms':>9}{'p95 ms':>9}{'VmHWM MiB':>11}"
          f"{'VmRSS MiB':>11}{'request KiB':>13}")
    for r in rows:
        print(f"{r['algorithm']:<12}{r['history']:>8}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
              f"{r['vmhwm_mib']:>11.1f}{r['vmrss_mib']:>11.1f}{r['request_kib']:>13.0f}")

    def pick(alg: str, hist: int) -> float | None:
        got = [r["p95_ms"] for r in rows if r["algorithm"] == alg and r["history"] == hist]
        return round(got[0], 2) if got else None

    result = {
        "warm_start_p95_ms_1000": pick("warm-start", 1000),
        "nac_p95_ms_100": pick("nac", 100),
        "peak_rss_mib": round(max(r["vmhwm_mib"] for r in rows), 1),
        "random_p95_ms_1000": pick("random", 1000),
        "cmaes_p95_ms_1000": pick("cmaes", 1000),
        "cpu_count": os.cpu_count(),
    }
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
