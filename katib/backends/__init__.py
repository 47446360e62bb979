"""Backends that run a Katib Experiment: `local` (one machine) and `kubernetes` (a cluster).

Both take the same Experiment document (a `kubeflow.org/v1beta1` dict, as in `kubectl apply`)
and return the same neutral `ExperimentResult`; `katib.client.ExperimentClient` picks one.
"""

from __future__ import annotations

from katib.backends.base import ExperimentBackend
from katib.types import (
    ExperimentFailedError,
    ExperimentResult,
    ExperimentStatus,
    TrialResult,
)

__all__ = [
    "ExperimentBackend",
    "ExperimentFailedError",
    "ExperimentResult",
    "ExperimentStatus",
    "TrialResult",
]
