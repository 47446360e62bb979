"""Katib's controller loop over known learning curves, against the real gRPC services.

For the conformance tests and the benchmarks: trials do not run, they replay a curve (one value
per report) supplied by the caller, while everything else is what a cluster does
(``suggestionclient.go:SyncAssignments``, the metrics collector's ``watchMetricsFile``):
``GetSuggestions`` with the whole history, then ``GetEarlyStoppingRules`` with the same
history and a DB manager address, rules attached to that batch's trials, the sidecar's rule
semantics (:class:`~katib.earlystopping.rules.RuleWatcher`), ``SetTrialStatus`` for stopped
trials, one value per metric in the history picked by the objective's strategy (max when
maximizing, min when minimizing). Running trials advance one report per tick in lockstep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

from katib.api import api_pb2 as pb
from katib.api import api_pb2_grpc

from . import dbmanager
from .rules import GREATER, LESS, RuleWatcher, StopRule

_COMPARISON = {pb.LESS: LESS, pb.GREATER: GREATER, pb.EQUAL: "equal"}
_TIMEOUT = 60.0


@dataclass
class SimTrial:
    name: str
    assignments: dict[str, str]
    curve: Sequence[float]
    watcher: RuleWatcher
    rules: list[StopRule]
    reported: list[float] = field(default_factory=list)
    condition: int = pb.TrialStatus.RUNNING
    proto: Any = None  # built once the trial finished (its history entry no longer changes)


@dataclass
class ReplayResult:
    epochs: int
    #: (cumulative reports, best objective so far) after each completed trial
    trace: list[tuple[int, float]]
    trials: list[SimTrial]
    calls: dict[str, int]


class Replay:
    """Use as a context manager; ``run`` replays one experiment."""

    def __init__(self, experiment: Any, curve: Callable[[dict[str, str]], Sequence[float]],
                 *, parallel: int = 1) -> None:
        self.exp = experiment
        self.curve = curve
        self.parallel = parallel
        self.maximize = experiment.spec.objective.type != pb.MINIMIZE
        self.metric = experiment.spec.objective.objective_metric_name
        self.early = bool(experiment.spec.early_stopping.algorithm_name)

    def __enter__(self) -> Replay:
        from katib.earlystopping.server import serve as serve_es
        from katib.suggestion import serve

        self._servers = []
        server, port = serve(port=0, host="127.0.0.1")
        self._servers.append(server)
        self._channels = [grpc.insecure_channel(f"127.0.0.1:{port}")]
        self.suggestion = api_pb2_grpc.SuggestionStub(self._channels[0])
        if self.early:
            self.store = dbmanager.ObservationStore()
            db_server, self.db_address = dbmanager.start(self.store)
            es_server, es_port, self.es_servicer = serve_es(0, "127.0.0.1",
                                                            status=lambda _t: None)
            self._servers += [db_server, es_server]
            self._channels.append(grpc.insecure_channel(f"127.0.0.1:{es_port}"))
            self.stopping = api_pb2_grpc.EarlyStoppingStub(self._channels[1])
        return self

    def __exit__(self, *exc: object) -> None:
        for ch in self._channels:
            ch.close()
        for s in self._servers:
            s.stop(0.5).wait(2.0)

    def validate(self) -> None:
        """Katib validates once before the first trial; raises grpc.RpcError on refusal."""
        self.suggestion.ValidateAlgorithmSettings(
            pb.ValidateAlgorithmSettingsRequest(experiment=self.exp), timeout=_TIMEOUT,
            wait_for_ready=True)
        if self.early:
            self.stopping.ValidateEarlyStoppingSettings(
                pb.ValidateEarlyStoppingSettingsRequest(
                    early_stopping=self.exp.spec.early_stopping),
                timeout=_TIMEOUT, wait_for_ready=True)

    def run(self, max_trials: int, *, budget: int | None = None,
            target: float | None = None) -> ReplayResult:
        """Until ``max_trials`` completed, ``budget`` reports spent, or ``target`` reached."""
        trials: list[SimTrial] = []
        running: list[SimTrial] = []
        epochs, requested = 0, 0
        best: float | None = None
        trace: list[tuple[int, float]] = []
        calls = {"GetSuggestions": 0, "GetEarlyStoppingRules": 0, "SetTrialStatus": 0}

        def done() -> bool:
            completed = len(trials) - len(running)
            if completed >= max_trials or (budget is not None and epochs >= budget):
                return True
            return target is not None and best is not None and (
                best >= target if self.maximize else best <= target)

        while not done():
            free = min(self.parallel - len(running), max_trials - len(trials))
            if free > 0:
                history = [self._proto(t) for t in trials]
                reply = self.suggestion.GetSuggestions(pb.GetSuggestionsRequest(
                    experiment=self.exp, trials=history, current_request_number=free,
                    total_request_number=requested + free), timeout=_TIMEOUT)
                calls["GetSuggestions"] += 1
                requested += free
                rules: list[StopRule] = []
                if self.early:
                    es = self.stopping.GetEarlyStoppingRules(pb.GetEarlyStoppingRulesRequest(
                        experiment=self.exp, trials=history, db_manager_address=self.db_address),
                        timeout=_TIMEOUT)
                    calls["GetEarlyStoppingRules"] += 1
                    rules = [StopRule(r.name, float(r.value), _COMPARISON[r.comparison],
                                      r.start_step) for r in es.early_stopping_rules]
                for pa in reply.parameter_assignments:
                    values = {a.name: a.value for a in pa.assignments}
                    name = pa.trial_name or f"{self.exp.name}-{len(trials) + 1:05d}"
                    t = SimTrial(name, values, list(self.curve(values)),
                                 RuleWatcher(rules, self.metric, self.maximize), rules)
                    trials.append(t)
                    running.append(t)
            if not running:
                break
            for t in list(running):
                value = t.curve[len(t.reported)]
                t.reported.append(value)
                epochs += 1
                if self.early:
                    self.store.record(t.name, t.reported)
                stopped = t.watcher.feed(self.metric, value)
                if stopped:
                    t.condition = pb.TrialStatus.EARLYSTOPPED
                    self.stopping.SetTrialStatus(pb.SetTrialStatusRequest(trial_name=t.name),
                                                 timeout=_TIMEOUT)
                    calls["SetTrialStatus"] += 1
                elif len(t.reported) >= len(t.curve):
                    t.condition = pb.TrialStatus.SUCCEEDED
                else:
                    continue
                running.remove(t)
                observed = self._observed(t)
                if best is None or (observed > best if self.maximize else observed < best):
                    best = observed
                trace.append((epochs, best))
        return ReplayResult(epochs, trace, trials, calls)

    def _observed(self, t: SimTrial) -> float:
        return max(t.reported) if self.maximize else min(t.reported)

    def _proto(self, t: SimTrial) -> Any:
        if t.proto is not None:
            return t.proto
        trial = pb.Trial(name=t.name)
        trial.spec.objective.CopyFrom(self.exp.spec.objective)
        for k, v in t.assignments.items():
            trial.spec.parameter_assignments.assignments.add(name=k, value=v)
        trial.status.condition = t.condition
        if t.condition != pb.TrialStatus.RUNNING:
            trial.status.observation.metrics.add(name=self.metric, value=repr(self._observed(t)))
            t.proto = trial
        return trial
