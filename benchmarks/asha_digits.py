"""ASHA on real training: CPU-seconds to reach the quality of a search without early stopping.

ASHA's claim is not "the same trials, cheaper" (it stops some of them, and may stop the one
that would have become best) but "the same quality for less compute, because the compute it
saves buys more trials". So the two arms of examples/asha-digits.yaml (random search over
lr / momentum / weight decay of a small network on the built-in digits, ``--epochs`` epochs
per trial, parallelTrialCount 2) run through ``katib.local`` with the same ``random_state``
(the random sampler is a function of the seed and the trial index, so the ASHA arm trains the
no-stopping arm's configurations first, then new ones):

- **full**: ``--trials`` trials, ``earlyStopping`` removed, no goal: its best accuracy ``Q``
  and its CPU-seconds set the bar (as random search after 100 full trials does on LCBench);
- **asha**: the Experiment's ``asha`` early stopping (our gRPC service, Katib's rule
  semantics), up to ``--asha-trials`` trials, with the Experiment goal ``Q - tolerance``: it
  ends, as Katib ends an Experiment, when a trial reaches the goal.

``asha_real_cpu_ratio`` = CPU-seconds of full / CPU-seconds of asha until its goal was reached
(if it never is, the ratio is reported with ``reached_quality: false``). CPU-seconds = user +
system time of all trial processes (getrusage of the runner's children), so the ratio does not
depend on how busy the machine is; wall seconds do, and are printed with the load average.

    python benchmarks/asha_digits.py [--trials 10] [--asha-trials 30] [--epochs 10]
        [--tolerance 0.006] [--set reduction_factor=8 --set min_resource=2]

Last line: RESULT {"asha_real_cpu_ratio", "best_accuracy_full", "best_accuracy_asha", ...}
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import yaml

from katib.local import TrialStatus, run_experiment

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "asha-digits.yaml"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _with_epochs(doc: dict, epochs: int) -> None:
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
        "containers"][0]
    args = [a for a in container["args"] if not a.startswith("--epochs=")]
    container["args"] = [*args, f"--epochs={epochs}"]
    for s in doc["spec"].get("earlyStopping", {}).get("algorithmSettings", []):
        if s["name"] in ("max_resource", "r_max"):
            s["value"] = str(epochs)


def _arm(doc: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cpu0, wall0, load0 = _cpu(), time.perf_counter(), os.getloadavg()[0]
        result = run_experiment(doc, results=Path(tmp) / "results.json",
                                workdir=Path(tmp) / "trials", progress=False)
        return {"cpu": _cpu() - cpu0, "wall": time.perf_counter() - wall0,
                "load": (load0 + os.getloadavg()[0]) / 2, "best": result.best_objective,
                "trials": len(result.trials), "reason": result.reason,
                "stopped": result.count(TrialStatus.EARLY_STOPPED),
                "configs": [json.dumps(t.assignments, sort_keys=True) for t in result.trials]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=10, help="trials of the no-stopping arm")
    ap.add_argument("--asha-trials", type=int, default=30, help="at most, in the ASHA arm")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--tolerance", type=float, default=0.006,
                    help="equal quality: within this accuracy (0.006 = one of the 179 "
                         "validation images)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override an earlyStopping setting of the example (repeatable)")
    args = ap.parse_args()
    base = yaml.safe_load(EXAMPLE.read_text())
    settings = base["spec"]["earlyStopping"]["algorithmSettings"]
    for item in args.set:
        name, _, value = item.partition("=")
        settings[:] = [s for s in settings if s["name"] != name] + [
            {"name": name, "value": value}]
    base["spec"]["objective"].pop("goal", None)
    _with_epochs(base, args.epochs)
    full_doc = copy.deepcopy(base)
    full_doc["spec"].pop("earlyStopping")
    full_doc["spec"]["maxTrialCount"] = args.trials
    full = _arm(full_doc)
    goal = round(full["best"] - args.tolerance, 6)
    print(f"full: {full['cpu']:.1f} CPU-s, {full['wall']:.1f} s wall (load {full['load']:.1f}),"
          f" best accuracy {full['best']} over {full['trials']} trials", flush=True)
    asha_doc = copy.deepcopy(base)
    asha_doc["spec"]["maxTrialCount"] = args.asha_trials
    asha_doc["spec"]["objective"]["goal"] = goal
    asha = _arm(asha_doc)
    reached = asha["best"] is not None and asha["best"] >= goal
    print(f"asha: {asha['cpu']:.1f} CPU-s, {asha['wall']:.1f} s wall (load {asha['load']:.1f}),"
          f" best accuracy {asha['best']} after {asha['trials']} trials ({asha['stopped']} "
          f"early-stopped), {asha['reason']}", flush=True)
    n = min(args.trials, len(asha["configs"]))
    same_first = asha["configs"][:n] == full["configs"][:n]
    ratio = full["cpu"] / asha["cpu"]
    print("\n| arm | trials | early-stopped | CPU-seconds | wall s | load | best accuracy |")
    print("|---|---|---|---|---|---|---|")
    for name, a in (("full", full), ("asha", asha)):
        print(f"| {name} | {a['trials']} | {a['stopped']} | {a['cpu']:.1f} | {a['wall']:.1f} | "
              f"{a['load']:.1f} | {a['best']} |")
    print("RESULT " + json.dumps({
        "asha_real_cpu_ratio": round(ratio, 3), "reached_quality": reached,
        "best_accuracy_full": full["best"], "best_accuracy_asha": asha["best"],
        "tolerance": args.tolerance, "goal": goal, "cpu_seconds_full": round(full["cpu"], 1),
        "cpu_seconds_asha": round(asha["cpu"], 1), "trials_full": full["trials"],
        "trials_asha": asha["trials"], "early_stopped_asha": asha["stopped"],
        "same_configurations_first": same_first, "epochs": args.epochs,
        "parallel": base["spec"]["parallelTrialCount"],
        "asha_settings": {s["name"]: s["value"] for s in settings},
        "load_average": round((full["load"] + asha["load"]) / 2, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
