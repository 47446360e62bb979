"""A trial with a learning curve: prints ``accuracy=x*(1-0.5^epoch)`` for --epochs epochs.

Higher --x is better at every epoch, so which trials ASHA must stop is known in advance.
"""

from __future__ import annotations

import argparse
import time


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float, required=True)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--sleep", type=float, default=0.02)
    args = p.parse_args()
    for epoch in range(1, args.epochs + 1):
        time.sleep(args.sleep)
        print(f"epoch {epoch}: accuracy={args.x * (1 - 0.5 ** epoch):.6f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
