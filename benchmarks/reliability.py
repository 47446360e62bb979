"""Reliability table: faults injected and survived, bad inputs tried and refused, data lost.

One command (`make reliability`) runs every fault-injection and fuzzing scenario of
tests/reliability/ at benchmark size, against the real parts: training subprocesses
SIGKILLed and resumed (nac.training.train and the trial CLI), torn and corrupted checkpoints,
a real suggestion server fuzzed with hypothesis and kill -9'd mid-experiment, the local Katib
runner SIGKILLed mid-experiment, fuzzed CSV/NPZ ingest and damaged preprocess inputs, a model
export that dies halfway and damaged model artifacts, and the static security checks.

    python benchmarks/reliability.py [--fuzz 2000] [--data-fuzz 600] [--workdir DIR]

Last line: RESULT {"faults_injected": ..., "faults_recovered": ..., "bad_inputs_tried": ...,
"data_lost": ...} (targets: >= 10 faults, all recovered, >= 1000 bad inputs, 0 lost).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability import data_fuzz, export_faults, runner_faults, security_scan  # noqa: E402
from tests.reliability import suggestion_fuzz as sf  # noqa: E402
from tests.reliability import suggestion_process as sp  # noqa: E402
from tests.reliability import training_faults as tf  # noqa: E402
from tests.reliability.faults import Outcome  # noqa: E402


def _timed(label: str, fn: Callable[[], list[Outcome]]) -> list[Outcome]:
    started = time.perf_counter()
    print(f"# {label} ...", file=sys.stderr, flush=True)
    out = fn()
    print(f"#   {label}: {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
    return out


def training(work: Path) -> list[Outcome]:
    return tf.scenarios(work, seeds=[0, 1], kills_per_seed=2, trial_kills=1,
                        corruptions=("truncated", "garbled", "empty", "foreign"),
                        torn_writes=(2,), epochs=5)


def suggestion(work: Path, examples: int, memory: dict[str, float]) -> list[Outcome]:
    with sp.suggestion_process(work) as server:
        outcomes = [sf.fuzz(server, examples=examples, seed=1)]
    memory["fuzz_vm_hwm_mib"] = outcomes[0].extra.get("vm_hwm_mib") or float("nan")
    for algorithm in ("nac", "tpe", "warm-start", "random", "multivariate-tpe"):
        outcomes.append(sp.restart_mid_experiment(work, algorithm=algorithm, rounds=8,
                                                  kill_after=6))
    outcomes.append(sp.restart_mid_experiment(work, algorithm="cmaes", rounds=8, kill_after=6,
                                              same_answer=False))
    seconds, hwm = sp.huge_history_hwm(work, trials=5000)
    memory["history_5000_seconds"], memory["history_5000_vm_hwm_mib"] = seconds, hwm
    memory["kubernetes_source_vm_hwm_mib"] = sp.kubernetes_source_hwm(work)
    return outcomes


def runner(work: Path) -> list[Outcome]:
    return [runner_faults.kill_and_resume(work / f"seed-{s}", seed=s, parallel=2 + s % 2)
            for s in (1, 2, 3)]


def data(work: Path, examples: int) -> list[Outcome]:
    return [data_fuzz.fuzz_ingest(work / "ingest", examples=examples, seed=1),
            data_fuzz.fuzz_preprocess(work / "preprocess", examples=examples * 2 // 3, seed=1)]


def export(work: Path) -> list[Outcome]:
    return [export_faults.torn_save(work / "torn"),
            export_faults.damaged_artifacts(work / "damaged")]


def security() -> tuple[Outcome, dict[str, int]]:
    files, src = security_scan.scan_sources()
    images, img = security_scan.check_images()
    rules, rbac = security_scan.check_rbac()
    outcome = Outcome("security", "static checks")
    outcome.problems = src + img + rbac
    return outcome, {"files": files, "images": images, "trial_rules": rules}


def table(outcomes: list[Outcome]) -> list[str]:
    rows = ["| category | faults injected | runs recovered | bad inputs tried | "
            "refused cleanly or valid | data lost | problems |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    categories = dict.fromkeys(o.category for o in outcomes)
    for cat in categories:
        group = [o for o in outcomes if o.category == cat]
        rows.append(f"| {cat} | {sum(o.faults for o in group)} | "
                    f"{sum(o.recovered for o in group)} | {sum(o.bad_inputs for o in group)} | "
                    f"{sum(o.rejected_cleanly for o in group)} | {sum(o.lost for o in group)} | "
                    f"{sum(len(o.problems) for o in group)} |")
    rows.append(f"| **total** | {sum(o.faults for o in outcomes)} | "
                f"{sum(o.recovered for o in outcomes)} | {sum(o.bad_inputs for o in outcomes)} | "
                f"{sum(o.rejected_cleanly for o in outcomes)} | {sum(o.lost for o in outcomes)} | "
                f"{sum(len(o.problems) for o in outcomes)} |")
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fuzz", type=int, default=2000, help="suggestion requests to fuzz")
    p.add_argument("--data-fuzz", type=int, default=600, help="fuzzed ingest files")
    p.add_argument("--workdir", help="keep scenario files here (default: a temp dir)")
    args = p.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        work = Path(args.workdir) if args.workdir else Path(tmp)
        memory: dict[str, float] = {}
        outcomes = _timed("training", lambda: training(work / "training"))
        outcomes += _timed("suggestion", lambda: suggestion(work / "suggestion", args.fuzz,
                                                            memory))
        outcomes += _timed("runner", lambda: runner(work / "runner"))
        outcomes += _timed("data", lambda: data(work / "data", args.data_fuzz))
        outcomes += _timed("export", lambda: export(work / "export"))
        sec, sec_counts = security()
    seconds = time.perf_counter() - started
    print("Scenarios:")
    for o in outcomes:
        status = "ok" if o.ok else "PROBLEM"
        counts = (f"{o.recovered}/{o.faults} recovered" if o.faults
                  else f"{o.rejected_cleanly}/{o.bad_inputs} refused cleanly or valid")
        print(f"  [{status}] {o.category}: {o.what} ({counts}, lost {o.lost})")
        for problem in o.problems[:5]:
            print(f"      - {problem[:300]}")
    print()
    for row in table(outcomes):
        print(row)
    print()
    print(f"Security: {sec_counts['files']} source files, {sec_counts['images']} Dockerfiles, "
          f"{sec_counts['trial_rules']} RBAC rules on trials checked; findings: "
          f"{len(sec.problems)}")
    for problem in sec.problems:
        print(f"  - {problem}")
    print(f"Suggestion server VmHWM: {memory['fuzz_vm_hwm_mib']:.1f} MiB after the fuzz "
          f"(target {sp.MEMORY_TARGET_MIB} MiB); "
          f"{memory['history_5000_vm_hwm_mib']:.1f} MiB answering a 5000-trial tpe history "
          f"({memory['history_5000_seconds']:.1f}s); "
          f"{memory['kubernetes_source_vm_hwm_mib']:.1f} MiB once a warm_start_source names a "
          "Katib experiment (imports the kubernetes client)")
    print(f"Wall time: {seconds:.0f}s (2 shared cores)")
    result = {
        "faults_injected": sum(o.faults for o in outcomes),
        "faults_recovered": sum(o.recovered for o in outcomes),
        "bad_inputs_tried": sum(o.bad_inputs for o in outcomes),
        "data_lost": sum(o.lost for o in outcomes),
        "bad_inputs_refused_cleanly": sum(o.rejected_cleanly for o in outcomes),
        "problems": sum(len(o.problems) for o in outcomes) + len(sec.problems),
        "suggestion_vm_hwm_mib": round(memory["fuzz_vm_hwm_mib"], 1),
        "seconds": round(seconds, 1),
    }
    print("RESULT " + json.dumps(result))
    ok = (result["problems"] == 0 and result["data_lost"] == 0
          and result["faults_recovered"] == result["faults_injected"] >= 10
          and result["bad_inputs_tried"] >= 1000)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
