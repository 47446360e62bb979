"""Run a Katib v1beta1 Experiment on this machine: same YAML, same semantics, no cluster.

`python -m katib.local run experiment.yaml` (the CLI, `__main__.py`) and
`from katib.local import run_experiment` are the public entry points; the engine lives with its
backend in `katib.backends.local` (runner, trial processes, collector, results file, ...).
"""

from __future__ import annotations

from katib.backends.local.results import ResultsError, TrialRecord
from katib.backends.local.run import run_experiment
from katib.backends.local.suggestion_client import RunnerError
from katib.backends.local.template import TemplateError
from katib.backends.local.types import LocalRunOutcome
from katib.types import Reason, TrialStatus
from katib.validation import Experiment, ExperimentError, load_experiment

__all__ = [
    "Experiment",
    "ExperimentError",
    "LocalRunOutcome",
    "Reason",
    "ResultsError",
    "RunnerError",
    "TemplateError",
    "TrialRecord",
    "TrialStatus",
    "load_experiment",
    "run_experiment",
]
