"""Warm start for the HPO algorithm: earlier results as observations or as first suggestions.

The sources are read by ``warm_start_sources.py``; this module decides what they mean in a
new search space:

* ``identical``: a prior trial is an observation only when every value lies inside the new
  space (:func:`inside`);
* ``transfer``: the ``warm_start_top_k`` best prior configurations, projected into the new
  space (numbers clipped and snapped to the step, unknown categories dropped), are suggested
  first (:func:`top_k_projected`).

Loaded priors are cached per (source, objective) in a bounded LRU whose entries expire after
``PRIOR_MAX_AGE_S``: a ``katib://ns/exp`` source or a results file that grows while this
Experiment runs is re-read, not frozen at its first read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from katib.types import Objective

from .._lru import LRU
from ..search_space import Parameter, ParamKind
from .base import assignment_key
from .warm_start_sources import CustomObjectsFactory, PriorTrial, load_priors

__all__ = ["PRIOR_MAX_AGE_S", "PriorCache", "inside", "project", "top_k_projected"]

#: Seconds a loaded source is reused before it is read again.
PRIOR_MAX_AGE_S = 60.0
_PRIOR_SOURCES = 8  # (source, objective) pairs kept; one Experiment uses one


class PriorCache:
    """Prior trials per (source, objective metric, direction): bounded and aged."""

    def __init__(self, custom_objects: CustomObjectsFactory | None = None, *,
                 max_age_s: float = PRIOR_MAX_AGE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._custom_objects = custom_objects
        self._cache: LRU[tuple[str, str, bool], list[PriorTrial]] = LRU(
            _PRIOR_SOURCES, max_age_s=max_age_s, clock=clock)

    def load(self, source: str, objective: Objective) -> list[PriorTrial]:
        return self._cache.get_or_compute(
            (source, objective.metric, objective.maximize),
            lambda: load_priors(source, objective, custom_objects=self._custom_objects))


def inside(assignments: dict[str, str], params: tuple[Parameter, ...]) -> bool:
    """Whether every parameter has a value that parses inside its feasible space."""
    try:
        for p in params:
            p.parse(assignments[p.name])
    except (KeyError, ValueError):
        return False
    return True


def top_k_projected(
    priors: list[PriorTrial], params: tuple[Parameter, ...], objective: Objective, k: int
) -> list[dict[str, str]]:
    """The `k` best distinct prior configurations that project into the space, best first."""
    ranked = sorted(priors, key=lambda p: -p.objective if objective.maximize else p.objective)
    out: list[dict[str, str]] = []
    seen: set[Any] = set()
    for prior in ranked:
        if len(out) >= k:
            break
        projected = project(prior.assignments, params)
        if projected is not None and assignment_key(projected) not in seen:
            seen.add(assignment_key(projected))
            out.append(projected)
    return out


def project(assignments: dict[str, str], params: tuple[Parameter, ...]) -> dict[str, str] | None:
    """Numbers clipped into the range and snapped to its step; None when a parameter is
    missing, not a number, or a category the space no longer has."""
    out = {}
    for p in params:
        text = assignments.get(p.name)
        if text is None:
            return None
        if p.kind in (ParamKind.DISCRETE, ParamKind.CATEGORICAL):
            try:
                out[p.name] = p.parse(text)
            except ValueError:
                return None
            continue
        try:
            x = float(text)
        except ValueError:
            return None
        assert p.low is not None and p.high is not None
        x = min(max(x, p.low), p.high)
        if p.kind is ParamKind.INT or (p.step is not None and not p.distribution.is_log):
            step = p.step or 1
            x = p.low + round((x - p.low) / step) * step
            x = min(x, p.high)
        out[p.name] = p.format(int(round(x)) if p.kind is ParamKind.INT else x)
    return out
