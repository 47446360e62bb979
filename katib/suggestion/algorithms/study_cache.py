"""The optuna side of the HPO algorithm: one cached study per experiment, told only new trials.

A study holds the experiment's told trials in told (completion) order. A request whose
history extends what the study has seen is answered after telling it the new trials; any
other history (a restart, another controller, a changed space or setting) rebuilds the study
from ``request.trials``, so a cache hit and a rebuild give the same answer. The sampler is
re-created on every call with a seed derived from the ``seed`` setting and the suggestion
index (:func:`make_sampler`).

CMA-ES is the exception. It models only the numeric parameters and keeps its generation
state in the attributes of trials it asked itself, so those must be *told*
(``StudyCache.pending``), not added, and a rebuild cannot recover that state. A rebuilt CMA-ES
study therefore holds the priors and history as trials (so the sampler is past its startup
phase and samples with CMA from the first ask) and keeps them as ``source_trials``, the warm
start of its first optimizer (``warm_trials`` of cma_restarts.WarmCmaEsSampler). So a
restarted server answers from the history, though not exactly as the cache it lost would.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import TYPE_CHECKING, Any

from katib.types import Objective

from .._lru import LRU
from ..search_space import ExperimentView, Parameter, ParamKind
from ..trials import TrialView
from .base import assignment_key

if TYPE_CHECKING:
    import optuna

    from .optuna_hpo import HpoConfig
    from .warm_start_sources import PriorTrial

__all__ = ["Record", "StudyCache", "Studies", "distributions", "hyperopt_gamma", "make_sampler"]

#: (trial view, parsed values, objective value) of one finished trial inside the space.
Record = tuple[TrialView, dict[str, Any], float]
# One suggestion Deployment serves one Experiment (katib.local: one run), so two cached
# studies cover it; each holds the whole history as optuna trials.
MAX_CACHED_STUDIES = 2


class StudyCache:
    """An optuna study holding the told trials of one experiment, in told order."""

    def __init__(self, key: tuple[Any, ...], study: optuna.Study, *, tell_asked: bool,
                 source_trials: list[optuna.trial.FrozenTrial] | None = None,
                 told: list[str] | None = None) -> None:
        self.key = key
        self.study = study
        self.told: list[str] = told or []
        # Asked-but-not-told optuna trials by assignment key: CMA-ES must be told its own
        # trials (its generation state is in their attributes); others ignore RUNNING trials.
        self.pending: dict[tuple[tuple[str, str], ...], int] = {}
        self.source_trials = source_trials
        self._tell_asked = tell_asked
        self._asked: list[int] = []  # other samplers: trials asked by the previous call
        self._last: tuple[tuple[int, int, int], list[dict[str, str]]] | None = None

    @classmethod
    def rebuild(cls, key: tuple[Any, ...], exp: ExperimentView, cfg: HpoConfig,
                dists: dict[str, Any], told: list[Record],
                prior_obs: list[PriorTrial]) -> StudyCache:
        """A study of the priors (CMA-ES: priors and history, also its warm start)."""
        import optuna

        study = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(),
            direction="maximize" if exp.objective.maximize else "minimize",
            sampler=optuna.samplers.RandomSampler(seed=0),
        )
        frozen = [_frozen(optuna, dists, {p.name: p.parse(a.assignments[p.name])
                                          for p in exp.parameters}, a.objective)
                  for a in prior_obs]
        if cfg.sampler != "cmaes":
            study.add_trials([t for t in frozen if t is not None])
            return cls(key, study, tell_asked=False)
        # Added, the history counts towards optuna's n_startup_trials and its search space;
        # with no cma: attributes these trials never enter a generation of the optimizer.
        frozen += [_frozen(optuna, dists, params, v) for _, params, v in told]
        source = [t for t in frozen if t is not None]
        study.add_trials(source)
        return cls(key, study, tell_asked=True, source_trials=source or None,
                   told=[t.name for t, _, _ in told])  # already in the study

    def continues(self, key: tuple[Any, ...], names: list[str]) -> bool:
        """Whether a history of trial `names` under `key` extends what this study was told."""
        return self.key == key and self.told == names[: len(self.told)]

    def extend(self, told: list[Record], dists: dict[str, Any]) -> None:
        """Tell the study the records past those it has (CMA-ES: its own asked trials)."""
        import optuna

        new = told[len(self.told):]
        if not new:
            return
        add = []
        for view, params, value in new:
            number = self.pending.pop(assignment_key(view.assignments), None)
            if number is not None and self._tell_asked:
                self.study.tell(number, value)
            else:
                add.append(_frozen(optuna, dists, params, value))
        self.study.add_trials([t for t in add if t is not None])
        self.told.extend(view.name for view, _, _ in new)

    def ask(self, params: tuple[Parameter, ...], dists: dict[str, Any], count: int,
            index: int) -> list[dict[str, str]]:
        """`count` new points from suggestion `index`. A previous call's asked trials are
        closed first (FAIL, which every sampler ignores): GPSampler models RUNNING trials, so
        left open they would make a repeated request get a different answer than the first
        time. CMA-ES's stay open (they are told when they finish), and optuna seeds each CMA
        sample with the trial's number, so a repeated request (the same history, index and
        count: a retry) gets the previous call's points back instead of new ones."""
        from optuna.trial import TrialState

        request = (len(self.told), index, count)
        if self._tell_asked and self._last is not None and self._last[0] == request:
            return [dict(v) for v in self._last[1]]
        for number in self._asked:
            self.study.tell(number, state=TrialState.FAIL)
        self._asked = []
        out = []
        for _ in range(count):
            trial = self.study.ask(dists)
            values = {p.name: p.format(trial.params[p.name]) for p in params}
            if self._tell_asked:
                self.pending.setdefault(assignment_key(values), trial.number)
            else:
                self._asked.append(trial.number)
            out.append(values)
        if self._tell_asked:
            self._last = (request, [dict(v) for v in out])
        return out


class Studies:
    """Per-experiment studies and parsed trial records, each a bounded LRU by experiment."""

    def __init__(self, maxsize: int = MAX_CACHED_STUDIES) -> None:
        self._studies: LRU[str, StudyCache] = LRU(maxsize)
        # experiment -> (space, objective, {trial name: (view, record or None)})
        self._parsed: LRU[str, tuple[Any, Any, dict[str, Any]]] = LRU(maxsize)

    def __getitem__(self, experiment: str) -> StudyCache:
        return self._studies[experiment]

    def told(self, exp: ExperimentView, trials: tuple[TrialView, ...]) -> list[Record]:
        """Finished trials with a numeric objective inside the space, in completion order.

        Parsed records are cached per experiment by trial view identity (the service reuses
        a finished trial's view), for as long as the space and objective are unchanged.
        """
        entry = self._parsed.get(exp.name)
        if entry is None or entry[0] != exp.parameters or entry[1] != exp.objective:
            entry = (exp.parameters, exp.objective, {})
            self._parsed[exp.name] = entry
        memo: dict[str, Any] = entry[2]
        out = []
        for t in trials:
            hit = memo.get(t.name)
            if hit is None or hit[0] is not t:
                hit = (t, _record(t, exp.parameters, exp.objective))
                if t.condition.completed:
                    memo[t.name] = hit
            if hit[1] is not None:
                out.append(hit[1])
        out.sort(key=lambda item: (item[0].completion_time, item[0].name))
        return out

    def study(self, exp: ExperimentView, cfg: HpoConfig, dists: dict[str, Any],
              told: list[Record], prior_obs: list[PriorTrial]) -> StudyCache:
        """The experiment's study, told every record in `told`."""
        key = (tuple(sorted((n, repr(d)) for n, d in dists.items())), exp.objective.maximize,
               cfg, len(prior_obs))
        cache = self._studies.get(exp.name)
        if cache is None or not cache.continues(key, [t.name for t, _, _ in told]):
            cache = StudyCache.rebuild(key, exp, cfg, dists, told, prior_obs)
            self._studies[exp.name] = cache
        cache.extend(told, dists)
        return cache


def _frozen(optuna: Any, dists: dict[str, Any], params: dict[str, Any], value: float) -> Any:
    """An optuna trial, or None when optuna refuses the values for these distributions (a
    trial or prior from another space is not an observation of this one; never INTERNAL)."""
    try:
        return optuna.trial.create_trial(params=params, distributions=dists, value=value)
    except ValueError:
        return None


def _record(t: TrialView, params: tuple[Parameter, ...], objective: Objective) -> Record | None:
    value = t.objective(objective.metric)
    if value is None:
        return None
    try:
        values = {p.name: p.parse(t.assignments[p.name]) for p in params}
    except (KeyError, ValueError):
        return None  # a trial from an older search space: not an observation of this one
    if not all(_on_grid(p, values[p.name]) for p in params):
        return None  # off a stepped range's grid: optuna's create_trial would raise
    return (t, values, value)


def _on_grid(p: Parameter, value: Any) -> bool:
    """Whether a parsed value lies on its stepped range's grid (optuna requires it)."""
    if p.kind not in (ParamKind.DOUBLE, ParamKind.INT) or p.distribution.is_log or not p.step \
            or p.low is None:
        return True
    k = (float(value) - p.low) / p.step
    return abs(k - round(k)) < 1e-6


def hyperopt_gamma(gamma: float, n: int) -> int:
    """hyperopt's TPE split: the ceil(gamma * sqrt(n)) best trials are "good", at most 25."""
    return min(math.ceil(gamma * math.sqrt(n)), 25)


def make_sampler(cfg: HpoConfig, index: int, source: list[Any] | None) -> Any:
    """The model-based sampler for suggestion `index` (a fresh seed per index)."""
    import optuna

    seed = (cfg.seed * 1_000_003 + index) % 2**31
    if cfg.sampler in ("tpe", "multivariate-tpe"):
        extra: dict[str, Any] = {}
        if cfg.gamma is not None:
            extra["gamma"] = functools.partial(hyperopt_gamma, cfg.gamma)
        if cfg.prior_weight is not None:
            extra["prior_weight"] = cfg.prior_weight
        with warnings.catch_warnings():  # optuna 5 marks `gamma` deprecated (removal in 6)
            warnings.simplefilter("ignore", FutureWarning)
            return optuna.samplers.TPESampler(
                seed=seed,
                n_startup_trials=cfg.n_startup_trials,
                n_ei_candidates=cfg.n_ei_candidates,
                multivariate=cfg.sampler == "multivariate-tpe",
                constant_liar=False,
                **extra,
            )
    if cfg.sampler == "gp":
        return optuna.samplers.GPSampler(
            seed=seed, n_startup_trials=cfg.n_startup_trials, warn_independent_sampling=False
        )
    from .cma_restarts import IpopCmaEsSampler, WarmCmaEsSampler

    cma = IpopCmaEsSampler if cfg.restart_strategy == "ipop" else WarmCmaEsSampler
    ipop = ({"inc_popsize": cfg.inc_popsize, "restart_seed": cfg.seed}
            if cfg.restart_strategy == "ipop" else {})  # optuna >= 4.4 ignores its own
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # optuna 5 marks sigma0 deprecated
        return cma(seed=seed, sigma0=cfg.sigma, warm_trials=source,
                   warn_independent_sampling=False, **ipop)


def distributions(params: tuple[Parameter, ...]) -> dict[str, Any]:
    """optuna distributions. normal/logNormal map onto the bounded linear/log range (TPE and
    CMA-ES learn the density themselves; optuna has no unbounded distributions)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for p in params:
        log = p.distribution.is_log
        if p.kind is ParamKind.DOUBLE:
            assert p.low is not None and p.high is not None
            step = None if log else p.step
            high = p.high
            if step is not None:  # optuna wants high on the grid
                high = p.low + math.floor((p.high - p.low) / step + 1e-9) * step
            out[p.name] = FloatDistribution(p.low, high, log=log, step=step)
        elif p.kind is ParamKind.INT:
            assert p.low is not None and p.high is not None
            step = 1 if log else int(p.step or 1)
            high = int(p.low) + (int(p.high) - int(p.low)) // step * step
            out[p.name] = IntDistribution(int(p.low), high, log=log, step=step)
        else:
            out[p.name] = CategoricalDistribution(list(p.values))
    return out
