"""CMA-ES samplers on optuna's CmaEsSampler: a warm start from the history, and IPOP restarts.

**Warm start** (:class:`WarmCmaEsSampler`, every ``cmaes`` experiment). When the suggestion
service rebuilds a CMA-ES study (a restarted pod, an evicted cache, a history that does not
extend the cached one), the CMA state kept in the attributes of the trials it asked is gone:
Katib's trials carry only assignments and observations. The rebuilt study holds the history
as trials, and the first optimizer is initialised from it as WS-CMA-ES does (Nomura et al.
2021, ``cmaes.get_warm_start_mgd``): mean and covariance shape from the best 10% of the
history. This replaces optuna's own ``source_trials`` because that option forbids ``sigma0``
(so the ``sigma`` setting silently dropped the history) and asserts on fewer than 10 trials
(the top 10% is empty: INTERNAL on a short history). Here the top share is at least one trial,
and ``sigma`` (when set) keeps the step size: only the mean and shape come from the history.
(That the rebuilt study holds the history as trials, study_cache.py, is what lets CMA answer
the very first ask: optuna's sampler falls back to random sampling while its study has no
finished trial, which made every rebuilt study's first suggestions ignore the history.)

**IPOP restarts** (setting ``restart_strategy: ipop``). Katib v0.19.0's ``cmaes`` takes
``restart_strategy`` (``ipop`` or ``none``; its optuna service pins optuna 3.3.0, whose
CmaEsSampler restarts with a population ``inc_popsize`` times larger each time the CMA
optimizer meets a stopping criterion; its goptuna service does the same with factor 2).
Optuna deprecated that argument in 4.4 and from then on silently ignores it, so passing it
through would accept the setting and do nothing.
:class:`IpopCmaEsSampler` restores the behaviour (IPOP-CMA-ES, Auger & Hansen 2005):

- the optimizer of restart ``n`` lives in trial system attributes under the prefix
  ``cma:restart_<n>:`` (restart 0 keeps optuna's own ``cma:``), so each restart has its own
  generations and population, and the state survives the sampler being re-created per call;
- before each ask, the newest optimizer of the current restart is restored; if its
  ``should_stop()`` holds (tolfun, tolx, divergence, no-effect axis, ill-conditioning), the
  next restart begins with ``popsize * inc_popsize`` and a fresh mean drawn uniformly in the
  (0, 1)-scaled space from a seed fixed per restart (so every call of one generation agrees).

Both override private hooks of optuna's sampler (``_init_optimizer``, ``_attr_prefix``);
tests/katib/suggestion/test_cmaes_restarts.py runs a real restart and test_cmaes_rebuild.py a
real rebuild, so an optuna change that breaks them fails the suite instead of silently dropping
the behaviour.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
from optuna.samplers import CmaEsSampler

_PREFIX = "cma:"


def restart_prefix(n: int) -> str:
    """System-attribute prefix of restart ``n`` (0: optuna's own)."""
    return _PREFIX if n == 0 else f"{_PREFIX}restart_{n}:"


def default_popsize(dim: int) -> int:
    """CMA-ES's default population, 4 + floor(3 ln d) (the cmaes library's)."""
    return 4 + math.floor(3 * math.log(dim))


#: WS-CMA-ES's share of the history that sets the mean (``get_warm_start_mgd``'s gamma).
_WARM_SHARE = 0.1
_EPS = 1e-10  # optuna's floor on sigma (cmaes divides by it)


def warm_start_mgd(solutions: list[tuple[np.ndarray, float]]
                   ) -> tuple[np.ndarray, float, np.ndarray]:
    """WS-CMA-ES's mean, step size and covariance shape from (x in [0, 1]^d, loss) pairs:
    the best 10%, but at least the best one (cmaes asserts on an empty share)."""
    import cmaes

    return cmaes.get_warm_start_mgd(solutions, gamma=max(_WARM_SHARE, 1 / len(solutions)))


class WarmCmaEsSampler(CmaEsSampler):
    """optuna's CmaEsSampler whose first optimizer starts from ``warm_trials`` (see module)."""

    def __init__(self, *, warm_trials: list[optuna.trial.FrozenTrial] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._warm_trials = list(warm_trials or ())
        self._space: dict[str, Any] = {}

    def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                        search_space: dict[str, Any]) -> dict[str, Any]:
        self._space = search_space  # what _init_optimizer's `trans` was built from
        return super().sample_relative(study, trial, search_space)

    def _warm_solutions(self, trans: Any, direction: Any) -> list[tuple[np.ndarray, float]]:
        sign = 1 if direction == optuna.study.StudyDirection.MINIMIZE else -1
        return [(trans.transform(t.params), sign * float(t.value)) for t in self._warm_trials
                if t.value is not None
                and all(t.distributions.get(n) == d for n, d in self._space.items())]

    def _init_optimizer(self, trans: Any, direction: Any) -> Any:
        solutions = self._warm_solutions(trans, direction)
        if not solutions:
            return super()._init_optimizer(trans, direction)
        import cmaes

        mean, sigma, cov = warm_start_mgd(solutions)
        return cmaes.CMA(
            mean=mean,
            sigma=max(self._sigma0 if self._sigma0 is not None else sigma, _EPS),
            cov=cov,
            bounds=trans.bounds,
            seed=self._cma_rng.rng.randint(1, 2**31 - 2),
            n_max_resampling=10 * len(trans.bounds),
            population_size=self._popsize,
        )


class IpopCmaEsSampler(WarmCmaEsSampler):
    """The warm-started sampler plus IPOP restarts; ``restart_seed`` fixes each restart's
    mean (restart 0 starts from the history like any ``cmaes`` study)."""

    def __init__(self, *, inc_popsize: int = 2, restart_seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._inc_popsize = inc_popsize
        self._restart_seed = restart_seed
        self._restart = 0
        self._restart_popsize: int | None = None

    def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                        search_space: dict[str, Any]) -> dict[str, Any]:
        if search_space:
            self._locate_restart(self._get_trials(study), len(search_space))
        self._attr_prefix = restart_prefix(self._restart)
        return super().sample_relative(study, trial, search_space)

    def _locate_restart(self, completed: list[optuna.trial.FrozenTrial], dim: int) -> None:
        """The restart in progress: the newest one any finished trial belongs to, or the
        next one when that restart's newest optimizer says it should stop."""
        n = 0
        for t in completed:
            for key in t.system_attrs:
                if key.startswith(f"{_PREFIX}restart_"):
                    n = max(n, int(key[len(_PREFIX) + len("restart_"):].split(":", 1)[0]))
        self._attr_prefix = restart_prefix(n)
        optimizer = self._restore_optimizer(completed)
        popsize = default_popsize(dim) * self._inc_popsize ** n
        if optimizer is not None:
            popsize = optimizer.population_size
            if optimizer.should_stop():
                n += 1
                popsize *= self._inc_popsize
        self._restart, self._restart_popsize = n, popsize

    def _init_optimizer(self, trans: Any, direction: Any) -> Any:
        if self._restart == 0:
            return super()._init_optimizer(trans, direction)
        import cmaes

        bounds = trans.bounds
        rng = np.random.RandomState((self._restart_seed * 7919 + self._restart) % 2**31)
        mean = bounds[:, 0] + (bounds[:, 1] - bounds[:, 0]) * rng.rand(len(bounds))
        return cmaes.CMA(
            mean=mean,
            sigma=max(self._sigma0 or float(np.min(bounds[:, 1] - bounds[:, 0]) / 6), 1e-10),
            bounds=bounds,
            seed=self._cma_rng.rng.randint(1, 2**31 - 2),
            n_max_resampling=10 * len(bounds),
            population_size=self._restart_popsize,
        )
