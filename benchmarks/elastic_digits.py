"""Elastic training on digits: an uninterrupted 2-worker run vs the same run with a worker
SIGKILLed mid-epoch and a new one added, side by side in one invocation.

    .venv/bin/python benchmarks/elastic_digits.py [--data builtin:digits] [--epochs 5]

Both runs are the same torchrun job (one worker per local node, `nac.distributed` worker,
c10d rendezvous): the uninterrupted one with `--nnodes=2:2`, the elastic one with
`--nnodes=1:2` (with 1:2 a node that boots late on a loaded VM would start the job at one
worker). The elastic run SIGKILLs the second node (agent and worker) after `--kill-at-step`
global steps, trains on with one worker, then starts a third node that joins. Reported: test
accuracy of both (percent of the 20% test split), work lost per membership change (steps
redone from the last checkpoint), recovery time from each change to the first training step
after it, the number of worker-group changes, per-epoch sample coverage (every training row
exactly once per epoch) and whether the final weights are bit-identical. Ends with one line
`RESULT {json}`. Figures in docs/distributed.md were measured on a 2-vCPU VM.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nac.data import ingest, split_dataset, write_dataset  # noqa: E402
from nac.distributed.scenario import Timeline, run_scenario  # noqa: E402
from nac.spec import initial_envelopenet  # noqa: E402


def prepare(source: str, workdir: Path, batch: int, seed: int) -> tuple[list[str], int]:
    """Dataset directories (train trimmed to a multiple of the global batch) and a small spec:
    workers then read npz files instead of re-ingesting on every restart."""
    import numpy as np

    s = split_dataset(ingest(source), val_fraction=0.1, test_fraction=0.2, seed=0)
    keep = (len(s.train.y) // batch) * batch
    order = np.sort(np.random.default_rng(seed).permutation(len(s.train.y))[:keep])
    train = s.train.subset(order)
    for name, ds in (("train", train), ("val", s.val), ("test", s.test)):
        write_dataset(ds, workdir / "data" / name)
    spec = initial_envelopenet(train.shape, len(train.classes), stages=2,
                               layers_per_stage=(1, 1), stem_channels=16)
    (workdir / "architecture.json").write_text(json.dumps(spec.to_json()))
    return ["--data", str(workdir / "data" / "train"), "--val-data", str(workdir / "data" / "val"),
            "--test-data", str(workdir / "data" / "test"),
            "--architecture", f"@{workdir / 'architecture.json'}"], keep


def coverage_exact(timeline: Timeline) -> bool:
    cov = (timeline.done or {}).get("coverage") or []
    return bool(cov) and all(c["once"] == c["rows"] and c["more"] == 0 for c in cov)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="builtin:digits")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--checkpoint-every", type=int, default=10)
    p.add_argument("--kill-at-step", type=int, default=55, help="mid-epoch 2 with defaults")
    p.add_argument("--rejoin-after-steps", type=int, default=12)
    p.add_argument("--workdir", help="default: a temporary directory (removed afterwards)")
    args = p.parse_args()
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="elastic-"))
    if workdir.exists() and any(workdir.iterdir()):
        print(f"error: --workdir: {workdir} is not empty; give a new directory", file=sys.stderr)
        return 2
    try:
        data_args, rows = prepare(args.data, workdir, args.batch_size, 0)
        common = [*data_args, "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
                  "--lr", str(args.lr), "--checkpoint-every", str(args.checkpoint_every)]
        runs: dict[str, Timeline] = {}
        for name, kill in (("uninterrupted", None), ("elastic", args.kill_at_step)):
            run_dir = workdir / name
            print(f"== {name} run ({rows} training rows, {args.epochs} epochs, global batch "
                  f"{args.batch_size})", flush=True)
            runs[name] = run_scenario(
                run_dir, [*common, "--checkpoint-dir", str(run_dir / "checkpoints"),
                          "--out", str(run_dir / "out")],
                kill_at_step=kill, rejoin_after_steps=args.rejoin_after_steps,
                min_nodes=2 if kill is None else 1,
                show=lambda line, n=name: print(f"  {n:>13} {line}", flush=True))
            if runs[name].done is None:
                print(f"error: the {name} run did not finish (logs in {run_dir})",
                      file=sys.stderr)
                return 1
        plain, elastic = runs["uninterrupted"], runs["elastic"]
        acc_u = 100 * plain.done["test_accuracy"]
        acc_e = 100 * elastic.done["test_accuracy"]
        lost = elastic.lost_steps()
        recoveries = elastic.recoveries()
        groups = elastic.groups()
        print("\n| run | worker groups (world sizes) | test accuracy % | lost steps per change "
              "| recovery s per change | wall s |")
        print("|---|---|---|---|---|---|")
        for name, t in runs.items():
            print(f"| {name} | {t.groups()} | {100 * t.done['test_accuracy']:.2f} | "
                  f"{t.lost_steps()} | {[round(r, 1) for r in t.recoveries()]} | "
                  f"{t.seconds:.0f} |")
        same = plain.done["weights_sha256"] == elastic.done["weights_sha256"]
        print(f"\nchanges: {[(c['kind'], c['node']) for c in elastic.changes]}; final weights "
              f"identical: {same}; every row once per epoch: uninterrupted "
              f"{coverage_exact(plain)}, elastic {coverage_exact(elastic)}")
        result = {
            "accuracy_uninterrupted": round(acc_u, 2), "accuracy_elastic": round(acc_e, 2),
            "accuracy_difference": round(abs(acc_u - acc_e), 2),
            "lost_steps": max(lost) if lost else None, "lost_steps_per_change": lost,
            "checkpoint_every": args.checkpoint_every,
            "recovery_seconds_p50": round(statistics.median(recoveries), 2) if recoveries
            else None,
            "recovery_seconds": [round(r, 2) for r in recoveries],
            "worker_changes": max(0, len(groups) - 1), "worker_groups": groups,
            "samples_once_per_epoch": coverage_exact(plain) and coverage_exact(elastic),
            "weights_identical": same,
            "wall_seconds": {k: round(t.seconds, 1) for k, t in runs.items()},
        }
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
