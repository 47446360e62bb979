"""The `nac` trial schedule under Katib's controller: names, labels, budget, the stop marker.

Shared by the `nac` suggestion (which emits the trials), katib/experiments.py (which sizes
maxTrialCount), the pipeline's katib backend (which reads the constructed network back) and
the trial CLI (which fails a stop trial fast). Standard library only.

Why the budget formula (docs/katib.md "Budget"): Katib v0.19.0's experiment controller
(pkg/controller.v1beta1/experiment/experiment_controller.go, ReconcileTrials) asks for a new
trial for every free slot, up to parallelTrialCount, as soon as one frees up. While iteration i
waits for its last replicas, every freed slot must get *some* trial, and the only one that can
be useful is another replica of iteration i. Iteration i is complete when `replicas` of its
trials have succeeded; by then at most `replicas - 1` of its trials have finished and at most
`parallel` are in flight, so it costs at most `replicas + parallel - 1` trials. The constructed
network (iteration `iterations`) therefore gets its first trial within
`iterations * (replicas + parallel - 1) + 1` trials, whatever the trial durations, when no trial
fails; each failed or MetricsUnavailable trial costs one more.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from typing import Any

from katib.constants import MAX_TRIAL_NAME as MAX_NAME

#: Label on every `nac` trial (and, through Katib, its pods): the construction iteration.
ITERATION_LABEL = "nac.kubeflow.org/iteration"
#: Label on trials of the constructed network (iteration == `iterations`): select them with
#: `kubectl get trials -l nac.kubeflow.org/constructed=true`. Katib's own "best trial" is the
#: highest accuracy over all trials, which is usually not the constructed network.
CONSTRUCTED_LABEL = "nac.kubeflow.org/constructed"
#: Label on stop trials (see STOP_PREFIX).
STOPPED_LABEL = "nac.kubeflow.org/stopped"
#: `architecture` value of a stop trial: the suggestion cannot continue (e.g. statistics that
#: cannot drive restructuring). Katib v0.19.0 has no way for a suggestion service to end an
#: Experiment: GetSuggestions errors are retried forever and the controller's
#: ExperimentSuggestionEndReached branch is never reached (status_util.go
#: UpdateExperimentStatusCondition is only called with getSuggestionDone=false). So the service
#: emits trials that fail at once with the reason; maxFailedTrialCount (or maxTrialCount) then
#: ends the Experiment.
STOP_PREFIX = "nac-stop:"
_INDEX = re.compile(r"-t(\d+)$")


def _name(experiment: str, suffix: str) -> str:
    if len(experiment) + len(suffix) <= MAX_NAME:
        return experiment + suffix
    digest = hashlib.sha256(experiment.encode()).hexdigest()[:6]
    head = experiment[: MAX_NAME - len(suffix) - 7].rstrip("-")
    return f"{head}-{digest}{suffix}"


def trial_name(experiment: str, iteration: int, index: int) -> str:
    """``<experiment>-i<iteration>-t<index>`` (hash-shortened to <= 63 chars).

    `index` is the trial's position among all assignments of the Experiment
    (total_request_number - current_request_number + k), which Katib counts for every trial,
    including the MetricsUnavailable and EarlyStopped ones it leaves out of request.trials, so a
    name is never suggested twice.
    """
    return _name(experiment, f"-i{iteration}-t{index}")


def stop_trial_name(experiment: str, index: int) -> str:
    return _name(experiment, f"-stop-t{index}")


def trial_index(name: str) -> int | None:
    """The index a `trial_name` / `stop_trial_name` carries, or None for other names."""
    match = _INDEX.search(name)
    return int(match.group(1)) if match else None


def trials_before_constructed(iterations: int, replicas: int, parallel: int) -> int:
    """Most trials Katib's controller creates before the constructed network's first trial."""
    return iterations * (replicas + max(1, parallel) - 1)


def min_max_trial_count(iterations: int, replicas: int, parallel: int,
                        constructed: int = 1) -> int:
    """The maxTrialCount that trains the constructed network `constructed` times (no failures)."""
    return trials_before_constructed(iterations, replicas, parallel) + constructed


def stop_value(reason: str) -> str:
    """The `architecture` assignment of a stop trial: shell-safe (base64url) for the template."""
    return STOP_PREFIX + base64.urlsafe_b64encode(reason.encode()).decode().rstrip("=")


def stop_reason(value: str | None) -> str | None:
    """The reason a stop-trial assignment carries, or None for an ordinary architecture."""
    if not value or not value.startswith(STOP_PREFIX):
        return None
    raw = value[len(STOP_PREFIX):]
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (binascii.Error, ValueError):
        return raw


def constructed_architecture(trials: Iterable[Any], iterations: int) -> str:
    """The constructed network's `architecture` from a finished `nac` Experiment's trials.

    `trials` are objects with an `assignments` mapping (katib.backends TrialResult, Katib
    Trials). Katib's own best trial is the highest accuracy over every iteration, so readers
    take iteration `iterations` instead. Raises LookupError naming the cause: the Experiment
    stopped (a stop trial's reason) or ended before reaching the constructed network.
    """
    reached = -1
    for t in trials:
        arch = t.assignments.get("architecture", "")
        reason = stop_reason(arch)
        if reason is not None:
            raise LookupError(f"the nac suggestion stopped the Experiment: {reason}")
        try:
            iteration = int(t.assignments.get("iteration", ""))
        except ValueError:
            continue
        if iteration == iterations and arch:
            return arch
        reached = max(reached, iteration)
    raise LookupError(
        f"the Experiment ended before the constructed network (iteration {iterations}) had a "
        f"trial; the highest iteration reached is {reached}. Raise maxTrialCount (see "
        "docs/katib.md, Budget) or maxFailedTrialCount if trials failed")
