"""Our suggestion service in-process on 127.0.0.1:<free port>, called over real gRPC.

The calls and their error handling follow Katib v0.19.0's controller
(`pkg/controller.v1beta1/suggestion/suggestionclient/suggestionclient.go`): INVALID_ARGUMENT
from `ValidateAlgorithmSettings` fails the Experiment with the service's message,
UNIMPLEMENTED means "nothing to validate". Katib has no "search space exhausted" signal (its
`ExperimentSuggestionEndReached` branch is unreachable at v0.19.0); a service that answers
`GetSuggestions` with the status code OUT_OF_RANGE or RESOURCE_EXHAUSTED ends the local run
as `ExperimentSuggestionEndReached` once running trials finish (docs/local-runner.md). The
decision is by status code only, never by message text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from katib.validation import ExperimentError

#: Deadline of each suggestion RPC (Katib's controller uses 60 s).
RPC_TIMEOUT = 60.0


class RunnerError(RuntimeError):
    """The run could not continue (suggestion service refused, template broken, ...)."""


class SuggestionsExhausted(Exception):
    """The service has nothing more to suggest (status OUT_OF_RANGE / RESOURCE_EXHAUSTED)."""


@dataclass
class Assignments:
    trials: list[tuple[str | None, dict[str, str]]]
    algorithm_settings: list[tuple[str, str]]


def _exhausted_codes() -> tuple[Any, ...]:
    import grpc

    return (grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.RESOURCE_EXHAUSTED)


class SuggestionClient:
    """Starts `katib.suggestion.serve` on a free loopback port and talks to it as Katib does."""

    def __enter__(self) -> SuggestionClient:
        import grpc

        from katib.api import api_pb2_grpc
        from katib.suggestion import serve

        self._server, port = serve(port=0, host="127.0.0.1")
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._stub = api_pb2_grpc.SuggestionStub(self._channel)
        return self

    def __exit__(self, *exc: object) -> None:
        self._channel.close()
        self._server.stop(1.0).wait(2.0)  # graceful: no RPC is in flight, so this returns at once

    def validate(self, experiment: Any) -> None:
        import grpc

        from katib.api import api_pb2 as pb

        try:
            self._stub.ValidateAlgorithmSettings(
                pb.ValidateAlgorithmSettingsRequest(experiment=experiment),
                timeout=RPC_TIMEOUT, wait_for_ready=True)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                return
            algorithm = experiment.spec.algorithm.algorithm_name
            if e.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise ExperimentError(
                    [f"spec.algorithm: the {algorithm!r} suggestion service rejected the "
                     f"settings: {e.details()}"],
                    source=f"Experiment {experiment.name!r}") from None
            raise RunnerError(f"the {algorithm!r} suggestion service failed to validate the "
                              f"settings ({e.code().name}): {e.details()}") from None

    def get_suggestions(self, experiment: Any, trials: list[Any], current: int,
                        total: int) -> Assignments:
        import grpc

        from katib.api import api_pb2 as pb

        request = pb.GetSuggestionsRequest(experiment=experiment, trials=trials,
                                           current_request_number=current,
                                           total_request_number=total)
        try:
            reply = self._stub.GetSuggestions(request, timeout=RPC_TIMEOUT)
        except grpc.RpcError as e:
            details = e.details() or ""
            if e.code() in _exhausted_codes():
                raise SuggestionsExhausted(details) from None
            raise RunnerError(f"the suggestion service failed ({e.code().name}): "
                              f"{details}") from None
        if len(reply.parameter_assignments) != current:
            raise RunnerError(f"the suggestion service returned {len(reply.parameter_assignments)}"
                              f" assignments for {current} requested (Katib rejects this too)")
        trials = [(pa.trial_name or None, {a.name: a.value for a in pa.assignments})
                  for pa in reply.parameter_assignments]
        settings = [(s.name, s.value) for s in reply.algorithm.algorithm_settings]
        return Assignments(trials, settings)
