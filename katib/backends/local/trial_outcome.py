"""How a finished trial process becomes a Katib trial condition: a pure function.

Katib's trial controller decides the same from the job's condition and the collected metrics
(pkg/controller.v1beta1/trial/trial_controller_util.go UpdateTrialStatusCondition): a stopped
trial keeps the condition the runner gave it (EarlyStopped / Killed), a failed job is Failed, a
job that never reported its objective (or reported a non-number) is MetricsUnavailable, and
only a clean exit with a numeric objective is Succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from katib.backends.local.process import exit_text
from katib.suggestion.metrics import parse_metric
from katib.types import TrialStatus


@dataclass(frozen=True)
class TrialExit:
    """What the runner knows when a trial process has ended."""

    returncode: int
    objective_metric: str
    observed: Mapping[str, str]  # metric -> value picked by its strategy (collector)
    reported: bool  # the objective metric was printed at least once
    stop: TrialStatus | None = None  # EARLY_STOPPED or KILLED when the runner ended it
    stop_message: str = ""
    tail: Sequence[str] = ()  # last lines of output
    log_path: str = ""


def classify_trial(ended: TrialExit) -> tuple[TrialStatus, str]:
    """(condition, message) of a trial whose process has ended."""
    obj = ended.objective_metric
    if ended.stop is not None:
        return ended.stop, ended.stop_message
    if ended.returncode != 0:
        return (TrialStatus.FAILED,
                f"{exit_text(ended.returncode)}; last output:\n" + "\n".join(ended.tail))
    if not ended.reported:
        return (TrialStatus.METRICS_UNAVAILABLE,
                f"objective metric {obj!r} was never printed; print lines such as "
                f"'{obj}=0.97' (or fix spec.metricsCollectorSpec.source.filter.metricsFormat); "
                f"see {ended.log_path}")
    if parse_metric(ended.observed.get(obj, "")) is None:
        return (TrialStatus.METRICS_UNAVAILABLE,
                f"objective metric {obj!r} is not a number: {ended.observed.get(obj)!r}")
    return TrialStatus.SUCCEEDED, ""


def recorded_metrics(ended: TrialExit, status: TrialStatus) -> dict[str, str]:
    """The metrics kept for the trial: all observed ones, except for a stopped or failed trial
    that never reported its objective (Katib records no observation for it)."""
    if ended.reported or status is TrialStatus.METRICS_UNAVAILABLE:
        return dict(ended.observed)
    return {}
