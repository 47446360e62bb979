"""Early stopping measured on the LCBench surrogate: epochs to reach random search's quality.

Data: the YAHPO Gym LCBench surrogate (``model.onnx``, run with onnxruntime directly; 34
OpenML tasks, learning curves of 52 epochs; see ../shared/data/README.md). A trial's curve is
the surrogate's ``val_accuracy`` at epochs 1..52 for its configuration; the trial reports one
value per epoch. Everything else is real: our suggestion service (``random``, ``tpe``) and our
early-stopping service (``asha``, ``medianstop``) over gRPC on 127.0.0.1, driven by
``katib.earlystopping.replay`` (Katib's controller loop, rules fixed per trial at creation,
the metrics collector's rule semantics, a DB manager over gRPC). Serial trials
(parallelTrialCount 1), so every run is deterministic.

Per task and seed: random search with full training for 100 trials sets the target (its best
val_accuracy) and costs 100 x 52 = 5200 epochs. Each method then runs, same seed, until its
best observed val_accuracy reaches the target, it spends ``--budget-factor`` x 5200 epochs, or
it has run ``--max-trials`` trials (the Experiment's maxTrialCount); its ratio is 5200 / epochs
spent (a run that never reaches the target scores 5200 / budget, a lower bound). Random
search's own figure (``random_epoch_ratio``: 5200 / epochs until its best of 100 was first
seen) is printed too: every ratio includes that part, which no early stopping earns.
Medianstop and ASHA use the random sampler with the same seed as the baseline,
so they see the same configurations in the same order.

    python benchmarks/early_stopping_lcbench.py [--data ../shared/data/lcbench] [--seeds 10]
        [--tasks 34] [--eta 8] [--min-resource 2] [--median-start-step 4] [--workers 2]
        [--out /tmp/lcbench-regret.svg]

Last line: RESULT {"asha_epoch_ratio", "median_stop_epoch_ratio", "tpe_asha_epoch_ratio", ...}
(medians over tasks x seeds).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import signal
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.svg_plot import line_chart  # noqa: E402
from katib.api import api_pb2 as pb  # noqa: E402
from katib.earlystopping import asha  # noqa: E402
from katib.earlystopping.replay import Replay  # noqa: E402

EPOCHS = 52
BASELINE_TRIALS = 100
#: Katib parameters, ranges from config_space.json (int/log as YAHPO declares them).
PARAMS = (
    ("batch_size", pb.INT, "16", "512", pb.LOG_UNIFORM),
    ("learning_rate", pb.DOUBLE, "0.0001", "0.1", pb.LOG_UNIFORM),
    ("momentum", pb.DOUBLE, "0.1", "0.99", pb.UNIFORM),
    ("weight_decay", pb.DOUBLE, "0.00001", "0.1", pb.UNIFORM),
    ("num_layers", pb.INT, "1", "5", pb.UNIFORM),
    ("max_units", pb.INT, "64", "1024", pb.LOG_UNIFORM),
    ("max_dropout", pb.DOUBLE, "0", "1", pb.UNIFORM),
)
#: x_cont order of the surrogate (yahpo lcbench cont_names), after epoch.
CONT = ("batch_size", "learning_rate", "momentum", "weight_decay", "num_layers", "max_units",
        "max_dropout")


class Surrogate:
    """val_accuracy curves from the ONNX model, one batch of 52 epochs per configuration."""

    def __init__(self, data: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(data / "model.onnx"), sess_options=options)
        self.encoding = json.loads((data / "encoding.json").read_text())["OpenML_task_id"]
        space = json.loads((data / "config_space.json").read_text())
        self.tasks = next(h["choices"] for h in space["hyperparameters"]
                          if h["name"] == "OpenML_task_id")
        self._cache: dict[tuple, list[float]] = {}

    def curve(self, task: str, values: dict[str, str]) -> list[float]:
        key = (task, *(values[n] for n in CONT))
        hit = self._cache.get(key)
        if hit is None:
            row = [float(values[n]) for n in CONT]
            x = np.array([[e, *row] for e in range(1, EPOCHS + 1)], dtype=np.float32)
            cat = np.full((EPOCHS, 1), self.encoding[task], dtype=np.int32)
            out = self.session.run(None, {"x_cat": cat, "x_cont": x})[0]
            hit = [round(float(v), 4) for v in out[:, 1]]
            self._cache[key] = hit
        return hit


def experiment(name: str, sampler: str, seed: int, stopping: str, args: argparse.Namespace
               ) -> pb.Experiment:
    spec = pb.ExperimentSpec(
        objective=pb.ObjectiveSpec(type=pb.MAXIMIZE, objective_metric_name="val_accuracy"),
        algorithm=pb.AlgorithmSpec(algorithm_name=sampler, algorithm_settings=[
            pb.AlgorithmSetting(name="random_state", value=str(seed))]),
        parallel_trial_count=1, max_trial_count=100_000)
    for n, kind, lo, hi, dist in PARAMS:
        spec.parameter_specs.parameters.add(
            name=n, parameter_type=kind,
            feasible_space=pb.FeasibleSpace(min=lo, max=hi, distribution=dist))
    if stopping == "asha":
        spec.early_stopping.algorithm_name = "asha"
        for k, v in (("reduction_factor", args.eta), ("min_resource", args.min_resource),
                     ("max_resource", EPOCHS)):
            spec.early_stopping.algorithm_settings.add(name=k, value=str(v))
    elif stopping == "medianstop":
        spec.early_stopping.algorithm_name = "medianstop"  # Katib's defaults: 3 trials, step 4
        if args.median_start_step:
            spec.early_stopping.algorithm_settings.add(name="start_step",
                                                       value=str(args.median_start_step))
    return pb.Experiment(name=name, spec=spec)


METHODS = {  # name -> (sampler, early stopping)
    "median_stop": ("random", "medianstop"),
    "asha": ("random", "asha"),
    "tpe_asha": ("tpe", "asha"),
}


_SUR: Surrogate | None = None


def _worker_init(data: Path) -> None:
    global _SUR
    _SUR = Surrogate(data)


def run_pair(job: tuple[str, int, argparse.Namespace]) -> dict[str, tuple[float, bool, list]]:
    """One task and seed, every method through its own gRPC services: method -> (ratio,
    reached, anytime trace). Runs in a worker process (each has its own servers)."""
    task, seed, args = job
    assert _SUR is not None
    sur = _SUR

    def curve(values: dict[str, str]) -> list[float]:
        return sur.curve(task, values)

    full = BASELINE_TRIALS * EPOCHS
    budget = int(args.budget_factor * full)
    exp = experiment(f"lc-{task}-{seed}", "random", seed, "", args)
    with Replay(exp, curve) as rp:
        rp.validate()
        base = rp.run(BASELINE_TRIALS)
    target = base.trace[-1][1]
    # random search's own figure: 5200 / epochs until its best of 100 was first seen
    first = next(e for e, v in base.trace if v >= target)
    out = {"random": (full / first, True, base.trace)}
    for m, (sampler, stopping) in METHODS.items():
        exp = experiment(f"lc-{task}-{seed}", sampler, seed, stopping, args)
        with Replay(exp, curve) as rp:
            rp.validate()
            res = rp.run(args.max_trials, budget=budget, target=target)
        hit = bool(res.trace) and res.trace[-1][1] >= target
        out[m] = (full / (res.epochs if hit else budget), hit, res.trace)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "lcbench")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--tasks", type=int, default=34)
    ap.add_argument("--eta", type=int, default=asha.DEFAULT_REDUCTION_FACTOR)
    ap.add_argument("--min-resource", type=int, default=asha.DEFAULT_MIN_RESOURCE)
    ap.add_argument("--median-start-step", type=int, default=0,
                    help="medianstop start_step (0: Katib's default, 4)")
    ap.add_argument("--budget-factor", type=float, default=2.0)
    ap.add_argument("--max-trials", type=int, default=300,
                    help="the Experiment's maxTrialCount for the stopping methods (cheap cuts "
                         "make thousands of trials, and every call carries the whole history)")
    ap.add_argument("--workers", type=int, default=2, help="processes (at most 2 here)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/lcbench-regret.svg"))
    ap.add_argument("--log", type=Path, default=Path("/tmp/lcbench-runs.jsonl"),
                    help="one JSON line per finished task/seed; resumed from on a rerun")
    args = ap.parse_args()
    sur = Surrogate(args.data)
    tasks = sur.tasks[: args.tasks]
    full = BASELINE_TRIALS * EPOCHS
    budget = int(args.budget_factor * full)
    names = ("random", *METHODS)
    ratios: dict[str, list[float]] = {m: [] for m in names}
    reached: dict[str, int] = {m: 0 for m in names}
    curves: dict[str, list[list[tuple[int, float]]]] = {m: [] for m in names}
    started = time.perf_counter()
    print(f"data: {args.data} (YAHPO Gym LCBench surrogate); {len(tasks)} tasks x "
          f"{args.seeds} seeds; ASHA eta={args.eta} min_resource={args.min_resource}; "
          f"medianstop start_step={args.median_start_step or 4}; budget {budget} epochs or "
          f"{args.max_trials} trials per run; {args.workers} processes", flush=True)
    jobs = [(task, seed, args) for task in tasks for seed in range(args.seeds)]
    # every finished task/seed goes to --log; a rerun with the same settings resumes from it
    key = {k: getattr(args, k) for k in ("eta", "min_resource", "median_start_step",
                                         "budget_factor", "max_trials")}
    done: dict[tuple[str, int], dict] = {}
    if args.log.exists():
        for line in args.log.read_text().splitlines():
            row = json.loads(line)
            if row["settings"] == key:
                done[(row["task"], row["seed"])] = row["runs"]

    def add(runs: dict) -> None:
        for m, (ratio, hit, _trace) in runs.items():
            ratios[m].append(ratio)
            reached[m] += hit
        best = max(tr[-1][1] for _r, _h, tr in runs.values() if tr)
        for m, (_r, _h, tr) in runs.items():
            curves[m].append([(e, best - v) for e, v in tr])

    for job in jobs:
        if (job[0], job[1]) in done:
            add(done[(job[0], job[1])])
    todo = [j for j in jobs if (j[0], j[1]) not in done]
    print(f"{len(jobs) - len(todo)} runs resumed from {args.log}", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill: summarise what is done
    try:
        with multiprocessing.get_context("spawn").Pool(
                args.workers, initializer=_worker_init, initargs=(args.data,)) as pool, \
                args.log.open("a") as log:
            for i, runs in enumerate(pool.imap(run_pair, todo)):
                add(runs)
                log.write(json.dumps({"task": todo[i][0], "seed": todo[i][1], "settings": key,
                                      "runs": runs}) + "\n")
                log.flush()
                if todo[i][1] == args.seeds - 1:
                    print(f"task {todo[i][0]}: median ratios so far " + ", ".join(
                        f"{m} {statistics.median(v):.2f}x" for m, v in ratios.items())
                        + f" ({len(ratios['random'])} runs, "
                        f"{time.perf_counter() - started:.0f} s)", flush=True)
    except KeyboardInterrupt:
        print("interrupted: the summary covers the runs done so far", flush=True)
    runs_total = len(ratios["random"])
    print("\n| method | median ratio | geometric mean | reached target |")
    print("|---|---|---|---|")
    for m, v in ratios.items():
        gm = math.exp(statistics.fmean(math.log(x) for x in v))
        print(f"| {m} | {statistics.median(v):.2f}x | {gm:.2f}x | {reached[m]}/{runs_total} |")
    grid = list(range(0, budget + 1, budget // 100))
    series = {}
    for m, traces in curves.items():
        pts = []
        for g in grid[1:]:
            vals = []
            for tr in traces:
                last = [r for e, r in tr if e <= g]
                if last:
                    vals.append(last[-1])
            if len(vals) == len(traces):
                pts.append((g, max(statistics.median(vals), 1e-3)))
        series[m] = pts
    line_chart(args.out, series, title="LCBench: median anytime regret (val_accuracy points)",
               xlabel="epochs spent", ylabel="regret (log)", log_y=True)
    print(f"anytime regret picture: {args.out}")
    result = {f"{m}_epoch_ratio": round(statistics.median(v), 3) for m, v in ratios.items()}
    result.update({f"{m}_reached": f"{reached[m]}/{runs_total}" for m in METHODS})
    result.update({"runs": runs_total, "complete": runs_total == len(jobs),
                   "tasks": len({t for t, _s, _a in jobs[:runs_total]}) if runs_total else 0,
                   "baseline_epochs": full, "max_trials": args.max_trials,
                   "eta": args.eta,
                   "min_resource": args.min_resource,
                   "median_start_step": args.median_start_step or 4,
                   "seconds": round(time.perf_counter() - started, 1),
                   "picture": str(args.out)})
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
