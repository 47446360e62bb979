"""Run an Experiment document on this machine by delegating to `katib.local`.

The local runner executes the run to completion in `create`; `wait` and `get` read the
`katib-local-results` file it writes (docs/contracts.md §6), so a re-run with the same name
re-attaches to a finished Experiment instead of repeating it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from katib.backends.base import ExperimentBackend, ProgressCallback
from katib.backends.kubernetes.utils import validate_experiment
from katib.backends.local.types import LocalBackendConfig
from katib.backends.types import (
    ExperimentFailedError,
    ExperimentResult,
    ExperimentStatus,
    TrialResult,
)
from katib.local.constants import RESULTS_FILE_NAME
from katib.suggestion.constants import RESULTS_FORMAT, RESULTS_VERSION


def result_from_results_file(doc: dict[str, Any], *, status: ExperimentStatus,
                             reason: str = "", message: str = "") -> ExperimentResult:
    """Convert a `katib-local-results` document into the neutral ExperimentResult."""
    if doc.get("format") != RESULTS_FORMAT or doc.get("version") != RESULTS_VERSION:
        raise ValueError(f"results file has format {doc.get('format')!r} version "
                         f"{doc.get('version')!r}; expected {RESULTS_FORMAT!r} version "
                         f"{RESULTS_VERSION}")
    objective = doc.get("objective") or {}
    trials = [
        TrialResult(name=str(t.get("name", "")),
                    assignments={str(k): str(v) for k, v in (t.get("assignments") or {}).items()},
                    metrics={str(k): str(v) for k, v in (t.get("metrics") or {}).items()},
                    status=str(t.get("status", "")))
        for t in doc.get("trials") or []
    ]
    return ExperimentResult(
        name=str(doc.get("experiment", "")), status=status,
        objective_metric=str(objective.get("metric", "")),
        objective_type=str(objective.get("type", "maximize")),
        trials=trials, reason=reason, message=message, extra={"best": doc.get("best")})


class LocalBackend(ExperimentBackend):
    """Experiments as local subprocess trials driven by our suggestion service (`katib.local`)."""

    def __init__(self, cfg: LocalBackendConfig | None = None) -> None:
        self.cfg = cfg or LocalBackendConfig()
        self.workdir = Path(self.cfg.workdir)
        self._outcome: dict[str, tuple[ExperimentStatus, str, str]] = {}

    def _dir(self, name: str) -> Path:
        return self.workdir / name

    def create(self, experiment: dict[str, Any]) -> str:
        """Run the Experiment to its end; an earlier results file is resumed, not repeated."""
        from katib import local as katib_local

        body = validate_experiment(experiment)
        name = body["metadata"]["name"]
        self._dir(name).mkdir(parents=True, exist_ok=True)
        try:
            outcome = katib_local.run_experiment(
                body, workdir=self._dir(name), env=dict(self.cfg.env), python=self.cfg.python,
                progress=self.cfg.progress)
        except (katib_local.RunnerError, katib_local.TemplateError) as e:
            self._outcome[name] = (ExperimentStatus.FAILED, "ExperimentFailed", str(e))
            return name
        status = ExperimentStatus.SUCCEEDED if outcome.succeeded else ExperimentStatus.FAILED
        self._outcome[name] = (status, outcome.reason, outcome.message)
        return name

    def get(self, name: str) -> ExperimentResult:
        path = self._dir(name) / RESULTS_FILE_NAME
        status, reason, message = self._outcome.get(
            name, (ExperimentStatus.SUCCEEDED if path.is_file() else ExperimentStatus.CREATED,
                   "", ""))
        if not path.is_file():
            return ExperimentResult(name=name, status=status, objective_metric="",
                                    objective_type="maximize", reason=reason, message=message)
        doc = json.loads(path.read_text(encoding="utf-8"))
        return result_from_results_file(doc, status=status, reason=reason, message=message)

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
