"""Build and run the early-stopping gRPC server (EarlyStopping + Health)."""

from __future__ import annotations

import logging

import grpc

from katib import grpc_server
from katib.api import api_pb2_grpc

from .service import EarlyStoppingServicer, ObservationSource, TrialStatusWriter, db_manager_logs

log = logging.getLogger("katib.earlystopping")
#: Katib's consts.DefaultEarlyStoppingPort; the controller dials <exp>-<algo>.<ns>:6788.
DEFAULT_PORT = 6788
DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - the pod must accept the controller's and sidecars' calls


def serve(port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, *,
          logs: ObservationSource = db_manager_logs, status: TrialStatusWriter | None = None,
          max_workers: int = 4) -> tuple[grpc.Server, int, EarlyStoppingServicer]:
    """Start on ``host:port`` (0 = a free port); returns (server, bound port, servicer)."""
    servicer = EarlyStoppingServicer(logs=logs, status=status)
    server, bound = grpc_server.start(
        lambda server: api_pb2_grpc.add_EarlyStoppingServicer_to_server(servicer, server),
        ("api.v1.beta1.EarlyStopping", ""), host=host, port=port, max_workers=max_workers,
        log=log)
    return server, bound, servicer
