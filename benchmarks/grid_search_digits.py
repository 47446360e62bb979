"""Grid search on digits, serial vs parallel trials, through the local Katib runner.

The classic serverless hyperparameter experiment: a grid of a small network's hyperparameters
(examples/grid-digits.yaml: 4 learning rates x 2 batch sizes), each grid point one trial that
really trains with torch. The same Experiment runs twice in this process, with
parallelTrialCount=1 and =2; every trial is pinned to one thread (the example's
`resources.limits.cpu: 1`), so both runs compute bit-identical metrics, which is asserted.

Reports wall time of each run, the speedup, and the runner's overhead per trial: serial wall
time minus the sum of the trials' own run times (each trial process's lifetime, start to
exit, as measured around the subprocess), divided by the number of trials.

    python benchmarks/grid_search_digits.py [--epochs 3] [--workdir DIR]

It also measures the machine's own ceiling side by side: the same CPU-bound pure-Python loop
run twice one after the other vs in two processes at once. On a VM whose vCPUs share physical
cores this ceiling is well below 2x, and no runner can beat it; `parallel_efficiency` is the
speedup divided by that ceiling.

Last line: RESULT {"speedup": ..., "overhead_s_per_trial": ..., "machine_parallel_ceiling": ...}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from katib.local import TrialStatus, run_experiment

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "grid-digits.yaml"


def _experiment(parallel: int, epochs: int) -> dict:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["metadata"]["name"] = f"grid-digits-p{parallel}"
    doc["spec"]["parallelTrialCount"] = parallel
    container = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
        "containers"][0]
    container["args"] = [a if not a.startswith("--epochs=") else f"--epochs={epochs}"
                         for a in container["args"]]
    return doc


def _run(parallel: int, epochs: int, workdir: Path) -> tuple[float, list]:
    out = workdir / f"p{parallel}"
    started = time.perf_counter()
    result = run_experiment(_experiment(parallel, epochs), workdir=out, progress=True)
    wall = time.perf_counter() - started
    bad = [t for t in result.trials if t.status is not TrialStatus.SUCCEEDED]
    if bad:
        sys.exit(f"trial {bad[0].name} {bad[0].status.value}: {bad[0].message}")
    return wall, result.trials


_SPIN = "x = 0\nfor i in range(25_000_000):\n    x += i\n"


def _machine_parallel_ceiling() -> float:
    """Throughput gain of 2 CPU-bound processes at once over the same 2 run serially."""
    cmd = [sys.executable, "-c", _SPIN]
    started = time.perf_counter()
    for _ in range(2):
        subprocess.run(cmd, check=True)
    serial = time.perf_counter() - started
    started = time.perf_counter()
    procs = [subprocess.Popen(cmd) for _ in range(2)]
    for proc in procs:
        proc.wait()
    return serial / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workdir", help="keep trial logs here (default: a temp dir)")
    args = parser.parse_args()
    ceiling = _machine_parallel_ceiling()
    with tempfile.TemporaryDirectory(prefix="grid-bench-") as tmp:
        workdir = Path(args.workdir or tmp)
        serial_wall, serial = _run(1, args.epochs, workdir)
        parallel_wall, parallel = _run(2, args.epochs, workdir)

    def by_point(trials: list) -> dict:
        return {tuple(sorted(t.assignments.items())): t for t in trials}

    s_points, p_points = by_point(serial), by_point(parallel)
    assert s_points.keys() == p_points.keys(), "the two runs visited different grid points"
    rows = []
    for key in sorted(s_points, key=lambda k: (float(k[1][1]), float(k[0][1]))):
        s, p = s_points[key], p_points[key]
        assert s.metrics == p.metrics, f"{dict(key)}: serial {s.metrics} != parallel {p.metrics}"
        rows.append((dict(key), s, p))
    n = len(rows)
    trial_time = sum(t.seconds for t in serial)
    overhead = (serial_wall - trial_time) / n
    speedup = serial_wall / parallel_wall

    print(f"\nGrid search on digits: {n} trials, {args.epochs} epochs each, 1 thread per trial")
    print(f"{'lr':>6} {'batch':>5} {'accuracy':>9} {'loss':>8} {'serial s':>9} "
          f"{'parallel s':>10}  same")
    for point, s, p in rows:
        print(f"{point['lr']:>6} {point['batch_size']:>5} {s.metrics['accuracy']:>9} "
              f"{s.metrics.get('loss', '-'):>8} {s.seconds:>9.2f} {p.seconds:>10.2f}  "
              f"{'yes' if s.metrics == p.metrics else 'NO'}")
    print(f"\n{'run':<22} {'wall s':>8}")
    print(f"{'serial (parallel=1)':<22} {serial_wall:>8.2f}")
    print(f"{'parallel (parallel=2)':<22} {parallel_wall:>8.2f}")
    print(f"speedup {speedup:.2f}x (target >= 1.7x); runner overhead {overhead:.3f} s/trial "
          f"(target <= 0.5 s): serial wall {serial_wall:.2f} s - trials {trial_time:.2f} s, "
          f"over {n} trials")
    print(f"machine ceiling for 2 CPU-bound processes: {ceiling:.2f}x (pure-Python loop, same "
          f"run); parallel efficiency {speedup / ceiling:.0%} of it")
    print("RESULT " + json.dumps({"speedup": round(speedup, 3),
                                  "overhead_s_per_trial": round(overhead, 3),
                                  "serial_s": round(serial_wall, 2),
                                  "parallel_s": round(parallel_wall, 2), "trials": n,
                                  "identical_metrics": True,
                                  "machine_parallel_ceiling": round(ceiling, 3),
                                  "parallel_efficiency": round(speedup / ceiling, 3)}))


if __name__ == "__main__":
    main()
