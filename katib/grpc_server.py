"""One way to start a Katib-facing gRPC server: the suggestion and early-stopping services.

Both need the same things: a bounded thread pool, message limits large enough for Katib's
whole-history requests, the gRPC health service reporting SERVING under the names Katib probes,
and a clear error when the port cannot be bound. Imports only grpc (the suggestion image's
memory budget counts every module).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

#: Katib's requests carry the whole history; a 1000-trial NAS history is a few MB.
MAX_MESSAGE = 64 * 1024 * 1024


def start(register: Callable[[grpc.Server], None], health_names: Iterable[str], *, host: str,
          port: int, max_workers: int, log: logging.Logger) -> tuple[grpc.Server, int]:
    """Start a server with `register`ed servicers on ``host:port`` (0 picks a free port).

    Returns (server, bound port); stop it with ``server.stop(grace)``.
    """
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=[
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.max_send_message_length", MAX_MESSAGE)])
    register(server)
    health_servicer = health.HealthServicer()
    for name in health_names:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot listen on {address}: address in use or not available")
    server.start()
    log.info("listening", extra={"address": f"{host}:{bound}"})
    return server, bound
