"""CMA-ES with IPOP restarts (setting ``restart_strategy: ipop``), on optuna's CmaEsSampler.

Why this exists: Katib v0.19.0's ``cmaes`` takes ``restart_strategy`` (``ipop`` or
``none``; its optuna service pins optuna 3.3.0, whose CmaEsSampler restarts with a population
``inc_popsize`` times larger each time the CMA optimizer meets a stopping criterion; its
goptuna service does the same with factor 2). Optuna deprecated that argument in 4.4 and from
then on silently ignores it, so passing it through would accept the setting and do nothing.
This subclass restores the behaviour (IPOP-CMA-ES, Auger & Hansen 2005):

- the optimizer of restart ``n`` lives in trial system attributes under the prefix
  ``cma:restart_<n>:`` (restart 0 keeps optuna's own ``cma:``), so each restart has its own
  generations and population, and the state survives the sampler being re-created per call;
- before each ask, the newest optimizer of the current restart is restored; if its
  ``should_stop()`` holds (tolfun, tolx, divergence, no-effect axis, ill-conditioning), the
  next restart begins with ``popsize * inc_popsize`` and a fresh mean drawn uniformly in the
  (0, 1)-scaled space from a seed fixed per restart (so every call of one generation agrees).

It overrides two private hooks of optuna's sampler (``_attr_prefix`` and ``_init_optimizer``);
tests/katib/suggestion/test_cmaes_restarts.py runs a real restart so an optuna change that
breaks them fails the suite instead of silently dropping restarts.
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


class IpopCmaEsSampler(CmaEsSampler):
    """optuna's CmaEsSampler plus IPOP restarts; ``restart_seed`` fixes each restart's mean."""

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
