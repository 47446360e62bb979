"""A tiny trial for the runner fault tests: logs its execution, sleeps, prints `accuracy=<x>`.

    python -u tiny_trial.py --x 0.3 --name trial-1 --marker runs.log --sleep 0.5

Appends `start <name> <pid>` to the marker file when it begins and `end <name>` when it ends,
so a test can count how often each trial really ran.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--marker", required=True)
    p.add_argument("--sleep", type=float, default=0.5)
    args = p.parse_args()
    with open(args.marker, "a") as f:
        f.write(f"start {args.name} {os.getpid()}\n")
    time.sleep(args.sleep)
    print(f"accuracy={args.x}", flush=True)
    with open(args.marker, "a") as f:
        f.write(f"end {args.name}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
