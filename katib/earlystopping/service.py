"""gRPC adapter for ``api.v1.beta1.EarlyStopping``: validation, rules, trial status.

What Katib's controller does with it (``suggestionclient.go``, v0.19.0): once it validates the
settings (``ValidateEarlyStoppingSettings``: INVALID_ARGUMENT or UNKNOWN fail the Experiment), then
after every ``GetSuggestions`` it calls ``GetEarlyStoppingRules{experiment, trials,
db_manager_address}`` and copies the rules onto the new Trials; the metrics collector calls
``SetTrialStatus{trial_name}`` after it stopped a trial. Like Katib's medianstop we read each
trial's reported values from the DB manager (``GetObservationLog``); finished trials are
cached, running ones re-read. Bad settings are INVALID_ARGUMENT with the setting named; any
other failure is INTERNAL (or UNAVAILABLE when the DB manager cannot be reached), never UNKNOWN.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import grpc

from katib.api import api_pb2, api_pb2_grpc
from katib.suggestion._lru import LRU
from katib.suggestion.errors import SuggestionInputError
from katib.suggestion.metrics import parse_metric

from . import asha, medianstop
from .rules import GREATER, LESS

log = logging.getLogger("katib.earlystopping")
ALGORITHMS = (asha.ALGORITHM, medianstop.ALGORITHM)
_DB_TIMEOUT = 30.0
_CACHE = 10_000  # finished trials' logs kept (one list of floats each)
_FINISHED = {api_pb2.TrialStatus.SUCCEEDED, api_pb2.TrialStatus.EARLYSTOPPED,
             api_pb2.TrialStatus.FAILED, api_pb2.TrialStatus.KILLED}
_COMPARISON = {LESS: api_pb2.LESS, GREATER: api_pb2.GREATER}
R = TypeVar("R")


class ObservationSource(Protocol):
    def __call__(self, address: str, trial: str, metric: str) -> list[str]: ...


class TrialStatusWriter(Protocol):
    def __call__(self, trial: str) -> None: ...


class DBManagerUnavailable(RuntimeError):
    """The DB manager could not be reached: the controller should retry (UNAVAILABLE)."""


def db_manager_logs(address: str, trial: str, metric: str) -> list[str]:
    """A trial's reported values for one metric, in time order, from Katib's DB manager."""
    if not address or ":" not in address:
        raise SuggestionInputError(
            f"db_manager_address {address!r} must be host:port (Katib sends "
            "katib-db-manager.<namespace>:6789)")
    with grpc.insecure_channel(address) as channel:
        stub = api_pb2_grpc.DBManagerStub(channel)
        try:
            reply = stub.GetObservationLog(
                api_pb2.GetObservationLogRequest(trial_name=trial, metric_name=metric),
                timeout=_DB_TIMEOUT)
        except grpc.RpcError as e:
            raise DBManagerUnavailable(
                f"DB manager {address} failed for trial {trial!r}: {e.code().name} "
                f"{e.details()}") from None
    return [m.metric.value for m in reply.observation_log.metric_logs]


def kubernetes_trial_status(trial: str) -> None:
    """Append the EarlyStopped condition to a Trial, as Katib's medianstop SetTrialStatus does."""
    from datetime import UTC, datetime

    from kubernetes import client, config

    ns_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
    with open(ns_file, encoding="utf-8") as f:
        namespace = f.readline().strip()
    config.load_incluster_config()
    api = client.CustomObjectsApi()
    obj = api.get_namespaced_custom_object("kubeflow.org", "v1beta1", namespace, "trials", trial)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    obj.setdefault("status", {}).setdefault("conditions", []).append({
        "type": "EarlyStopped", "status": "True", "reason": "TrialEarlyStopped",
        "message": "Trial is early stopped", "lastUpdateTime": now, "lastTransitionTime": now})
    api.patch_namespaced_custom_object_status("kubeflow.org", "v1beta1", namespace, "trials",
                                              trial, obj)


def _guarded(reply_type: Callable[[], R]) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """No exception escapes as UNKNOWN (Katib would fail the Experiment with no reason)."""

    def decorate(method: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(method)
        def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> R:
            try:
                return method(self, request, context)
            except SuggestionInputError as e:
                log.warning("rejected: %s", e)
                context.set_code(grpc.StatusCode.INVALID_ARGUMENT)
                context.set_details(str(e))
            except DBManagerUnavailable as e:
                context.set_code(grpc.StatusCode.UNAVAILABLE)
                context.set_details(str(e))
            except Exception as e:
                log.exception("internal error in %s", method.__name__)
                context.set_code(grpc.StatusCode.INTERNAL)
                context.set_details(f"internal error in {method.__name__}: "
                                    f"{type(e).__name__}: {e}")
            return reply_type()

        return wrapper

    return decorate


def config_from_spec(spec: Any) -> asha.AshaConfig | medianstop.MedianConfig:
    """Validate an EarlyStoppingSpec; the message names the field and what is allowed."""
    name = spec.algorithm_name
    if name not in ALGORITHMS:
        raise SuggestionInputError(
            f"earlyStopping.algorithmName {name!r} is not served by this early-stopping "
            f"service; supported: {', '.join(ALGORITHMS)}")
    module = asha if name == asha.ALGORITHM else medianstop
    return module.parse((s.name, s.value) for s in spec.algorithm_settings)


def _in_reports(cfg: asha.AshaConfig, objective: Any, trials: Any,
                histories: dict[str, list[float]]) -> asha.AshaConfig | None:
    """ASHA rungs stated in ``resource_metric`` units -> Katib's start_step (reports of the
    objective), from the finished trials: the final value of the resource metric Katib sends in
    each Trial's observation and the objective reports read from the DB manager. None while no
    trial has finished with both (no rule yet: trials run to the end)."""
    asha.check_resource_metric(cfg, objective.objective_metric_name,
                               list(objective.additional_metric_names))
    finished: dict[str, tuple[int, float | None]] = {}
    for t in trials:
        if t.status.condition not in (api_pb2.TrialStatus.SUCCEEDED,
                                      api_pb2.TrialStatus.EARLYSTOPPED):
            continue
        values = [parse_metric(m.value) for m in t.status.observation.metrics
                  if m.name == cfg.resource_metric]
        resource = next((v for v in values if v is not None), None)
        finished[t.name] = (len(histories.get(t.name, ())), resource)
    rate = asha.reporting_rate(finished, cfg)
    if rate is None:
        return None
    converted = asha.steps_for_rungs(cfg, rate)
    log.info("rungs %s %s = reports %s (%.3g reports per %s)", cfg.resource_metric,
             ",".join(map(str, cfg.rungs)), ",".join(map(str, converted.rungs)), rate,
             cfg.resource_metric)
    return converted


class EarlyStoppingServicer(api_pb2_grpc.EarlyStoppingServicer):
    """ASHA rules from the trials' observation logs; state is only a cache of finished logs.

    The cache is the project's one bounded :class:`~katib.suggestion._lru.LRU` (at most
    ``cache_size`` logs, keyed by DB manager, trial and metric): an evicted log is re-read from
    the DB manager, so the bound costs a round trip, never a wrong rule.
    """

    def __init__(self, logs: ObservationSource = db_manager_logs,
                 status: TrialStatusWriter | None = None, *, cache_size: int = _CACHE) -> None:
        self._logs = logs
        self._status = status or kubernetes_trial_status
        self._cache: LRU[tuple[str, str, str], list[float]] = LRU(cache_size)
        self._lock = threading.Lock()
        self.stopped: list[str] = []

    @_guarded(api_pb2.ValidateEarlyStoppingSettingsReply)
    def ValidateEarlyStoppingSettings(  # noqa: N802 - gRPC method name
        self, request: Any, context: grpc.ServicerContext) -> Any:
        config_from_spec(request.early_stopping)
        return api_pb2.ValidateEarlyStoppingSettingsReply()

    @_guarded(api_pb2.GetEarlyStoppingRulesReply)
    def GetEarlyStoppingRules(  # noqa: N802 - gRPC method name
        self, request: Any, context: grpc.ServicerContext) -> Any:
        spec = request.experiment.spec
        cfg = config_from_spec(spec.early_stopping)
        metric = spec.objective.objective_metric_name
        if not metric:
            raise SuggestionInputError("objective.objectiveMetricName is empty")
        maximize = spec.objective.type != api_pb2.MINIMIZE
        if isinstance(cfg, medianstop.MedianConfig):  # only Succeeded trials count
            histories = {t.name: self._history(request.db_manager_address, t, metric)
                         for t in request.trials
                         if t.status.condition == api_pb2.TrialStatus.SUCCEEDED}
            rule = medianstop.rule_for_next(cfg, metric, maximize, histories)
        else:
            histories = {t.name: self._history(request.db_manager_address, t, metric)
                         for t in request.trials
                         if t.status.condition != api_pb2.TrialStatus.CREATED}
            if cfg.resource_metric:
                cfg = _in_reports(cfg, spec.objective, request.trials, histories)
            rule = None if cfg is None else asha.rule_for_next(cfg, metric, maximize, histories,
                                                               len(request.trials))
        reply = api_pb2.GetEarlyStoppingRulesReply()
        if rule is not None:
            reply.early_stopping_rules.add(name=rule.metric, value=repr(rule.value),
                                           comparison=_COMPARISON[rule.comparison],
                                           start_step=rule.start_step)
        log.info("rules for experiment %s: %s", request.experiment.name,
                 rule if rule else "none yet")
        return reply

    @_guarded(api_pb2.SetTrialStatusReply)
    def SetTrialStatus(  # noqa: N802 - gRPC method name
        self, request: Any, context: grpc.ServicerContext) -> Any:
        if not request.trial_name:
            raise SuggestionInputError("trial_name is empty")
        self._status(request.trial_name)
        with self._lock:
            self.stopped.append(request.trial_name)
        return api_pb2.SetTrialStatusReply()

    def _history(self, address: str, trial: Any, metric: str) -> list[float]:
        key = (address, trial.name, metric)
        with self._lock:  # LRU is not thread-safe: a hit reorders it
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        values = [v for v in (parse_metric(s) for s in self._logs(address, trial.name, metric))
                  if v is not None]
        if trial.status.condition in _FINISHED:
            with self._lock:
                self._cache[key] = values
        return values
