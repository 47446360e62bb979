"""A trial with two conflicting metrics: accuracy=x, size=x+y, latency_ms=10*y."""

from __future__ import annotations

import argparse

p = argparse.ArgumentParser()
p.add_argument("--x", type=float, required=True)
p.add_argument("--y", type=float, required=True)
a = p.parse_args()
print(f"accuracy={a.x:.6f} size={a.x + a.y:.6f} latency_ms={10 * a.y:.6f}", flush=True)
