"""Neutral view of ``request.trials``: condition, assignments and parsed metrics.

Katib v0.19.0 sends the experiment's trials in their latest condition, except MetricsUnavailable
trials and EarlyStopped ones without an observation (suggestionclient.go ConvertTrials; its
total_request_number still counts them), metrics as strings picked by the metric strategy,
possibly ``"unavailable"`` or non-numeric. Algorithms use
:meth:`TrialView.objective` / :meth:`TrialView.metric_text`, never the proto.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from katib.api import api_pb2
from katib.types import TrialStatus

from .metrics import parse_metric

_TS = api_pb2.TrialStatus


def status_to_proto(status: TrialStatus) -> int:
    """The proto TrialConditionType of a TrialStatus: the same name without underscores."""
    return _TS.TrialConditionType.Value(status.name.replace("_", ""))


_FROM_PROTO = {status_to_proto(s): s for s in TrialStatus}


def status_from_proto(condition: int) -> TrialStatus:
    """The TrialStatus of a proto TrialConditionType (Unknown for a value this stub lacks)."""
    return _FROM_PROTO.get(condition, TrialStatus.UNKNOWN)


@dataclass(frozen=True)
class TrialView:
    name: str
    condition: TrialStatus
    assignments: dict[str, str]
    metrics: dict[str, str]
    completion_time: str = ""

    def metric_text(self, name: str) -> str | None:
        return self.metrics.get(name)

    def objective(self, metric: str) -> float | None:
        """The numeric objective of a trial whose result counts (Succeeded or EarlyStopped)."""
        if not self.condition.has_result:
            return None
        return parse_metric(self.metrics.get(metric))


def trial_from_proto(trial: api_pb2.Trial) -> TrialView:
    return TrialView(
        name=trial.name,
        condition=status_from_proto(trial.status.condition),
        assignments={a.name: a.value for a in trial.spec.parameter_assignments.assignments},
        metrics={m.name: m.value for m in trial.status.observation.metrics},
        completion_time=trial.status.completion_time,
    )


def trials_from_proto(
    trials: Iterable[api_pb2.Trial], cache: dict[str, TrialView] | None = None
) -> list[TrialView]:
    """Views of every trial. With ``cache`` (name -> view, owned by the caller per experiment),
    a finished trial whose condition and completion time are unchanged reuses its view: a
    finished trial's assignments and metrics are final, and converting 1000 trials per call
    would otherwise dominate a call."""
    if cache is None:
        return [trial_from_proto(t) for t in trials]
    out = []
    for t in trials:
        status = t.status
        view = cache.get(t.name)
        if (
            view is None
            or not view.condition.completed
            or status_from_proto(status.condition) is not view.condition
            or status.completion_time != view.completion_time
        ):
            view = trial_from_proto(t)
            cache[t.name] = view
        out.append(view)
    return out
