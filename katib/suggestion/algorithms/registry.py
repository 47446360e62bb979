"""Algorithm name -> algorithm instance (one per kind, created on first use).

Instances are created lazily so the server imports optuna or nac only for the algorithms an
experiment uses.
"""

from __future__ import annotations

from collections.abc import Callable

from katib.constants import BUILTIN_SAMPLERS, HYPERBAND, NAC, WARM_START

from ..errors import SuggestionInputError
from .base import Algorithm


def _nac() -> Algorithm:
    from .nac import NACAlgorithm

    return NACAlgorithm()


def _optuna() -> Algorithm:
    from .optuna_hpo import OptunaAlgorithm

    return OptunaAlgorithm()


def _hyperband() -> Algorithm:
    from .hyperband import HyperbandAlgorithm

    return HyperbandAlgorithm()


def _multiobjective() -> Algorithm:
    from .multiobjective import MultiObjectiveAlgorithm

    return MultiObjectiveAlgorithm()


_FACTORIES: dict[str, tuple[str, Callable[[], Algorithm]]] = {
    NAC: ("nac", _nac),
    WARM_START: ("optuna", _optuna),
    **{name: ("optuna", _optuna) for name in BUILTIN_SAMPLERS},
    "multi-objective": ("multiobjective", _multiobjective),
    HYPERBAND: ("hyperband", _hyperband),
}

ALGORITHM_NAMES: tuple[str, ...] = tuple(_FACTORIES)


class AlgorithmRegistry:
    """Holds one instance per algorithm kind (their caches are shared across experiments)."""

    def __init__(self) -> None:
        self._instances: dict[str, Algorithm] = {}

    def get(self, name: str) -> Algorithm:
        entry = _FACTORIES.get(name)
        if entry is None:
            raise SuggestionInputError(
                f"algorithmName {name!r} is not served by this suggestion service; "
                f"supported: {', '.join(ALGORITHM_NAMES)}"
            )
        kind, factory = entry
        if kind not in self._instances:
            self._instances[kind] = factory()
        return self._instances[kind]
