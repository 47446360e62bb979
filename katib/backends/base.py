"""The contract every experiment backend implements (mirrors `katib.client.ExperimentClient`)."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

from katib.types import ExperimentResult

#: Called with each observation of a running Experiment (for progress output).
ProgressCallback = Callable[[ExperimentResult], None]


class ExperimentBackend(abc.ABC):
    """Runs a `kubeflow.org/v1beta1` Experiment document and reports its trials.

    Lifecycle: `create` submits (idempotent: a retry re-attaches to the Experiment of the same
    name), `wait` blocks until Succeeded/Failed or the timeout and raises
    `ExperimentFailedError` with Katib's reason when it failed, `get` observes without waiting.
    `run` is create + wait.
    """

    @abc.abstractmethod
    def create(self, experiment: dict[str, Any]) -> str:
        """Submit the Experiment; return its name."""

    @abc.abstractmethod
    def wait(
        self, name: str, *, timeout: float, progress: ProgressCallback | None = None
    ) -> ExperimentResult:
        """Block until the Experiment finishes; raise TimeoutError or ExperimentFailedError."""

    @abc.abstractmethod
    def get(self, name: str) -> ExperimentResult:
        """The Experiment's current status and trials."""

    def run(
        self,
        experiment: dict[str, Any],
        *,
        timeout: float,
        progress: ProgressCallback | None = None,
    ) -> ExperimentResult:
        """Create (or re-attach to) the Experiment and wait for it."""
        return self.wait(self.create(experiment), timeout=timeout, progress=progress)
