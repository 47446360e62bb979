"""ASHA (asynchronous successive halving) as Katib early-stopping rules; Hyperband optional.

ASHA (Li et al., 2020) judges a trial at rungs ``r_k = min_resource * eta^k`` and lets it go on
only while it is in the top ``1/eta`` of the trials that reached the same rung. Katib's API
constrains how that can be expressed (see :mod:`katib.earlystopping.rules`): a trial receives
its rules once, when it is created, and the sidecar stops it only when every rule holds, so a
trial can be judged at one rung, not at each. Our mapping, recomputed on every
``GetEarlyStoppingRules`` call (that is, as trials report and finish):

- rung values: for every trial in the request that reported at least ``r_k`` values, its best
  objective among the first ``r_k`` (what the sidecar compares);
- the rule for the trials created next: ``objective LESS t`` (``GREATER`` when minimizing) at
  ``start_step = r_k``, where ``t`` is the ``ceil(n_k / eta)``-th best rung value, so a trial
  continues only if it would be in the top ``1/eta`` of rung ``k``;
- the rung: ``k = 0`` (``brackets: 1``, the default), or with ``brackets: B`` the next trials
  cycle through rungs ``0 .. B-1`` (Hyperband's hedge over the minimum resource); a rung with
  fewer than ``min_trials_required`` values falls back to the highest lower rung that has them,
  and with none there is no rule yet (the trial runs to the end, as with medianstop).

Resource unit: Katib's ``start_step`` counts reports of the objective metric, so rungs are in
reports (epochs when the trial prints one line per epoch). With ``resource_metric`` (a metric
of ``additionalMetricNames`` the trial reports, e.g. ``epoch``) rungs are in that metric's
unit instead and :func:`steps_for_rungs` converts them to report counts from the finished
trials' reporting rate (reports of the objective per unit of the resource).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from katib.suggestion.errors import SuggestionInputError
from katib.suggestion.settings import Setting, SettingsTable

from .rules import GREATER, LESS, StopRule

ALGORITHM = "asha"
#: Rungs generated when ``max_resource`` is not set.
_MAX_RUNGS = 8
#: Defaults chosen on the LCBench surrogate (docs/early-stopping.md, "Choosing the defaults").
#: Katib judges a trial once (one rule per trial), so the one cut must carry the selection
#: pressure ASHA spreads over several rungs: keep the top 1/8 at report 2, not 1/3.
DEFAULT_REDUCTION_FACTOR = 8
DEFAULT_MIN_RESOURCE = 2
#: rung values before the first cut; not tied to eta (eta trials of full training is a lot)
DEFAULT_MIN_TRIALS = 3

TABLE = SettingsTable(
    ALGORITHM,
    (
        Setting("reduction_factor", "int", DEFAULT_REDUCTION_FACTOR, "eta: a trial goes on "
                "only in the top 1/eta of its rung", minimum=2, maximum=1000, aliases=("eta",)),
        Setting("min_resource", "int", DEFAULT_MIN_RESOURCE, "first rung, in reports of the "
                "objective metric (Katib's start_step unit)", minimum=1, maximum=1_000_000,
                aliases=("r_min",)),
        Setting("max_resource", "int", 0, "the trial's full budget in reports; rungs stay "
                "below it (0: 8 rungs)", minimum=0, maximum=1_000_000, aliases=("r_max",)),
        Setting("rungs", "int_list", (), "explicit rung steps, increasing (instead of "
                "min_resource * eta^k)", minimum=1, maximum=1_000_000),
        Setting("brackets", "int", 1, "Hyperband brackets: next trials cycle over rungs "
                "0..brackets-1 (1 = ASHA)", minimum=1, maximum=_MAX_RUNGS),
        Setting("min_trials_required", "int", DEFAULT_MIN_TRIALS, "values a rung needs "
                "before it cuts (0: reduction_factor)", minimum=0, maximum=1_000_000),
        Setting("resource_metric", "str", "", "a metric of additionalMetricNames the trial "
                "reports with the objective (e.g. epoch): rungs and resources in its unit, "
                "converted to start_step (empty: reports of the objective)"),
    ),
)


@dataclass(frozen=True)
class AshaConfig:
    """Parsed, cross-checked settings."""

    reduction_factor: int
    rungs: tuple[int, ...]
    brackets: int
    min_trials_required: int
    resource_metric: str = ""


def parse(settings: Iterable[tuple[str, str]]) -> AshaConfig:
    """Typed settings, or SuggestionInputError naming the setting and what is allowed."""
    values = TABLE.parse(list(settings))
    eta = values["reduction_factor"]
    if values["rungs"]:
        rungs = tuple(values["rungs"])
        if any(b <= a for a, b in zip(rungs, rungs[1:], strict=False)):
            raise SuggestionInputError(
                f"early stopping setting rungs={','.join(map(str, rungs))!r} must be strictly "
                "increasing, e.g. rungs=1,3,9")
    else:
        r_min, r_max = values["min_resource"], values["max_resource"]
        if r_max and r_max <= r_min:
            raise SuggestionInputError(
                f"early stopping setting max_resource={r_max} must be greater than "
                f"min_resource={r_min} (a rung must leave some budget to save)")
        rungs = []
        r = r_min
        while len(rungs) < _MAX_RUNGS and (not r_max or r < r_max):
            rungs.append(r)
            r *= eta
        rungs = tuple(rungs)
    brackets = values["brackets"]
    if brackets > len(rungs):
        raise SuggestionInputError(
            f"early stopping setting brackets={brackets} exceeds the {len(rungs)} rungs "
            f"({','.join(map(str, rungs))}); lower brackets or raise max_resource")
    metric = values["resource_metric"]
    if metric and not all(ch.isalnum() or ch in "-_./" for ch in metric):
        raise SuggestionInputError(
            f"early stopping setting resource_metric={metric!r} is not a metric name; name "
            "one of objective.additionalMetricNames, e.g. resource_metric=epoch")
    return AshaConfig(eta, rungs, brackets, values["min_trials_required"] or eta, metric)


def check_resource_metric(cfg: AshaConfig, objective: str, additional: Sequence[str]) -> None:
    """``resource_metric`` must be collected: one of the experiment's additional metrics."""
    if not cfg.resource_metric:
        return
    if cfg.resource_metric == objective or cfg.resource_metric not in additional:
        listed = ", ".join(additional) or "none"
        raise SuggestionInputError(
            f"early stopping setting resource_metric={cfg.resource_metric!r} is not in "
            f"objective.additionalMetricNames ({listed}); add it there and print it with the "
            f"objective on every report (e.g. '{cfg.resource_metric}=3 {objective}=0.9'), or "
            "drop the setting to count rungs in reports of the objective")


def reporting_rate(finished: Mapping[str, tuple[int, float | None]], cfg: AshaConfig
                   ) -> float | None:
    """Reports of the objective per unit of ``resource_metric``: the median over finished
    trials of (objective reports / final resource value). ``finished``: trial -> (reports,
    resource value Katib observed, None when absent). None while no finished trial has both.

    A trial that reported the objective but never the resource metric is bad input (the rungs
    could not be placed), named with the fix.
    """
    rates = []
    for name, (reports, resource) in sorted(finished.items()):
        if reports and resource is None:
            raise SuggestionInputError(
                f"early stopping setting resource_metric={cfg.resource_metric!r}: trial "
                f"{name!r} finished with {reports} reports of the objective but no value of "
                f"{cfg.resource_metric!r}; print it on the same line as the objective (e.g. "
                f"'{cfg.resource_metric}=3'), or drop the setting")
        if reports and resource is not None and resource > 0:
            rates.append(reports / resource)
    return statistics.median(rates) if rates else None


def steps_for_rungs(cfg: AshaConfig, rate: float) -> AshaConfig:
    """``cfg`` with rungs in reports of the objective: rung ``r`` (resource units) is judged at
    the first report where the resource reached ``r``, ``ceil(r * rate)``. Rungs that land on
    the same report merge; brackets are capped at the rungs left."""
    steps: list[int] = []
    for r in cfg.rungs:
        step = max(1, math.ceil(r * rate - 1e-9))
        if not steps or step > steps[-1]:
            steps.append(step)
    return dataclasses.replace(cfg, rungs=tuple(steps), brackets=min(cfg.brackets, len(steps)))


def rung_values(histories: Mapping[str, Sequence[float]], step: int, maximize: bool
                ) -> list[float]:
    """Each trial's best objective among its first ``step`` reports (trials that got there)."""
    pick = max if maximize else min
    return [pick(h[:step]) for h in histories.values() if len(h) >= step]


def rule_for_next(cfg: AshaConfig, metric: str, maximize: bool,
                  histories: Mapping[str, Sequence[float]], trial_count: int) -> StopRule | None:
    """The rule for the trials created after this call, or None while no rung can cut yet.

    ``histories``: objective values per trial in report order; ``trial_count``: trials the
    experiment has so far (selects the bracket).
    """
    rung = min(trial_count % cfg.brackets, len(cfg.rungs) - 1)
    for k in range(rung, -1, -1):
        step = cfg.rungs[k]
        values = rung_values(histories, step, maximize)
        if len(values) < cfg.min_trials_required:
            continue
        values.sort(reverse=maximize)
        keep = max(1, math.ceil(len(values) / cfg.reduction_factor))
        return StopRule(metric, values[keep - 1], LESS if maximize else GREATER, step)
    return None
