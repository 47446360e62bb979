"""Configuration of the local backend and of one local run, and how a run ended."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from katib.backends.local.results import TrialRecord
from katib.constants import LOCAL_RESULTS_ROOT
from katib.types import Reason, TrialStatus


@dataclass
class LocalBackendConfig:
    """Run Experiments on this machine with `katib.local` (trials as subprocesses).

    `workdir` holds one directory per Experiment (results file, trial logs); `env` is merged
    over the current environment of every trial; `python` replaces a leading `python`/`python3`
    in trial commands (default: this interpreter); `progress` shows live trial progress.
    """

    workdir: str | os.PathLike[str] = LOCAL_RESULTS_ROOT
    env: dict[str, str] = field(default_factory=dict)
    python: str | None = None
    progress: bool = True


@dataclass
class RunConfig:
    """How to run locally; every field has a sensible default."""

    results: Path
    workdir: Path
    parallel: int | None = None
    max_trials: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    python: str | None = None
    progress: bool = True
    cores: int | None = None


@dataclass(frozen=True)
class LocalRunOutcome:
    """How the local run ended (Katib's reason and message) and what it found (its trials as
    results-file records; `katib.results_file.experiment_result` gives the neutral view)."""

    name: str
    reason: str
    message: str
    trials: list[TrialRecord]
    results_file: Path
    best: TrialRecord | None
    best_objective: float | None
    #: The signal number that interrupted the run (reason ExperimentInterrupted), else None.
    interrupted_by: int | None = None

    @property
    def succeeded(self) -> bool:
        return self.reason in {r.value for r in Reason if r.succeeded}

    def count(self, *statuses: TrialStatus) -> int:
        return sum(1 for t in self.trials if t.status in statuses)

    def summary(self) -> dict[str, Any]:
        """The `RESULT {json}` payload of `python -m katib.local run`."""
        return {
            "best_objective": self.best_objective,
            "best_assignments": dict(self.best.assignments) if self.best else None,
            "trials_succeeded": self.count(TrialStatus.SUCCEEDED),
            "trials_failed": self.count(TrialStatus.FAILED, TrialStatus.METRICS_UNAVAILABLE),
            "trials_early_stopped": self.count(TrialStatus.EARLY_STOPPED),
            "reason": self.reason,
            "results_file": str(self.results_file),
        }
