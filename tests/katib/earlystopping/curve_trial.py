"""A trial with a learning curve: prints ``accuracy=x*(1-0.5^epoch)`` for --epochs epochs.

Higher --x is better at every epoch, so which trials ASHA must stop is known in advance.
With ``--reports-per-epoch N`` it reports N times per epoch, each line also carrying the
(fractional) ``epoch=`` it reached, for ASHA's ``resource_metric``.
"""

from __future__ import annotations

import argparse
import time


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float, required=True)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--sleep", type=float, default=0.02)
    p.add_argument("--reports-per-epoch", type=int, default=0)
    args = p.parse_args()
    if args.reports_per_epoch:
        for i in range(1, args.epochs * args.reports_per_epoch + 1):
            time.sleep(args.sleep)
            epoch = i / args.reports_per_epoch
            print(f"epoch={epoch:g} accuracy={args.x * (1 - 0.5 ** epoch):.6f}", flush=True)
        return 0
    for epoch in range(1, args.epochs + 1):
        time.sleep(args.sleep)
        print(f"epoch {epoch}: accuracy={args.x * (1 - 0.5 ** epoch):.6f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
