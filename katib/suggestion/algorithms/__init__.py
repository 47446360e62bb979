"""Suggestion algorithms behind the narrow :class:`~.base.Algorithm` interface."""

from __future__ import annotations

from .base import Algorithm, Assignment, SuggestionRequest
from .registry import ALGORITHM_NAMES, AlgorithmRegistry

__all__ = ["ALGORITHM_NAMES", "Algorithm", "AlgorithmRegistry", "Assignment", "SuggestionRequest"]
