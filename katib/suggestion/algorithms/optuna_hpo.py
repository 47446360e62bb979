"""``warm-start`` and Katib's built-in HPO names, served by one optuna-based algorithm.

Samplers (setting ``sampler``): ``tpe`` (default for ``warm-start``), ``multivariate-tpe``,
``random``, ``cmaes``, ``grid``, ``gp`` (optuna GPSampler; needs torch, absent from the lean
image) and ``qmc`` (a randomly shifted Halton sequence; optuna's QMCSampler would pull in
scipy.stats, +60 MiB). ``random``, ``grid`` and ``qmc`` are pure functions of the seed and the
suggestion index; the model-based samplers run on an optuna study cached per experiment that
is told only the new trials, and rebuilt whenever the history is not an extension of what the
cache has seen (a restart, another controller, a changed space).

Idempotency: the sampler is re-created on every call with a seed derived from the ``seed``
setting and the suggestion index (``total_request_number - current_request_number``), so a
repeated request, or the same request to a restarted server, gets the same answer (CMA-ES
excepted after a restart: its generation state lives in the study, see ``_StudyCache``).

Warm start (settings ``warm_start_source``, ``warm_start_type``, ``warm_start_top_k``):

* ``identical``: prior trials whose every value lies inside the new space are told to the
  sampler as real observations before the experiment's own trials (``grid`` skips points
  already observed; ``random``/``qmc`` ignore history by definition).
* ``transfer``: the ``warm_start_top_k`` best prior configurations, projected into the new
  space (numbers clipped and snapped to the step, unknown categories dropped), are suggested
  first; the remaining prior trials are told to the model-based samplers as a prior only while
  the experiment has fewer than ``warm_start_top_k + n_startup_trials`` results of its own,
  after which they are dropped (a lower weight that decays to zero, so a shifted objective
  surface cannot dominate). CMA-ES receives them as ``source_trials`` (WS-CMA-ES).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import math
import random
import sys
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from ..constants import BUILTIN_SAMPLERS, WARM_START
from ..errors import SuggestionInputError
from ..search_space import Distribution, ExperimentView, Objective, Parameter, ParamKind
from ..settings import Setting, SettingsTable
from ..trials import TrialView
from .base import Algorithm, Assignment, SuggestionRequest
from .warm_start_sources import CustomObjectsFactory, PriorTrial, load_priors

if TYPE_CHECKING:
    import optuna

SAMPLERS = ("tpe", "multivariate-tpe", "random", "cmaes", "grid", "gp", "qmc")
_MODEL_SAMPLERS = ("tpe", "multivariate-tpe", "cmaes", "gp")
# One suggestion Deployment serves one Experiment (katib.local: one run), so two cached
# studies cover it; each holds the whole history as optuna trials.
_MAX_CACHED_STUDIES = 2
_MAX_GRID_POINTS = 1_000_000
_STD_NORMAL = NormalDist()


# Katib's own `tpe` and `random` (suggestion-hyperopt) accept exactly these setting names and
# fail the Experiment on any other (katib v0.19.0 pkg/suggestion/v1beta1/hyperopt/service.py
# _validate_tpe_setting, _validate_random_setting). An Experiment naming them must run
# unchanged under katib.local and on a cluster, so here the two names take the same settings,
# with hyperopt's meanings: gamma is the quantile of hyperopt's TPE split
# (ceil(gamma * sqrt(n)) "good" trials, capped at 25), prior_weight and n_EI_candidates are
# TPE's, random_state the seed.
_HYPEROPT_SETTINGS = {
    "tpe": (
        Setting("random_state", "int", None, "random seed; default derived from the "
                "experiment name", minimum=0, maximum=2**31 - 1),
        Setting("gamma", "float", None, "TPE split quantile, in (0, 1) (unset: optuna's "
                "default split)", minimum=0.0, maximum=1.0),
        Setting("prior_weight", "float", None, "weight of the prior, > 0", minimum=0.0),
        Setting("n_EI_candidates", "int", 24, "TPE candidates scored per suggestion",
                minimum=1, maximum=10_000),
    ),
    "random": (
        Setting("random_state", "int", None, "random seed; default derived from the "
                "experiment name", minimum=0, maximum=2**31 - 1),
    ),
}


def _hyperopt_gamma(gamma: float, n: int) -> int:
    """hyperopt's TPE split: the ceil(gamma * sqrt(n)) best trials are "good", at most 25."""
    return min(math.ceil(gamma * math.sqrt(n)), 25)


def _table(algorithm: str, default_sampler: str) -> SettingsTable:
    return SettingsTable(
        algorithm,
        (
            Setting("sampler", "choice", default_sampler, "optuna sampler", choices=SAMPLERS),
            Setting(
                "seed",
                "int",
                None,
                "random seed; default derived from the experiment name",
                minimum=0,
                maximum=2**31 - 1,
                aliases=("random_state",),
            ),
            Setting(
                "n_startup_trials",
                "int",
                10,
                "random trials before tpe/gp model the history",
                minimum=0,
                maximum=10_000,
                aliases=("n_initial_points",),
            ),
            Setting(
                "n_ei_candidates",
                "int",
                24,
                "tpe candidates scored per suggestion",
                minimum=1,
                maximum=10_000,
                aliases=("n_EI_candidates",),
            ),
            Setting(
                "sigma",
                "float",
                None,
                "cmaes initial step size (default: optuna's, 1/6 of the smallest range)",
                minimum=1e-12,
                aliases=("sigma0",),
            ),
            Setting(
                "warm_start_source",
                "str",
                "",
                "comma list of results files/URLs (katib.local) or namespace/experiment names",
            ),
            Setting(
                "warm_start_type",
                "choice",
                "identical",
                "how prior results are used",
                choices=("identical", "transfer"),
            ),
            Setting(
                "warm_start_top_k",
                "int",
                3,
                "transfer: prior configurations re-evaluated first",
                minimum=0,
                maximum=1000,
            ),
        ),
    )


@dataclass(frozen=True)
class HpoConfig:
    sampler: str
    seed: int
    n_startup_trials: int
    n_ei_candidates: int
    sigma: float | None
    warm_start_source: str
    warm_start_type: str
    warm_start_top_k: int
    gamma: float | None = None  # hyperopt's TPE split quantile (Katib's `tpe` setting)
    prior_weight: float | None = None


def _from_hyperopt(algorithm: str, values: dict[str, Any]) -> dict[str, Any]:
    """Katib-hyperopt settings -> this algorithm's, with hyperopt's own range checks."""
    out = {s.name: s.default for s in _table(algorithm, BUILTIN_SAMPLERS[algorithm]).settings}
    out["seed"] = values["random_state"]
    if algorithm == "tpe":
        gamma, weight = values["gamma"], values["prior_weight"]
        if gamma is not None and not 0 < gamma < 1:
            raise SuggestionInputError(f"algorithm setting gamma={gamma:g} is invalid: gamma "
                                       "should be in the range of (0, 1)")
        if weight is not None and not weight > 0:
            raise SuggestionInputError(f"algorithm setting prior_weight={weight:g} is invalid: "
                                       "prior_weight should be greater than zero")
        out.update(n_ei_candidates=values["n_EI_candidates"], gamma=gamma, prior_weight=weight)
    return out


@dataclass
class _StudyCache:
    """An optuna study holding the told trials of one experiment, in told order."""

    key: tuple[Any, ...]
    study: optuna.Study
    told: list[str] = field(default_factory=list)
    # Asked-but-not-told optuna trials by assignment key: CMA-ES must be told its own trials
    # (its generation state is in their attributes); other samplers ignore RUNNING trials.
    pending: dict[tuple[tuple[str, str], ...], int] = field(default_factory=dict)
    source_trials: list[optuna.trial.FrozenTrial] | None = None


def _gp_available() -> bool:
    """GPSampler needs torch and scipy; the server hides scipy unless --allow-scipy."""
    for name in ("torch", "scipy"):
        if name in sys.modules and sys.modules[name] is None:
            return False
        if importlib.util.find_spec(name) is None:
            return False
    return True


class OptunaAlgorithm(Algorithm):
    """One instance serves every experiment; per-experiment caches are bounded LRUs."""

    def __init__(self, *, custom_objects: CustomObjectsFactory | None = None) -> None:
        self._custom_objects = custom_objects
        self._studies: OrderedDict[str, _StudyCache] = OrderedDict()
        self._priors: dict[tuple[str, str, bool], list[PriorTrial]] = {}
        # experiment -> (space, objective, {trial name: (view, parsed values, value) | None})
        self._parsed: OrderedDict[str, tuple[Any, Any, dict[str, Any]]] = OrderedDict()

    # ----------------------------------------------------------------- settings / checks
    def settings_table(self, algorithm_name: str) -> SettingsTable:
        if algorithm_name in _HYPEROPT_SETTINGS:
            return SettingsTable(algorithm_name, _HYPEROPT_SETTINGS[algorithm_name])
        if algorithm_name == WARM_START:
            return _table(algorithm_name, "tpe")
        return _table(algorithm_name, BUILTIN_SAMPLERS.get(algorithm_name, "tpe"))

    def config(self, experiment: ExperimentView) -> HpoConfig:
        values = self.settings_table(experiment.algorithm).parse(experiment.settings)
        if experiment.algorithm in _HYPEROPT_SETTINGS:
            values = _from_hyperopt(experiment.algorithm, values)
        sampler = values["sampler"]
        if sampler == "gp" and not _gp_available():
            if experiment.algorithm == "bayesianoptimization" and not any(
                n == "sampler" for n, _ in experiment.settings
            ):
                sampler = "tpe"  # the documented fallback of the built-in name
            else:
                raise SuggestionInputError(
                    "algorithm setting sampler='gp' needs torch and scipy, which this image "
                    "does not provide (or the server runs without --allow-scipy); use "
                    "sampler=tpe"
                )
        seed = values["seed"]
        if seed is None:
            seed = int(hashlib.sha256(experiment.name.encode()).hexdigest()[:8], 16) % 2**31
        return HpoConfig(
            sampler=sampler,
            seed=seed,
            n_startup_trials=values["n_startup_trials"],
            n_ei_candidates=values["n_ei_candidates"],
            sigma=values["sigma"],
            warm_start_source=values["warm_start_source"],
            warm_start_type=values["warm_start_type"],
            warm_start_top_k=values["warm_start_top_k"],
            gamma=values.get("gamma"),
            prior_weight=values.get("prior_weight"),
        )

    def validate(self, experiment: ExperimentView) -> None:
        cfg = self.config(experiment)
        if experiment.nas is not None and not experiment.parameters:
            raise SuggestionInputError(
                f"algorithm {experiment.algorithm!r} tunes hyperparameters: spec.parameters is "
                "empty (for nasConfig experiments use algorithmName: nac)"
            )
        if not experiment.parameters:
            raise SuggestionInputError("spec.parameters is empty: nothing to tune")
        for p in experiment.parameters:
            if p.step is not None and p.distribution.is_log:
                raise SuggestionInputError(
                    f"parameter {p.name!r}: feasibleSpace.step cannot be combined with "
                    f"distribution {p.distribution.value}; drop the step or use uniform"
                )
        if cfg.sampler == "grid":
            _grid_points(experiment.parameters)
        if cfg.warm_start_source:
            self._load_priors(cfg, experiment.objective)

    # ----------------------------------------------------------------------- suggest
    def suggest(self, request: SuggestionRequest) -> list[Assignment]:
        exp = request.experiment
        self.validate(exp)
        cfg = self.config(exp)
        count = request.current_request_number
        start = request.total_request_number - count
        if start < 0 or request.total_request_number == 0:
            start = len(request.trials)
        params = exp.parameters
        priors = self._load_priors(cfg, exp.objective) if cfg.warm_start_source else []
        told = self._told(exp, request.trials)

        out: list[dict[str, str]] = []
        if cfg.warm_start_type == "transfer" and priors:
            top = _top_k_projected(priors, params, exp.objective, cfg.warm_start_top_k)
            while len(out) < count and start + len(out) < len(top):
                out.append(top[start + len(out)])
        remaining = count - len(out)
        if remaining <= 0:
            return [Assignment(v) for v in out]
        index = start + len(out)
        if cfg.sampler == "grid":
            seen = {_key(t.assignments) for t in request.trials}
            if cfg.warm_start_type == "identical":
                seen |= {_key(p.assignments) for p in priors}
            out += _grid_suggest(params, cfg.seed, seen, remaining, index)
        elif cfg.sampler in ("random", "qmc"):
            for i in range(remaining):
                if cfg.sampler == "qmc":
                    units = _halton(index + i, len(params), cfg.seed)
                else:
                    rng = random.Random(f"{cfg.seed}/{index + i}")  # noqa: S311
                    units = [rng.random() for _ in params]
                out.append({p.name: p.format(_from_unit(p, u))
                            for p, u in zip(params, units, strict=True)})
        else:
            own = len(told)
            use_prior = bool(priors) and (
                cfg.warm_start_type == "identical"
                or own < cfg.warm_start_top_k + cfg.n_startup_trials
            )
            prior_obs = (
                [p for p in priors if _inside(p.assignments, params)] if use_prior else []
            )
            out += self._model_suggest(exp, cfg, told, prior_obs, remaining, index)
        return [Assignment(v) for v in out]

    # ------------------------------------------------------------------ internals
    def _told(
        self, exp: ExperimentView, trials: tuple[TrialView, ...]
    ) -> list[tuple[TrialView, dict[str, Any], float]]:
        """Finished trials with a numeric objective inside the space, in completion order.

        Parsed records are cached per experiment by trial view identity (the service reuses
        a finished trial's view), for as long as the space and objective are unchanged.
        """
        entry = self._parsed.get(exp.name)
        if entry is None or entry[0] != exp.parameters or entry[1] != exp.objective:
            entry = (exp.parameters, exp.objective, {})
            self._parsed[exp.name] = entry
            while len(self._parsed) > _MAX_CACHED_STUDIES:
                self._parsed.popitem(last=False)
        self._parsed.move_to_end(exp.name)
        memo: dict[str, Any] = entry[2]
        out = []
        for t in trials:
            hit = memo.get(t.name)
            if hit is None or hit[0] is not t:
                record = _told_record(t, exp.parameters, exp.objective)
                hit = (t, record)
                if t.condition.finished:
                    memo[t.name] = hit
            if hit[1] is not None:
                out.append(hit[1])
        out.sort(key=lambda item: (item[0].completion_time, item[0].name))
        return out

    def _load_priors(self, cfg: HpoConfig, objective: Objective) -> list[PriorTrial]:
        key = (cfg.warm_start_source, objective.metric, objective.maximize)
        if key not in self._priors:
            self._priors[key] = load_priors(
                cfg.warm_start_source, objective, custom_objects=self._custom_objects
            )
        return self._priors[key]

    def _model_suggest(
        self,
        exp: ExperimentView,
        cfg: HpoConfig,
        told: list[tuple[TrialView, dict[str, Any], float]],
        prior_obs: list[PriorTrial],
        count: int,
        index: int,
    ) -> list[dict[str, str]]:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        dists = _distributions(exp.parameters)
        cache = self._study(exp, cfg, dists, told, prior_obs)
        study = cache.study
        study.sampler = _make_sampler(cfg, index, cache.source_trials)
        out = []
        for _ in range(count):
            trial = study.ask(dists)
            values = {p.name: p.format(trial.params[p.name]) for p in exp.parameters}
            cache.pending.setdefault(_key(values), trial.number)
            out.append(values)
        return out

    def _study(
        self,
        exp: ExperimentView,
        cfg: HpoConfig,
        dists: dict[str, Any],
        told: list[tuple[TrialView, dict[str, Any], float]],
        prior_obs: list[PriorTrial],
    ) -> _StudyCache:
        import optuna

        key = (
            tuple(sorted((n, repr(d)) for n, d in dists.items())),
            exp.objective.maximize,
            cfg,
            len(prior_obs),
        )
        names = [t.name for t, _, _ in told]
        cache = self._studies.get(exp.name)
        if cache is None or cache.key != key or cache.told != names[: len(cache.told)]:
            study = optuna.create_study(
                storage=optuna.storages.InMemoryStorage(),
                direction="maximize" if exp.objective.maximize else "minimize",
                sampler=optuna.samplers.RandomSampler(seed=0),
            )
            frozen = [_frozen(optuna, dists, {p.name: p.parse(a.assignments[p.name])
                                              for p in exp.parameters}, a.objective)
                      for a in prior_obs]
            source = None
            if cfg.sampler == "cmaes":
                # CMA-ES models only the numeric parameters and skips any source trial whose
                # distributions differ from that space ("No compatible source_trials").
                numeric = {n: d for n, d in dists.items()
                           if not isinstance(d, optuna.distributions.CategoricalDistribution)}
                history = [_frozen(optuna, numeric, {n: params[n] for n in numeric}, v)
                           for _, params, v in told]
                history = [_frozen(optuna, numeric, {n: t.params[n] for n in numeric}, t.value)
                           for t in frozen if t is not None] + history
                history = [t for t in history if t is not None]
                source = history if cfg.sigma is None and numeric else None
                frozen = []
            study.add_trials([t for t in frozen if t is not None])
            cache = _StudyCache(key, study, source_trials=source or None)
            if cfg.sampler == "cmaes":
                cache.told = names[:]  # already in source_trials, not in the study
            self._studies[exp.name] = cache
            while len(self._studies) > _MAX_CACHED_STUDIES:
                self._studies.popitem(last=False)
        self._studies.move_to_end(exp.name)
        new = told[len(cache.told) :]
        if new:
            add = []
            for view, params, value in new:
                number = cache.pending.pop(_key(view.assignments), None)
                if number is not None and cfg.sampler == "cmaes":
                    cache.study.tell(number, value)
                else:
                    add.append(_frozen(optuna, dists, params, value))
            cache.study.add_trials([t for t in add if t is not None])
            cache.told.extend(view.name for view, _, _ in new)
        return cache


def _frozen(optuna: Any, dists: dict[str, Any], params: dict[str, Any], value: float) -> Any:
    """An optuna trial, or None when optuna refuses the values for these distributions (a
    trial or prior from another space is not an observation of this one; never INTERNAL)."""
    try:
        return optuna.trial.create_trial(params=params, distributions=dists, value=value)
    except ValueError:
        return None


def _make_sampler(cfg: HpoConfig, index: int, source: list[Any] | None) -> Any:
    import optuna

    seed = (cfg.seed * 1_000_003 + index) % 2**31
    if cfg.sampler in ("tpe", "multivariate-tpe"):
        extra: dict[str, Any] = {}
        if cfg.gamma is not None:
            extra["gamma"] = functools.partial(_hyperopt_gamma, cfg.gamma)
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
    with warnings.catch_warnings():  # source_trials is "experimental" in optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.CmaEsSampler(
            seed=seed,
            sigma0=cfg.sigma,
            source_trials=source,
            warn_independent_sampling=False,
        )


def _key(assignments: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(assignments.items()))


def _inside(assignments: dict[str, str], params: tuple[Parameter, ...]) -> bool:
    try:
        for p in params:
            p.parse(assignments[p.name])
    except (KeyError, ValueError):
        return False
    return True


def _told_record(
    t: TrialView, params: tuple[Parameter, ...], objective: Objective
) -> tuple[TrialView, dict[str, Any], float] | None:
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


def _distributions(params: tuple[Parameter, ...]) -> dict[str, Any]:
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


# --------------------------------------------------------------- seed-indexed samplers
def _from_unit(p: Parameter, u: float) -> Any:
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


_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71)


def _halton(index: int, dims: int, seed: int) -> list[float]:
    """Point ``index`` of a Halton sequence with a seeded random shift (Cranley-Patterson)."""
    rng = random.Random(seed)  # noqa: S311
    out = []
    for d in range(dims):
        base = _PRIMES[d % len(_PRIMES)] if d < len(_PRIMES) else _next_prime(d)
        f, r, i = 1.0, 0.0, index + 1
        while i > 0:
            f /= base
            r += f * (i % base)
            i //= base
        out.append((r + rng.random()) % 1.0)
    return out


def _next_prime(d: int) -> int:
    n, found = _PRIMES[-1], len(_PRIMES) - 1
    while found < d:
        n += 2
        if all(n % q for q in range(3, int(n**0.5) + 1, 2)):
            found += 1
    return n


def _grid_values(p: Parameter) -> list[str]:
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


def _grid_points(params: tuple[Parameter, ...]) -> list[list[str]]:
    axes = [_grid_values(p) for p in params]
    size = math.prod(len(a) for a in axes)
    if size > _MAX_GRID_POINTS:
        raise SuggestionInputError(
            f"sampler grid: the space has {size} points (more than {_MAX_GRID_POINTS}); "
            "add or widen steps, or use sampler=tpe"
        )
    return axes


def _grid_suggest(
    params: tuple[Parameter, ...], seed: int, seen: set[Any], count: int, index: int
) -> list[dict[str, str]]:
    """Unvisited grid points in a seeded order; once every point was tried, points are
    re-emitted in the same order (Katib has no "search space exhausted" signal: set
    maxTrialCount to the grid size)."""
    import itertools

    axes = _grid_points(params)
    points = [dict(zip([p.name for p in params], combo, strict=True))
              for combo in itertools.product(*axes)]
    random.Random(seed).shuffle(points)  # noqa: S311
    out: list[dict[str, str]] = []
    fresh = (pt for pt in points if _key(pt) not in seen)
    for pt in fresh:
        if len(out) == count:
            break
        out.append(pt)
    i = index
    while len(out) < count:
        out.append(points[i % len(points)])
        i += 1
    return out


def _top_k_projected(
    priors: list[PriorTrial], params: tuple[Parameter, ...], objective: Objective, k: int
) -> list[dict[str, str]]:
    ranked = sorted(priors, key=lambda p: -p.objective if objective.maximize else p.objective)
    out: list[dict[str, str]] = []
    seen: set[Any] = set()
    for prior in ranked:
        if len(out) >= k:
            break
        projected = _project(prior.assignments, params)
        if projected is not None and _key(projected) not in seen:
            seen.add(_key(projected))
            out.append(projected)
    return out


def _project(assignments: dict[str, str], params: tuple[Parameter, ...]) -> dict[str, str] | None:
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
