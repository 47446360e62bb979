"""Build and run the gRPC server: Suggestion + Health (SERVING for Katib's probe name)."""

from __future__ import annotations

import logging

import grpc

from katib import grpc_server
from katib.api import api_pb2_grpc
from katib.constants import DEFAULT_HOST, DEFAULT_PORT, HEALTH_SERVICE_NAME

from .service import SuggestionServicer

log = logging.getLogger("katib.suggestion")


def serve(
    port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, *, max_workers: int = 2
) -> tuple[grpc.Server, int]:
    """Start a server on ``host:port`` (port 0 picks a free port); returns (server, bound port).

    Used by ``python -m katib.suggestion`` and in-process by the local experiment runner.
    Stop it with ``server.stop(grace)``. Calls are serialised anyway (the servicer's lock), so
    two workers suffice: one answers health probes while the other computes; more would only
    parse more large requests at once (peak memory).
    """
    return grpc_server.start(
        lambda server: api_pb2_grpc.add_SuggestionServicer_to_server(SuggestionServicer(), server),
        (HEALTH_SERVICE_NAME, "api.v1.beta1.Suggestion"), host=host, port=port,
        max_workers=max_workers, log=log)
