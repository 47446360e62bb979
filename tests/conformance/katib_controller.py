"""Katib v0.19.0's experiment and suggestion controllers, replayed over REAL gRPC.

A suggestion service is only right if it is right under the controller that calls it. This
driver runs one Experiment document (a CR dict, as shipped) against a suggestion service on
127.0.0.1 the way Katib's controllers would, with fake-but-deterministic trial results (no
training, no cluster). Each rule is taken from the upstream source at the KATIB pin:

- defaults: parallelTrialCount 3; objective strategy max/min by type, additional metrics too
  (KATIB.cite("pkg/apis/controller/experiments/v1beta1/experiment_defaults.go", "SetDefault"));
- the request: Experiment as ConvertExperiment builds it, settings Katib stored from earlier
  replies' `algorithm` appended/overwritten, trials as ConvertTrials filters them (no
  MetricsUnavailable trial, no EarlyStopped trial without an observation; the latest condition;
  metric value by strategy), current_request_number = Requests - SuggestionCount,
  total_request_number = Requests, a reply of any other length an error
  (suggestionclient.go SyncAssignments, ConvertExperiment, ConvertTrials,
  convertTrialObservation; algorithm_settings.go appendAlgorithmSettingsFromSuggestion,
  updateAlgorithmSettings);
- slots: whenever pending + running < parallelTrialCount, min(parallel, maxTrialCount -
  completed) - active new trials, where completed excludes MetricsUnavailable; Requests =
  trials + addCount - EarlyStopped-without-observation; stored suggestions whose name is already
  a trial are never created (AlreadyExists), so such a phantom costs its slot
  (experiment_controller.go ReconcileTrials, ReconcileSuggestions, createTrials);
- the end: goal, then failed + MetricsUnavailable >= maxFailedTrialCount, then completed (with
  MetricsUnavailable) >= maxTrialCount (experiment/util/status_util.go
  UpdateExperimentStatusCondition; its suggestion-end branch is unreachable at v0.19.0);
  a GetSuggestions error is retried forever, so the driver reports "hung";
- validation: INVALID_ARGUMENT or UNKNOWN fails the Experiment, any other code is "validated"
  (suggestionclient.go ValidateAlgorithmSettings).

On top of Katib's own behaviour the driver can restart the server mid-experiment and repeat
every call (Katib re-sends a request after a failed status update) and checks the two replies
are identical. Reusable: `server` is any `ServiceProcess`-like factory, `results` any function
of a trial, and `early_stopping` an optional second service called like SyncAssignments does.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from katib.api import api_pb2, api_pb2_grpc
from katib.suggestion.metrics import parse_metric
from tests.conformance.katib_convert import experiment_proto, parallel_of, strategies_of
from tests.conformance.pins import KATIB

CITES = (
    KATIB.cite("pkg/controller.v1beta1/experiment/experiment_controller.go", "ReconcileTrials"),
    KATIB.cite("pkg/controller.v1beta1/suggestion/suggestionclient/suggestionclient.go",
               "ConvertTrials"),
    KATIB.cite("pkg/controller.v1beta1/experiment/util/status_util.go",
               "UpdateExperimentStatusCondition"),
)
UNAVAILABLE = "unavailable"  # consts.UnavailableMetricValue
_TS = api_pb2.TrialStatus
_CONDITIONS = {"Created": _TS.CREATED, "Running": _TS.RUNNING, "Succeeded": _TS.SUCCEEDED,
               "Killed": _TS.KILLED, "Failed": _TS.FAILED, "EarlyStopped": _TS.EARLYSTOPPED}
_FINISHED = ("Succeeded", "Failed", "Killed", "EarlyStopped", "MetricsUnavailable")


@dataclass(frozen=True)
class Outcome:
    """How a fake trial ends: its condition, final metric values and duration (seconds)."""

    condition: str
    metrics: dict[str, str]
    duration: float


@dataclass
class Trial:
    name: str
    assignments: dict[str, str]
    labels: dict[str, str]
    created: float
    order: int
    condition: str = "Running"
    completed: float | None = None
    finish_at: float = 0.0
    metrics: dict[str, str] = field(default_factory=dict)
    outcome: Outcome | None = None
    early_stopping_rules: list[Any] = field(default_factory=list)


@dataclass
class Run:
    """What happened, for assertions and the report table."""

    experiment: str
    algorithm: str
    parallel: int
    max_trials: int | None
    trials: list[Trial] = field(default_factory=list)
    phantoms: list[str] = field(default_factory=list)  # stored names Katib never created
    calls: int = 0
    restarts: int = 0
    repeat_mismatches: int = 0
    errors: list[str] = field(default_factory=list)
    stored_settings: dict[str, str] = field(default_factory=dict)
    validation: str = "OK"
    end: str = ""  # Katib's reason: ExperimentMaxTrialsReached, ..., or "hung: ..."

    @property
    def duplicates(self) -> int:
        return len(self.phantoms)

    def by_condition(self) -> Counter[str]:
        return Counter(t.condition for t in self.trials)


class InProcessServer:
    """Our suggestion service (katib.suggestion.serve) on 127.0.0.1:<free port>."""

    def __init__(self) -> None:
        self._server: Any = None

    def start(self) -> str:
        from katib.suggestion import serve

        self._server, port = serve(0, "127.0.0.1")
        return f"127.0.0.1:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(0).wait(5)
            self._server = None


def _observation_value(strategy: str, latest: str) -> str:
    """convertTrialObservation for one reported value (min = max = latest when numeric)."""
    if strategy in ("min", "max") and parse_metric(latest) is None:
        return latest  # Min/Max are "unavailable": Katib falls back to Latest
    return latest


class KatibController:
    """Drive `doc` to its end under Katib v0.19.0's controller semantics (module docstring)."""

    def __init__(self, doc: dict[str, Any], results: Callable[[Trial], Outcome], *,
                 server: Any | None = None, restart_after_calls: tuple[int, ...] = (),
                 repeat_calls: bool = True, early_stopping: Any | None = None,
                 max_rounds: int = 5000) -> None:
        self.doc = doc
        self.results = results
        self.server = server or InProcessServer()
        self.restart_after = set(restart_after_calls)
        self.repeat = repeat_calls
        self.early_stopping = early_stopping
        self.max_rounds = max_rounds
        self.strategies = strategies_of(doc)
        self.objective = doc["spec"]["objective"]
        spec = doc["spec"]
        self.run_ = Run(doc["metadata"]["name"], spec["algorithm"]["algorithmName"],
                        parallel_of(doc), spec.get("maxTrialCount"))
        self.suggestions: list[dict[str, Any]] = []  # Suggestion.Status.Suggestions
        self.requests = 0  # Suggestion.Spec.Requests
        self.clock = 0.0
        self._names = random.Random(0)  # utilrand.String(8) for nameless assignments

    # ---- gRPC ---------------------------------------------------------------------------
    def _connect(self) -> None:
        self.channel = grpc.insecure_channel(self.server.start())
        self.stub = api_pb2_grpc.SuggestionStub(self.channel)

    def _close(self) -> None:
        self.channel.close()
        self.server.stop()

    def run(self) -> Run:
        self._connect()
        try:
            self._validate()
            if self.run_.validation == "OK":
                self._loop()
        finally:
            self._close()
        return self.run_

    def _validate(self) -> None:
        try:
            self.stub.ValidateAlgorithmSettings(api_pb2.ValidateAlgorithmSettingsRequest(
                experiment=experiment_proto(self.doc)), timeout=60)
        except grpc.RpcError as e:
            if e.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNKNOWN):
                self.run_.validation = f"Failed: {e.details()}"
                self.run_.end = "ExperimentFailed: Suggestion has failed"
            # any other code: Katib logs "validated" and goes on

    # ---- controller loop ----------------------------------------------------------------
    def _loop(self) -> None:
        for _ in range(self.max_rounds):
            end = self._end_condition()
            if end:
                self.run_.end = end
                return
            created = self._reconcile_trials()
            running = [t for t in self.run_.trials if t.condition == "Running"]
            if not running:
                if not created:
                    self.run_.end = ("hung: no trial running and none created (the Experiment "
                                     "stays Running)")
                    return
                continue
            self.clock = min(t.finish_at for t in running)
            for t in running:
                if t.finish_at <= self.clock:
                    self._finish(t)
        self.run_.end = "hung: round limit"

    def _counts(self) -> Counter[str]:
        return self.run_.by_condition()

    def _end_condition(self) -> str:
        c = self._counts()
        spec = self.doc["spec"]
        goal = self.objective.get("goal")
        if goal is not None:
            values = [parse_metric(t.metrics.get(self.objective["objectiveMetricName"]))
                      for t in self.run_.trials if t.condition in _FINISHED]
            values = [v for v in values if v is not None]
            maximize = self.objective["type"] == "maximize"
            if values and ((max(values) >= goal) if maximize else (min(values) <= goal)):
                return "ExperimentGoalReached"
        failed = c["Failed"] + c["MetricsUnavailable"]
        limit = spec.get("maxFailedTrialCount")
        if limit is not None and failed and failed >= limit:
            return "ExperimentFailed: max failed count has reached"
        completed = sum(c[k] for k in _FINISHED)
        if spec.get("maxTrialCount") is not None and completed >= spec["maxTrialCount"]:
            return "ExperimentMaxTrialsReached"
        return ""

    def _reconcile_trials(self) -> int:
        c = self._counts()
        parallel = self.run_.parallel
        active = c["Running"] + c["Created"]
        completed = c["Succeeded"] + c["Failed"] + c["Killed"] + c["EarlyStopped"]
        if active >= parallel:
            return 0
        required = parallel
        if self.run_.max_trials is not None:
            required = min(parallel, self.run_.max_trials - completed)
        add = max(0, required - active)
        if add == 0:
            return 0
        incomplete_es = sum(1 for t in self.run_.trials
                            if t.condition == "EarlyStopped" and not self._observed(t))
        self.requests = len(self.run_.trials) + add - incomplete_es
        self._sync_assignments()
        names = {t.name for t in self.run_.trials}
        created = 0
        if len(self.suggestions) > len(self.run_.trials):
            for s in self.suggestions:
                if s["name"] in names:
                    continue
                names.add(s["name"])
                self._create(s)
                created += 1
        return created

    def _sync_assignments(self) -> None:
        current = self.requests - len(self.suggestions)
        if current <= 0:
            return
        if self.run_.calls in self.restart_after:
            self._close()
            self._connect()
            self.run_.restarts += 1
        request = api_pb2.GetSuggestionsRequest(
            experiment=experiment_proto(self.doc, self.run_.stored_settings),
            trials=self._convert_trials(), current_request_number=current,
            total_request_number=self.requests)
        self.run_.calls += 1
        try:
            reply = self.stub.GetSuggestions(request, timeout=60)
            if self.repeat and self.stub.GetSuggestions(request, timeout=60) != reply:
                self.run_.repeat_mismatches += 1
        except grpc.RpcError as e:
            self.run_.errors.append(f"{e.code().name}: {e.details()}")
            return  # Katib requeues the Suggestion and retries later
        if len(reply.parameter_assignments) != current:
            self.run_.errors.append("The response contains unexpected trials")
            return
        rules = self._early_stopping_rules()
        names_so_far = {s["name"] for s in self.suggestions} | {t.name for t in self.run_.trials}
        for pa in reply.parameter_assignments:
            name = pa.trial_name or f"{self.run_.experiment}-" + "".join(
                self._names.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(8))
            if name in names_so_far:
                self.run_.phantoms.append(name)  # stored, never created: AlreadyExists
            names_so_far.add(name)
            self.suggestions.append({"name": name, "labels": dict(pa.labels), "rules": rules,
                                     "assignments": {a.name: a.value for a in pa.assignments}})
        for s in reply.algorithm.algorithm_settings:  # updateAlgorithmSettings
            self.run_.stored_settings[s.name] = s.value

    def _early_stopping_rules(self) -> list[Any]:
        if self.early_stopping is None:
            return []
        request = api_pb2.GetEarlyStoppingRulesRequest(
            experiment=experiment_proto(self.doc, self.run_.stored_settings),
            trials=self._convert_trials())
        return list(self.early_stopping(request))

    # ---- trials -------------------------------------------------------------------------
    def _observed(self, t: Trial) -> bool:
        """IsObservationAvailable: the objective's latest value is not "unavailable"."""
        value = t.metrics.get(self.objective["objectiveMetricName"])
        return value is not None and value != UNAVAILABLE

    def _convert_trials(self) -> list[api_pb2.Trial]:
        out = []
        obj = experiment_proto(self.doc).spec.objective
        for t in self.run_.trials:
            if t.condition == "MetricsUnavailable":
                continue
            if t.condition == "EarlyStopped" and not self._observed(t):
                continue
            p = api_pb2.Trial(name=t.name)
            p.spec.objective.CopyFrom(obj)
            for k, v in t.assignments.items():
                p.spec.parameter_assignments.assignments.add(name=k, value=v)
            p.spec.labels.update(t.labels)
            p.status.condition = _CONDITIONS.get(t.condition, _TS.UNKNOWN)
            p.status.start_time = _time(t.created)
            p.status.completion_time = "" if t.completed is None else _time(t.completed)
            for k, v in t.metrics.items():
                p.status.observation.metrics.add(
                    name=k, value=_observation_value(self.strategies.get(k, ""), v))
            out.append(p)
        return out

    def _create(self, s: dict[str, Any]) -> None:
        t = Trial(s["name"], s["assignments"], s["labels"], created=self.clock,
                  order=len(self.run_.trials), early_stopping_rules=s["rules"])
        t.outcome = self.results(t)
        t.finish_at = self.clock + t.outcome.duration
        self.run_.trials.append(t)

    def _finish(self, t: Trial) -> None:
        assert t.outcome is not None
        t.condition = t.outcome.condition
        t.metrics = dict(t.outcome.metrics)
        t.completed = self.clock


def _time(seconds: float) -> str:
    """Katib's timeFormat "2006-01-02T15:04:05Z" for simulated seconds."""
    s = int(seconds)
    return (f"2026-01-{1 + s // 86400:02d}T{(s // 3600) % 24:02d}:{(s // 60) % 60:02d}:"
            f"{s % 60:02d}Z")
