"""A small ``api.v1.beta1.DBManager`` for runs without Katib's database (katib.local, benchmarks).

It answers ``GetObservationLog`` from values the caller records, so the early-stopping service
reads observations over the same RPC it uses against ``katib-db-manager`` on a cluster.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent import futures
from typing import Any

import grpc

from katib.api import api_pb2 as pb
from katib.api import api_pb2_grpc


class ObservationStore(api_pb2_grpc.DBManagerServicer):
    """Objective values per trial, in report order; thread-safe."""

    def __init__(self) -> None:
        self._logs: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def record(self, trial: str, values: Sequence[float]) -> None:
        with self._lock:
            self._logs[trial] = list(values)

    def GetObservationLog(self, request: Any, context: Any) -> Any:  # noqa: N802
        with self._lock:
            values = list(self._logs.get(request.trial_name, ()))
        reply = pb.GetObservationLogReply()
        for i, v in enumerate(values):
            reply.observation_log.metric_logs.add(
                time_stamp=f"step-{i:09d}",
                metric=pb.Metric(name=request.metric_name, value=repr(v)))
        return reply


def start(store: ObservationStore) -> tuple[grpc.Server, str]:
    """Serve ``store`` on 127.0.0.1:<free port>; returns (server, "host:port")."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    api_pb2_grpc.add_DBManagerServicer_to_server(store, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"
