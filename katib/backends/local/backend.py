"""Run an Experiment document on this machine with the local engine (`run_experiment`).

The local runner executes the run to completion in `create`; `wait` and `get` read the
`katib-local-results` file it writes (docs/contracts.md §6), so a re-run with the same name
re-attaches to a finished Experiment instead of repeating it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from katib import results_file
from katib.backends.base import ExperimentBackend, ProgressCallback
from katib.backends.local.run import run_experiment, run_paths
from katib.backends.local.suggestion_client import RunnerError
from katib.backends.local.template import TemplateError
from katib.backends.local.types import LocalBackendConfig
from katib.types import (
    ExperimentFailedError,
    ExperimentResult,
    ExperimentStatus,
    Objective,
    ObjectiveType,
    Reason,
)
from katib.validation import parse_experiment, with_defaults


class LocalBackend(ExperimentBackend):
    """Experiments as local subprocess trials driven by our suggestion service (`katib.local`)."""

    def __init__(self, cfg: LocalBackendConfig | None = None) -> None:
        self.cfg = cfg or LocalBackendConfig()
        self.workdir = Path(self.cfg.workdir)
        self._outcome: dict[str, tuple[ExperimentStatus, str, str]] = {}

    def _paths(self, name: str) -> tuple[Path, Path]:
        return run_paths(name, workdir=self.workdir / name)

    def create(self, experiment: dict[str, Any]) -> str:
        """Run the Experiment to its end; an earlier results file is resumed, not repeated.

        The document is validated once (ExperimentError, a ValueError naming every bad field)
        before anything is written."""
        exp = parse_experiment(with_defaults(experiment))
        results, work = self._paths(exp.name)
        work.mkdir(parents=True, exist_ok=True)
        try:
            outcome = run_experiment(exp, results=results, workdir=work, env=dict(self.cfg.env),
                                     python=self.cfg.python, progress=self.cfg.progress)
        except (RunnerError, TemplateError) as e:
            self._outcome[exp.name] = (ExperimentStatus.FAILED, Reason.FAILED.value, str(e))
            return exp.name
        status = ExperimentStatus.SUCCEEDED if outcome.succeeded else ExperimentStatus.FAILED
        self._outcome[exp.name] = (status, outcome.reason, outcome.message)
        return exp.name

    def get(self, name: str) -> ExperimentResult:
        path, _ = self._paths(name)
        status, reason, message = self._outcome.get(
            name, (ExperimentStatus.SUCCEEDED if path.is_file() else ExperimentStatus.CREATED,
                   "", ""))
        if not path.is_file():
            return ExperimentResult(name=name, status=status,
                                    objective=Objective(ObjectiveType.MAXIMIZE, ""),
                                    reason=reason, message=message)
        doc = results_file.parse_document(path.read_text(encoding="utf-8"), where=str(path))
        return results_file.experiment_result(doc, status=status, reason=reason, message=message)

    def wait(
        self, name: str, *, timeout: float, progress: ProgressCallback | None = None
    ) -> ExperimentResult:
        """The finished Experiment (`create` runs it to its end, so `timeout` is not needed)."""
        result = self.get(name)
        if progress is not None:
            progress(result)
        if result.status is ExperimentStatus.FAILED:
            raise ExperimentFailedError(name, result.reason, result.message)
        if not result.status.finished:
            raise RuntimeError(f"local Experiment {name} has not run in {self.workdir}; "
                               "call create (or run) first")
        return result
