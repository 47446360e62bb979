"""Build and run the early-stopping gRPC server (EarlyStopping + Health)."""

from __future__ import annotations

import logging
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from katib.api import api_pb2_grpc

from .service import EarlyStoppingServicer, ObservationSource, TrialStatusWriter, db_manager_logs

log = logging.getLogger("katib.earlystopping")
#: Katib's consts.DefaultEarlyStoppingPort; the controller dials <exp>-<algo>.<ns>:6788.
DEFAULT_PORT = 6788
DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - the pod must accept the controller's and sidecars' calls
_MAX_MESSAGE = 64 * 1024 * 1024


def serve(port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, *,
          logs: ObservationSource = db_manager_logs, status: TrialStatusWriter | None = None,
          max_workers: int = 4) -> tuple[grpc.Server, int, EarlyStoppingServicer]:
    """Start on ``host:port`` (0 = a free port); returns (server, bound port, servicer)."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers), options=[
        ("grpc.max_receive_message_length", _MAX_MESSAGE),
        ("grpc.max_send_message_length", _MAX_MESSAGE)])
    servicer = EarlyStoppingServicer(logs=logs, status=status)
    api_pb2_grpc.add_EarlyStoppingServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_servicer.set("api.v1.beta1.EarlyStopping", health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"cannot listen on {address}: address in use or not available")
    server.start()
    log.info("listening on %s:%d", host, bound)
    return server, bound, servicer
