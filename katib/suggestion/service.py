"""gRPC adapter: translates Katib requests/replies and maps every error to a status code.

``SuggestionServicer`` knows the proto; algorithms see only the neutral views of
``search_space`` and ``trials``. Input errors become INVALID_ARGUMENT (Katib marks the
Suggestion Failed with our message). In ValidateAlgorithmSettings *every* failure is
INVALID_ARGUMENT: Katib v0.19.0 (suggestionclient.go ValidateAlgorithmSettings) treats only
INVALID_ARGUMENT and UNKNOWN as "invalid" and any other code, INTERNAL included, as
"validated", so a crash there would let a broken Experiment start. In GetSuggestions any other
exception becomes INTERNAL with the algorithm name and the exception (Katib retries it; never
UNKNOWN). A repeated identical request is answered from a small reply cache, so a controller
retry after a timeout gets the same trials.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from katib.api import api_pb2, api_pb2_grpc

from ._lru import LRU
from .algorithms import AlgorithmRegistry, SuggestionRequest
from .errors import SuggestionInputError
from .search_space import experiment_from_proto
from .trials import TrialView, trials_from_proto

log = logging.getLogger("katib.suggestion")
_REPLY_CACHE = 64
#: Most assignments one GetSuggestions call may ask for (Katib asks parallelTrialCount).
MAX_REQUEST_NUMBER = 1000
# Experiments whose trial views are kept: Katib runs one suggestion Deployment per
# Experiment and katib.local one server per run, so two cover a controller and a retry.
_VIEW_CACHE = 2
R = TypeVar("R")


def _guarded(reply_type: Callable[[], R], *, crash_code: grpc.StatusCode = grpc.StatusCode.INTERNAL
             ) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Wrap a servicer method so no exception escapes as UNKNOWN; a bug answers `crash_code`."""

    def decorate(method: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(method)
        def wrapper(self: SuggestionServicer, request: Any, context: grpc.ServicerContext) -> R:
            started = time.perf_counter()
            name = request.experiment.name
            algorithm = request.experiment.spec.algorithm.algorithm_name
            try:
                reply = method(self, request, context)
            except SuggestionInputError as e:
                log.warning("rejected", extra={"rpc": method.__name__, "experiment": name,
                                               "algorithm": algorithm, "error": str(e)})
                context.set_code(grpc.StatusCode.INVALID_ARGUMENT)
                context.set_details(str(e))
                return reply_type()
            except Exception as e:
                log.exception("internal error", extra={"rpc": method.__name__,
                                                       "experiment": name, "algorithm": algorithm})
                context.set_code(crash_code)
                context.set_details(
                    f"internal error in algorithm {algorithm!r} for experiment {name!r}: "
                    f"{type(e).__name__}: {e}. The suggestion log has the traceback; please "
                    "report it with the Experiment spec."
                )
                return reply_type()
            log.info("ok", extra={"rpc": method.__name__, "experiment": name,
                                  "algorithm": algorithm,
                                  "ms": round((time.perf_counter() - started) * 1e3, 2)})
            return reply

        return wrapper

    return decorate


class SuggestionServicer(api_pb2_grpc.SuggestionServicer):
    """``api.v1.beta1.Suggestion`` for every registered algorithm."""

    def __init__(self, registry: AlgorithmRegistry | None = None) -> None:
        self._registry = registry or AlgorithmRegistry()
        self._lock = threading.Lock()  # algorithms keep caches; serialise calls
        self._replies: LRU[bytes, bytes] = LRU(_REPLY_CACHE)
        self._trial_views: LRU[bytes, dict[str, TrialView]] = LRU(_VIEW_CACHE)

    @_guarded(api_pb2.ValidateAlgorithmSettingsReply,
              crash_code=grpc.StatusCode.INVALID_ARGUMENT)
    def ValidateAlgorithmSettings(  # noqa: N802 - gRPC method name
        self, request: api_pb2.ValidateAlgorithmSettingsRequest, context: grpc.ServicerContext
    ) -> api_pb2.ValidateAlgorithmSettingsReply:
        experiment = experiment_from_proto(request.experiment)
        with self._lock:
            self._registry.get(experiment.algorithm).validate(experiment)
        return api_pb2.ValidateAlgorithmSettingsReply()

    @_guarded(api_pb2.GetSuggestionsReply)
    def GetSuggestions(  # noqa: N802 - gRPC method name
        self, request: api_pb2.GetSuggestionsRequest, context: grpc.ServicerContext
    ) -> api_pb2.GetSuggestionsReply:
        if request.current_request_number < 0:
            raise SuggestionInputError("current_request_number must be >= 0")
        if request.current_request_number > MAX_REQUEST_NUMBER:
            # Unbounded, one call could allocate gigabytes and hold the lock for minutes.
            raise SuggestionInputError(
                f"current_request_number {request.current_request_number} is above the limit "
                f"{MAX_REQUEST_NUMBER}; lower the Experiment's parallelTrialCount")
        fingerprint = hashlib.blake2b(
            request.SerializeToString(deterministic=True), digest_size=20
        ).digest()
        with self._lock:
            cached = self._replies.get(fingerprint)
            if cached is not None:
                return api_pb2.GetSuggestionsReply.FromString(cached)
            reply = self._suggest(request)
            self._replies[fingerprint] = reply.SerializeToString()
        return reply

    def _suggest(self, request: api_pb2.GetSuggestionsRequest) -> api_pb2.GetSuggestionsReply:
        experiment = experiment_from_proto(request.experiment)
        algorithm = self._registry.get(experiment.algorithm)
        # Keyed by the whole experiment message, not just its name: two experiments with one
        # name (other namespaces, the local runner) never share trial views.
        view_key = hashlib.blake2b(
            request.experiment.SerializeToString(deterministic=True), digest_size=16
        ).digest()
        views = self._trial_views.get_or_compute(view_key, dict)
        suggestion_request = SuggestionRequest(
            experiment=experiment,
            trials=tuple(trials_from_proto(request.trials, views)),
            current_request_number=request.current_request_number,
            total_request_number=request.total_request_number,
        )
        assignments = (
            algorithm.suggest(suggestion_request) if request.current_request_number else []
        )
        if len(assignments) != request.current_request_number:
            raise RuntimeError(
                f"algorithm returned {len(assignments)} assignments for "
                f"current_request_number={request.current_request_number}"
            )
        reply = api_pb2.GetSuggestionsReply()
        for a in assignments:
            item = reply.parameter_assignments.add(trial_name=a.trial_name)
            for name, value in a.values.items():
                item.assignments.add(name=name, value=value)
            item.labels.update(a.labels)
        return reply
