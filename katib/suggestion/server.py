"""Build and run the gRPC server: Suggestion + Health (SERVING for Katib's probe name)."""

from __future__ import annotations

import logging
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from katib.api import api_pb2_grpc

from .constants import DEFAULT_HOST, DEFAULT_PORT, HEALTH_SERVICE_NAME
from .service import SuggestionServicer

log = logging.getLogger("katib.suggestion")
# Katib's requests carry the whole history; a 1000-trial NAS history is a few MB.
_MAX_MESSAGE = 64 * 1024 * 1024


def serve(
    port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, *, max_workers: int = 2
) -> tuple[grpc.Server, int]:
    """Start a server on ``host:port`` (port 0 picks a free port); returns (server, bound port).

    Used by ``python -m katib.suggestion`` and in-process by the local experiment runner.
    Stop it with ``server.stop(grace)``. Calls are serialised anyway (the servicer's lock), so
    two workers suffice: one answers health probes while the other computes; more would only
    parse more large requests at once (peak memory).
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        options=[
            ("grpc.max_receive_message_length", _MAX_MESSAGE),
            ("grpc.max_send_message_length", _MAX_MESSAGE),
        ],
    )
    api_pb2_grpc.add_SuggestionServicer_to_server(SuggestionServicer(), server)
    health_servicer = health.HealthServicer()
    health_servicer.set(HEALTH_SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("api.v1.beta1.Suggestion", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot listen on {address}: address in use or not available")
    server.start()
    log.info("listening", extra={"address": f"{host}:{bound}"})
    return server, bound
