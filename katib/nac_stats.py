"""The ``nac-stats`` metric (docs/contracts.md §3-4): per-branch and per-gate statistics that a
trial prints and the ``nac`` suggestion reads back from ``request.trials``.

Wire form: one StdOut line ``nac-stats=<compact JSON>`` where the JSON is::

    {"v": 1, "branches": {"<cell id>/<op>": MeanSSS, ...},
     "gates": {"<src id>><dst id>": value, ...},
     "stat": "variance"}          # optional: what "branches" holds; absent = "meansss"

Compact (no whitespace) so the custom metricsFormat ``(nac-stats)=(\\{\\S+\\})`` captures it
whole. Pure Python; imported by the suggestion image (no torch).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from nac.stat_mode import StatMode

METRIC_NAME = "nac-stats"
VERSION = 1


class NACStatsError(ValueError):
    """A ``nac-stats`` value that cannot be used; the message names the field."""


#: The statistic names on the wire: `nac.stat_mode.StatMode`'s values (one vocabulary).
STATS = tuple(m.value for m in StatMode)


@dataclass(frozen=True)
class NACStats:
    branches: dict[str, float]
    gates: dict[str, float] = field(default_factory=dict)
    stat: str = "meansss"  # the statistic in `branches` (trial --stat-mode)


def _finite_map(value: object, name: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise NACStatsError(f"nac-stats: field {name!r} must be an object of numbers")
    out = {}
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise NACStatsError(f"nac-stats: {name}[{key!r}] must be a number, got {number!r}")
        if not math.isfinite(number):
            raise NACStatsError(f"nac-stats: {name}[{key!r}] must be finite, got {number!r}")
        out[str(key)] = float(number)
    return out


def encode(
    branches: Mapping[str, float],
    gates: Mapping[str, float] | None = None,
    stat: str = "meansss",
) -> str:
    """Compact JSON text for the metric value (refuses non-finite numbers)."""
    if stat not in STATS:
        raise NACStatsError(f"nac-stats: stat must be one of {STATS}, got {stat!r}")
    doc: dict[str, object] = {
        "v": VERSION,
        "branches": _finite_map(dict(branches), "branches"),
        "gates": _finite_map(dict(gates or {}), "gates"),
    }
    if stat != "meansss":
        doc["stat"] = stat
    return json.dumps(doc, separators=(",", ":"), allow_nan=False)


def line(stats: NACStats) -> str:
    """The StdOut line a trial prints."""
    return f"{METRIC_NAME}={encode(stats.branches, stats.gates, stats.stat)}"


def decode(text: str) -> NACStats:
    """Parse a metric value; raises :class:`NACStatsError` naming the problem."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, TypeError) as e:
        raise NACStatsError(
            f"nac-stats: not JSON ({e}); was the metricsFormat filter set?"
        ) from None
    if not isinstance(doc, dict):
        raise NACStatsError("nac-stats: expected a JSON object")
    if doc.get("v") != VERSION:
        raise NACStatsError(
            f"nac-stats: field 'v' is {doc.get('v')!r}; this reader knows {VERSION}"
        )
    if "branches" not in doc:
        raise NACStatsError("nac-stats: field 'branches' is missing")
    stat = doc.get("stat", "meansss")
    if stat not in STATS:
        raise NACStatsError(f"nac-stats: field 'stat' is {stat!r}; known: {', '.join(STATS)}")
    return NACStats(
        branches=_finite_map(doc["branches"], "branches"),
        gates=_finite_map(doc.get("gates") or {}, "gates"),
        stat=stat,
    )


def average(stats: list[NACStats]) -> tuple[dict[str, float], dict[str, float]]:
    """Per-key mean over replicas (a key missing from one replica is averaged over the others).

    Returns (branch statistics, gate values).
    """
    def mean(maps: list[dict[str, float]]) -> dict[str, float]:
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for m in maps:
            for k, v in m.items():
                sums[k] = sums.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + 1
        return {k: sums[k] / counts[k] for k in sums}

    return mean([s.branches for s in stats]), mean([s.gates for s in stats])
