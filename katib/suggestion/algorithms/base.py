"""The narrow interface every suggestion algorithm implements.

Lifecycle (one call = one gRPC request; nothing survives between calls except caches an
algorithm may keep, which must be keyed so that a restart or a different history recomputes
the same answer):

1. ``validate(experiment)`` for ``ValidateAlgorithmSettings``; parses the settings with the
   algorithm's :class:`SettingsTable` and checks the search space / NAS config.
2. ``suggest(request)`` for ``GetSuggestions``; returns exactly
   ``request.current_request_number`` :class:`Assignment` objects, computed from
   ``request.trials`` (the whole history).

Bad input raises :class:`SuggestionInputError` (INVALID_ARGUMENT); anything else is a bug
(INTERNAL).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from ..search_space import ExperimentView
from ..settings import SettingsTable
from ..trials import TrialView


@dataclass(frozen=True)
class SuggestionRequest:
    experiment: ExperimentView
    trials: tuple[TrialView, ...]
    current_request_number: int
    total_request_number: int


@dataclass(frozen=True)
class Assignment:
    """One new trial: parameter values (wire strings, emitted in order), optional name/labels."""

    values: dict[str, str]
    trial_name: str = ""
    labels: dict[str, str] = field(default_factory=dict)


def assignment_key(assignments: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """A hashable identity of one point's wire values (name order does not matter)."""
    return tuple(sorted(assignments.items()))


class Algorithm(ABC):
    """A suggestion algorithm registered under one or more Katib algorithm names."""

    @abstractmethod
    def settings_table(self, algorithm_name: str) -> SettingsTable:
        """The settings accepted when registered as ``algorithm_name``."""

    @abstractmethod
    def validate(self, experiment: ExperimentView) -> None:
        """Raise SuggestionInputError when the experiment cannot be served."""

    @abstractmethod
    def suggest(self, request: SuggestionRequest) -> list[Assignment]:
        """Exactly ``request.current_request_number`` new assignments."""
