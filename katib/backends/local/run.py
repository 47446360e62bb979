"""`run_experiment`: run a Katib v1beta1 Experiment on this machine, the same YAML and semantics.

The runner starts our suggestion service on a free loopback port (real gRPC), asks it for
assignments the way Katib's controllers do, runs each trial's primary container command as a
subprocess, collects metrics with Katib's StdOut collector rules and writes a results file
(docs/contracts.md §6) after every trial, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from katib.backends.local.runner import LocalRunner
from katib.backends.local.types import LocalRunOutcome, RunConfig
from katib.constants import LOCAL_RESULTS_ROOT, RESULTS_FILE_NAME
from katib.validation import Experiment, ExperimentError, load_experiment


def run_paths(name: str, *, results: str | os.PathLike[str] | None = None,
              workdir: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
    """(results file, trial work directory) of Experiment `name`: the one defaulting rule.

    Neither given: `katib-local/<name>/results.json` and its directory. Only `workdir`:
    `<workdir>/results.json`. Only `results`: the trials go to `<results stem>.trials/` beside
    it, out of its way. Both: as given.
    """
    if results is None:
        work = Path(workdir) if workdir is not None else Path(LOCAL_RESULTS_ROOT) / name
        return work / RESULTS_FILE_NAME, work
    results_path = Path(results)
    if workdir is not None:
        return results_path, Path(workdir)
    return results_path, results_path.parent / f"{results_path.stem}.trials"


def run_experiment(
    experiment: str | os.PathLike[str] | Mapping[str, Any] | Experiment,
    *,
    results: str | os.PathLike[str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
    parallel: int | None = None,
    max_trials: int | None = None,
    env: Mapping[str, str] | None = None,
    python: str | None = None,
    progress: bool = True,
    cores: int | None = None,
) -> LocalRunOutcome:
    """Run an Experiment locally until Katib would mark it finished.

    Args:
        experiment: Path to an Experiment YAML, the Experiment as a dict, or a parsed Experiment.
        results: Results file (JSON, contracts.md §6). An existing file for the same
            Experiment is resumed: its completed trials are not re-run. Default:
            `<workdir>/results.json`.
        workdir: Where each trial gets its own directory (its cwd and `trial.log`). Default:
            `<results stem>.trials/` beside a given results file, else
            `katib-local/<experiment name>/` (see `run_paths`).
        parallel: Overrides `spec.parallelTrialCount`.
        max_trials: Overrides `spec.maxTrialCount`.
        env: Extra environment for every trial (the container's own env still wins).
        python: Interpreter replacing a leading `python`/`python3` in trial commands
            (default: this interpreter).
        progress: Show live progress on stderr.
        cores: CPU cores to share among parallel trials (default: those this process may use).

    Returns:
        LocalRunOutcome with Katib's reason (`ExperimentGoalReached`,
        `ExperimentMaxTrialsReached`, `ExperimentFailed`, ...), the trials and the best one.

    Raises:
        ExperimentError: the Experiment is invalid (the message names every bad field), also
            when the suggestion service rejects its algorithm settings (INVALID_ARGUMENT).
        ResultsError: the results file belongs to another experiment or is unreadable.
        TemplateError: a trial cannot be rendered into a local command.
        RunnerError: the suggestion service failed.

    Example:
        >>> result = run_experiment("examples/grid-digits.yaml", parallel=2)  # doctest: +SKIP
        >>> result.best.assignments  # doctest: +SKIP
    """
    exp = experiment if isinstance(experiment, Experiment) else load_experiment(experiment)
    results_path, work = run_paths(exp.name, results=results, workdir=workdir)
    if parallel is not None and parallel < 1:
        raise ExperimentError([f"parallel: must be at least 1, got {parallel}"])
    if max_trials is not None and max_trials < 1:
        raise ExperimentError([f"max_trials: must be at least 1, got {max_trials}"])
    config = RunConfig(results=results_path, workdir=work, parallel=parallel,
                       max_trials=max_trials, env=dict(env or {}), python=python,
                       progress=progress, cores=cores)
    return LocalRunner(exp, config).run()
