"""ASHA on real training: CPU-seconds for the same search with and without early stopping.

examples/asha-digits.yaml (random search over lr / momentum / weight decay of a small network
on the built-in digits, 6 epochs per trial, parallelTrialCount 2) runs twice through
``katib.local`` with the same ``random_state``, so both arms train the same configurations:
once with its ``asha`` early stopping (our gRPC early-stopping service), once with
``earlyStopping`` removed. The Experiment's goal is dropped so both run all ``--trials``.
CPU-seconds = user + system time of all trial processes (getrusage of the runner's children).
Quality = the best accuracy found; the two are equal when ASHA did not stop the trial that
turned out best. Measured on a shared 2-vCPU VM: compare the ratio, not the seconds.

    python benchmarks/asha_digits.py [--trials 8]

Last line: RESULT {"asha_real_cpu_ratio", "best_accuracy_asha", "best_accuracy_full", ...}
"""

from __future__ import annotations

import argparse
import copy
import json
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=8)
    args = ap.parse_args()
    base = yaml.safe_load(EXAMPLE.read_text())
    base["spec"]["objective"].pop("goal", None)
    base["spec"]["maxTrialCount"] = args.trials
    arms = {}
    for arm in ("full", "asha"):
        doc = copy.deepcopy(base)
        if arm == "full":
            doc["spec"].pop("earlyStopping")
        with tempfile.TemporaryDirectory() as tmp:
            cpu0, wall0 = _cpu(), time.perf_counter()
            result = run_experiment(doc, results=Path(tmp) / "results.json",
                                    workdir=Path(tmp) / "trials", progress=False)
            arms[arm] = {"cpu": _cpu() - cpu0, "wall": time.perf_counter() - wall0,
                         "best": result.best_objective,
                         "stopped": result.count(TrialStatus.EARLY_STOPPED),
                         "configs": sorted(json.dumps(t.assignments, sort_keys=True)
                                           for t in result.trials)}
        print(f"{arm}: {arms[arm]['cpu']:.1f} CPU-s, {arms[arm]['wall']:.1f} s wall, best "
              f"accuracy {arms[arm]['best']}, early-stopped {arms[arm]['stopped']}", flush=True)
    same = arms["full"]["configs"] == arms["asha"]["configs"]
    ratio = arms["full"]["cpu"] / arms["asha"]["cpu"]
    print("\n| arm | CPU-seconds | wall s | best accuracy | early-stopped |\n|---|---|---|---|---|")
    for arm, a in arms.items():
        print(f"| {arm} | {a['cpu']:.1f} | {a['wall']:.1f} | {a['best']} | {a['stopped']} |")
    print("RESULT " + json.dumps({
        "asha_real_cpu_ratio": round(ratio, 3), "best_accuracy_asha": arms["asha"]["best"],
        "best_accuracy_full": arms["full"]["best"], "same_configurations": same,
        "equal_quality": arms["asha"]["best"] == arms["full"]["best"],
        "trials": args.trials, "parallel": base["spec"]["parallelTrialCount"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
