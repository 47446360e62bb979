"""Samplers that are pure functions of (seed, suggestion index): ``random``, ``qmc``, ``grid``.

No study, no history model: point ``index`` of a seeded sequence, so a repeated request or a
restarted server gives the same answer by construction. ``qmc`` is a randomly shifted Halton
sequence written here because optuna's QMCSampler imports scipy.stats (+60 MiB resident in
the lean suggestion image). ``grid`` visits every point of the stepped space once, in a
seeded order.
"""

from __future__ import annotations

import itertools
import math
import random
from statistics import NormalDist
from typing import Any

from ..errors import SuggestionInputError
from ..search_space import Distribution, Parameter, ParamKind
from .base import assignment_key

__all__ = ["MAX_GRID_POINTS", "from_unit", "grid_points", "grid_suggest", "grid_values",
           "halton", "indexed_suggest", "next_prime"]

MAX_GRID_POINTS = 1_000_000
PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71)
_STD_NORMAL = NormalDist()


def indexed_suggest(params: tuple[Parameter, ...], sampler: str, seed: int, index: int,
                    count: int) -> list[dict[str, str]]:
    """Points ``index .. index + count - 1`` of the ``random`` or ``qmc`` sequence."""
    out = []
    for i in range(index, index + count):
        if sampler == "qmc":
            units = halton(i, len(params), seed)
        else:
            rng = random.Random(f"{seed}/{i}")  # noqa: S311
            units = [rng.random() for _ in params]
        out.append({p.name: p.format(from_unit(p, u)) for p, u in zip(params, units, strict=True)})
    return out


def from_unit(p: Parameter, u: float) -> Any:
    """Map u in [0, 1) onto the parameter: uniform/log-uniform ranges, step grids, truncated
    normal (mean = centre, sd = range/6) for normal/logNormal, uniform choice for lists."""
    if p.kind in (ParamKind.DISCRETE, ParamKind.CATEGORICAL):
        return p.values[min(int(u * len(p.values)), len(p.values) - 1)]
    assert p.low is not None and p.high is not None
    log = p.distribution.is_log
    lo, hi = (math.log(p.low), math.log(p.high)) if log else (p.low, p.high)
    if p.distribution in (Distribution.NORMAL, Distribution.LOG_NORMAL) and hi > lo:
        mu, sd = (lo + hi) / 2, (hi - lo) / 6
        a, b = _STD_NORMAL.cdf((lo - mu) / sd), _STD_NORMAL.cdf((hi - mu) / sd)
        x = mu + sd * _STD_NORMAL.inv_cdf(min(max(a + u * (b - a), 1e-12), 1 - 1e-12))
    else:
        x = lo + u * (hi - lo)
    x = min(max(math.exp(x) if log else x, p.low), p.high)
    if p.kind is ParamKind.INT:
        step = int(p.step or 1)
        n = (int(p.high) - int(p.low)) // step
        return int(p.low) + min(round((x - p.low) / step), n) * step
    if p.step is not None and not log:
        n = math.floor((p.high - p.low) / p.step + 1e-9)
        return round(p.low + min(round((x - p.low) / p.step), n) * p.step, 12)
    return x


def halton(index: int, dims: int, seed: int) -> list[float]:
    """Point ``index`` of a Halton sequence with a seeded random shift (Cranley-Patterson)."""
    rng = random.Random(seed)  # noqa: S311
    out = []
    for d in range(dims):
        base = PRIMES[d] if d < len(PRIMES) else next_prime(d)
        f, r, i = 1.0, 0.0, index + 1
        while i > 0:
            f /= base
            r += f * (i % base)
            i //= base
        out.append((r + rng.random()) % 1.0)
    return out


def next_prime(d: int) -> int:
    """The d-th prime (0-based), for Halton dimensions past the table."""
    n, found = PRIMES[-1], len(PRIMES) - 1
    while found < d:
        n += 2
        if all(n % q for q in range(3, int(n**0.5) + 1, 2)):
            found += 1
    return n


def grid_values(p: Parameter) -> list[str]:
    """One parameter's grid axis as wire strings; a double needs a step."""
    if p.kind in (ParamKind.DISCRETE, ParamKind.CATEGORICAL):
        return list(p.values)
    assert p.low is not None and p.high is not None
    if p.kind is ParamKind.INT:
        step = int(p.step or 1)
        return [str(v) for v in range(int(p.low), int(p.high) + 1, step)]
    if p.step is None:
        raise SuggestionInputError(
            f"parameter {p.name!r}: sampler grid needs feasibleSpace.step for a double parameter"
        )
    n = math.floor((p.high - p.low) / p.step + 1e-9)
    return [p.format(round(p.low + i * p.step, 12)) for i in range(n + 1)]


def grid_points(params: tuple[Parameter, ...]) -> list[list[str]]:
    """The axes of the grid, refused when it has more than MAX_GRID_POINTS points."""
    axes = [grid_values(p) for p in params]
    size = math.prod(len(a) for a in axes)
    if size > MAX_GRID_POINTS:
        raise SuggestionInputError(
            f"sampler grid: the space has {size} points (more than {MAX_GRID_POINTS}); "
            "add or widen steps, or use sampler=tpe"
        )
    return axes


def grid_suggest(
    params: tuple[Parameter, ...], seed: int, seen: set[Any], count: int, index: int
) -> list[dict[str, str]]:
    """Unvisited grid points in a seeded order; once every point was tried, points are
    re-emitted in the same order (Katib has no "search space exhausted" signal: set
    maxTrialCount to the grid size)."""
    axes = grid_points(params)
    points = [dict(zip([p.name for p in params], combo, strict=True))
              for combo in itertools.product(*axes)]
    random.Random(seed).shuffle(points)  # noqa: S311
    out: list[dict[str, str]] = []
    for pt in (pt for pt in points if assignment_key(pt) not in seen):
        if len(out) == count:
            break
        out.append(pt)
    i = index
    while len(out) < count:
        out.append(points[i % len(points)])
        i += 1
    return out
