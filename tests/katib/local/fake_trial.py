"""A tiny trial for runner tests: prints Katib StdOut metrics chosen by its arguments.

--values 0.1,0.5,0.9 prints `accuracy=<v>` once per value (sleeping --sleep between them);
--exit N exits with N after printing; --silent prints no metric; --marker FILE appends
"start <t>" / "end <t>" lines (for overlap checks).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float, default=0.0)
    p.add_argument("--values", default="")
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--exit", type=int, default=0)
    p.add_argument("--silent", action="store_true")
    p.add_argument("--marker", default="")
    p.add_argument("--name", default="")
    args = p.parse_args()
    if args.marker:
        with open(args.marker, "a") as f:
            f.write(f"start {args.name} {time.time()}\n")
    print(f"cwd={os.getcwd()} threads={os.environ.get('OMP_NUM_THREADS')}", flush=True)
    values = [float(v) for v in args.values.split(",") if v] or [args.x]
    for v in values:
        time.sleep(args.sleep)
        if not args.silent:
            print(f"epoch 1: accuracy={v} loss={1 - v:.4f}", flush=True)
    if args.marker:
        with open(args.marker, "a") as f:
            f.write(f"end {args.name} {time.time()}\n")
    if args.exit:
        print("Traceback: boom (simulated failure)", file=sys.stderr, flush=True)
    return args.exit


if __name__ == "__main__":
    sys.exit(main())
