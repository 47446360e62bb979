"""Warm start measured: trials needed to reach an earlier run's best accuracy, warm vs cold.

1. A source experiment (the warm-start algorithm with no source, i.e. plain TPE) searches
   lr / momentum / weight decay of a small network on digits; its best accuracy is the target
   and its results file (contracts.md §6) the warm-start source.
2. For each of 3 seeds, three experiments on the same task with `goal: <target>` (Katib stops
   at the goal), side by side: warm with `warm_start_type` = transfer (the source's top-k
   configurations re-evaluated first, then its results as the sampler's prior), warm with
   `warm_start_type` = identical (the source's results told to TPE as real observations, no
   re-evaluation), and cold (no source). `warm_start_source` = the source's results file. Trials to
   target = the 1-based count of trials completed when the goal was first reached; a run that
   never reaches it within the budget scores budget + 1.
Trials are deterministic (fixed training seed, one thread each), so a re-evaluated
configuration reproduces its accuracy exactly; every run is serial (parallelTrialCount=1) so
each suggestion sees the same history and the whole benchmark is reproducible.

    python benchmarks/warm_start_digits.py [--source-trials 8] [--budget 8] [--epochs 3]

Last line: RESULT {"warm_trials_to_target": <median, transfer>, "cold_trials_to_target": <median>,
"identical_trials_to_target": <median>, ...}
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import yaml

from katib.local import LocalRunOutcome, run_experiment
from katib.suggestion.metrics import parse_metric

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "tpe-digits.yaml"
SEEDS = (1, 2, 3)
#: Experiments per seed: the two warm_start_type values, and a cold start.
KINDS = ("transfer", "identical", "cold")


def _experiment(name: str, *, seed: int, trials: int, parallel: int, epochs: int,
                goal: float | None = None, source: Path | None = None,
                warm_type: str = "transfer") -> dict:
    doc = yaml.safe_load(EXAMPLE.read_text())
    spec = doc["spec"]
    doc["metadata"]["name"] = name
    spec.pop("earlyStopping", None)
    spec["objective"].pop("goal", None)
    if goal is not None:
        spec["objective"]["goal"] = goal
    settings = {"sampler": "tpe", "seed": str(seed), "n_startup_trials": "4"}
    if source is not None:
        settings.update({"warm_start_source": str(source), "warm_start_type": warm_type,
                         "warm_start_top_k": "3"})
    spec["algorithm"] = {"algorithmName": "warm-start", "algorithmSettings": [
        {"name": k, "value": v} for k, v in settings.items()]}
    spec["maxTrialCount"] = trials
    spec["parallelTrialCount"] = parallel
    container = spec["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [a if not a.startswith("--epochs=") else f"--epochs={epochs}"
                         for a in container["args"]]
    return doc


def _trials_to_target(result: LocalRunOutcome, target: float, budget: int) -> int:
    for i, t in enumerate(result.trials, start=1):  # completion order
        value = parse_metric(t.metrics.get("accuracy", ""))
        if value is not None and value >= target:
            return i
    return budget + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-trials", type=int, default=8)
    parser.add_argument("--budget", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workdir", help="keep results and logs here (default: a temp dir)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="warm-bench-") as tmp:
        work = Path(args.workdir or tmp)
        source = run_experiment(
            _experiment("ws-source", seed=0, trials=args.source_trials, parallel=1,
                        epochs=args.epochs),
            workdir=work / "source", progress=not args.quiet)
        if source.best_objective is None:
            raise SystemExit("the source experiment produced no successful trial")
        target = source.best_objective
        rows = []
        for seed in SEEDS:
            counts = {}
            for kind in KINDS:
                doc = _experiment(
                    f"ws-{kind}-{seed}", seed=seed, trials=args.budget, parallel=1,
                    epochs=args.epochs, goal=target,
                    source=source.results_file.resolve() if kind != "cold" else None,
                    warm_type=kind)
                result = run_experiment(doc, workdir=work / f"{kind}-{seed}",
                                        progress=not args.quiet)
                counts[kind] = (_trials_to_target(result, target, args.budget),
                                result.best_objective)
            rows.append((seed, counts))

    print(f"\nWarm start on digits: target accuracy {target:g} = best of a {args.source_trials}-"
          f"trial source run ({source.best.assignments}); budget {args.budget} trials")
    print(f"{'seed':>4}" + "".join(f" {k + ' trials':>16} {k + ' best':>15}" for k in KINDS))

    def show(n: int) -> str:
        return str(n) if n <= args.budget else f">{args.budget}"

    for seed, counts in rows:
        cells = "".join(f" {show(counts[k][0]):>16} "
                        f"{counts[k][1] if counts[k][1] is not None else '-':>15}" for k in KINDS)
        print(f"{seed:>4}{cells}")
    median = {k: statistics.median(c[k][0] for _, c in rows) for k in KINDS}
    print("median trials to target: " + ", ".join(f"{k} {median[k]:g}" for k in KINDS)
          + f" (a value of {args.budget + 1} means not reached within the budget)")
    print("RESULT " + json.dumps({"warm_trials_to_target": median["transfer"],
                                  "cold_trials_to_target": median["cold"],
                                  "identical_trials_to_target": median["identical"],
                                  "target_accuracy": target, "budget": args.budget}))


if __name__ == "__main__":
    main()
