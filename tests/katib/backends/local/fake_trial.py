"""A tiny trial for runner tests: prints Katib StdOut metrics chosen by its arguments.

--values 0.1,0.5,0.9 prints `accuracy=<v>` once per value (sleeping --sleep between them);
--exit N exits with N after printing; --silent prints no metric; --marker FILE appends
"start <t>" / "end <t>" lines (for overlap checks); --bad-after N prints 0.05 values once N
trials have started before it (per the marker file), --slow-after N sleeps 60 s first;
--fail-on X exits 1 when --x equals X.
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
    p.add_argument("--bad-after", type=int, default=-1)
    p.add_argument("--fail-on", type=float, default=None)
    p.add_argument("--slow-after", type=int, default=-1)
    args = p.parse_args()
    earlier = 0
    if args.marker and os.path.exists(args.marker):
        with open(args.marker) as f:
            earlier = sum(1 for line in f if line.startswith("start"))
    if args.marker:
        with open(args.marker, "a") as f:
            f.write(f"start {args.name} {time.time()} {os.getpid()}\n")
    print(f"cwd={os.getcwd()} threads={os.environ.get('OMP_NUM_THREADS')}", flush=True)
    values = [float(v) for v in args.values.split(",") if v] or [args.x]
    if 0 <= args.bad_after <= earlier:
        values = [0.05] * len(values)
    if 0 <= args.slow_after <= earlier:
        time.sleep(60)
    for v in values:
        time.sleep(args.sleep)
        if not args.silent:
            print(f"epoch 1: accuracy={v} loss={1 - v:.4f}", flush=True)
    if args.marker:
        with open(args.marker, "a") as f:
            f.write(f"end {args.name} {time.time()}\n")
    code = 1 if args.fail_on is not None and args.x == args.fail_on else args.exit
    if code:
        print("Traceback: boom (simulated failure)", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
