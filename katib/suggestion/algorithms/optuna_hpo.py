"""``warm-start`` and Katib's built-in HPO names, served by one optuna-based algorithm.

Samplers (setting ``sampler``): ``tpe`` (default for ``warm-start``), ``multivariate-tpe``,
``random``, ``cmaes``, ``grid``, ``gp`` (optuna GPSampler; needs torch, absent from the lean
image) and ``qmc``. This module holds the settings, the config and the dispatch; the work is in

* ``indexed_samplers.py``: ``random``, ``qmc`` and ``grid``, pure functions of the seed and
  the suggestion index (``total_request_number - current_request_number``);
* ``study_cache.py``: the model-based samplers on an optuna study cached per experiment and
  told only the new trials (CMA-ES excepted after a restart: see that module);
* ``warm_start.py``: prior results (settings ``warm_start_source``, ``warm_start_type``,
  ``warm_start_top_k``).

Warm start. ``identical``: prior trials whose every value lies inside the new space are told
to the sampler as real observations before the experiment's own trials (``grid`` skips points
already observed; ``random``/``qmc`` ignore history by definition). ``transfer``: the
``warm_start_top_k`` best prior configurations, projected into the new space, are suggested
first; the remaining prior trials are told to the model-based samplers as a prior only while
the experiment has fewer than ``warm_start_top_k + n_startup_trials`` results of its own,
after which they are dropped (a lower weight that decays to zero, so a shifted objective
surface cannot dominate). CMA-ES also starts its first optimizer from them (WS-CMA-ES).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from typing import Any

from katib.constants import BUILTIN_SAMPLERS, WARM_START

from ..errors import SuggestionInputError
from ..search_space import ExperimentView
from ..settings import Setting, SettingsTable
from .base import Algorithm, Assignment, SuggestionRequest, assignment_key
from .indexed_samplers import grid_points, grid_suggest, indexed_suggest
from .study_cache import Studies, distributions, make_sampler
from .warm_start import PriorCache, inside, top_k_projected
from .warm_start_sources import CustomObjectsFactory

SAMPLERS = ("tpe", "multivariate-tpe", "random", "cmaes", "grid", "gp", "qmc")


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
                "restart_strategy",
                "str",
                "none",
                "cmaes: ipop restarts with a larger population when CMA-ES converges; none",
            ),
            Setting(
                "inc_popsize",
                "int",
                2,
                "cmaes ipop: population multiplier at each restart",
                minimum=1,
                maximum=64,
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
    """The parsed settings of one experiment (its fields are the settings' names)."""

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
    restart_strategy: str = "none"  # cmaes: "ipop" or "none" (Katib's optuna/goptuna setting)
    inc_popsize: int = 2


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


#: The settings table of every name this algorithm serves.
TABLES: dict[str, SettingsTable] = {
    WARM_START: _table(WARM_START, "tpe"),
    **{name: SettingsTable(name, _HYPEROPT_SETTINGS[name]) if name in _HYPEROPT_SETTINGS
       else _table(name, sampler) for name, sampler in BUILTIN_SAMPLERS.items()},
}


# Katib v0.19.0 pkg/suggestion/v1beta1/optuna/service.py _validate_cmaes_setting accepts
# restart_strategy "ipop", "None" or "none" and refuses anything else with this message;
# convert_algorithm_spec maps "None"/"none" to no restarts.
_RESTARTS = {"ipop": "ipop", "None": "none", "none": "none"}


def _check_restart(values: dict[str, Any], sampler: str) -> None:
    """restart_strategy: Katib's accepted values and message; only CMA-ES restarts."""
    raw = values.get("restart_strategy", "none")
    strategy = _RESTARTS.get(raw)
    if strategy is None:
        raise SuggestionInputError(
            f"algorithm setting restart_strategy={raw!r} is invalid: restart_strategy {raw} "
            "is not supported in CMAES optimization; use ipop or none")
    if strategy == "ipop" and sampler != "cmaes":
        raise SuggestionInputError(
            f"algorithm setting restart_strategy=ipop applies to sampler=cmaes only (this "
            f"experiment samples with {sampler}); set sampler=cmaes or drop restart_strategy")
    values["restart_strategy"] = strategy


def _gp_available() -> bool:
    """GPSampler needs torch and scipy; the server hides scipy unless --allow-scipy."""
    for name in ("torch", "scipy"):
        if name in sys.modules and sys.modules[name] is None:
            return False
        if importlib.util.find_spec(name) is None:
            return False
    return True


def _default_seed(experiment: str) -> int:
    return int(hashlib.sha256(experiment.encode()).hexdigest()[:8], 16) % 2**31


class OptunaAlgorithm(Algorithm):
    """One instance serves every experiment; per-experiment caches are bounded LRUs."""

    def __init__(self, *, custom_objects: CustomObjectsFactory | None = None,
                 priors: PriorCache | None = None) -> None:
        self._priors = priors or PriorCache(custom_objects)
        self._studies = Studies()

    def settings_table(self, algorithm_name: str) -> SettingsTable:
        return TABLES.get(algorithm_name) or _table(algorithm_name, "tpe")

    def config(self, experiment: ExperimentView) -> HpoConfig:
        table = self.settings_table(experiment.algorithm)
        values = table.parse(experiment.settings)
        if experiment.algorithm in _HYPEROPT_SETTINGS:
            values = _from_hyperopt(experiment.algorithm, values)
            table = _table(experiment.algorithm, BUILTIN_SAMPLERS[experiment.algorithm])
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
        _check_restart(values, sampler)
        seed = values["seed"]
        return table.fill(HpoConfig, values, sampler=sampler,
                          seed=_default_seed(experiment.name) if seed is None else seed)

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
            grid_points(experiment.parameters)
        if cfg.warm_start_source:
            self._priors.load(cfg.warm_start_source, experiment.objective)

    def suggest(self, request: SuggestionRequest) -> list[Assignment]:
        exp = request.experiment
        self.validate(exp)
        cfg = self.config(exp)
        count = request.current_request_number
        start = request.total_request_number - count
        if start < 0 or request.total_request_number == 0:
            start = len(request.trials)
        params = exp.parameters
        priors = (self._priors.load(cfg.warm_start_source, exp.objective)
                  if cfg.warm_start_source else [])
        told = self._studies.told(exp, request.trials)

        out: list[dict[str, str]] = []
        if cfg.warm_start_type == "transfer" and priors:
            top = top_k_projected(priors, params, exp.objective, cfg.warm_start_top_k)
            out = top[start:start + count]
        remaining = count - len(out)
        if remaining <= 0:
            return [Assignment(v) for v in out]
        index = start + len(out)
        if cfg.sampler == "grid":
            seen = {assignment_key(t.assignments) for t in request.trials}
            if cfg.warm_start_type == "identical":
                seen |= {assignment_key(p.assignments) for p in priors}
            out += grid_suggest(params, cfg.seed, seen, remaining, index)
        elif cfg.sampler in ("random", "qmc"):
            out += indexed_suggest(params, cfg.sampler, cfg.seed, index, remaining)
        else:
            use_prior = bool(priors) and (
                cfg.warm_start_type == "identical"
                or len(told) < cfg.warm_start_top_k + cfg.n_startup_trials
            )
            prior_obs = [p for p in priors if inside(p.assignments, params)] if use_prior else []
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            dists = distributions(params)
            cache = self._studies.study(exp, cfg, dists, told, prior_obs)
            cache.study.sampler = make_sampler(cfg, index, cache.source_trials)
            out += cache.ask(params, dists, remaining, index)
        return [Assignment(v) for v in out]
