"""PyTorchJob / TrainJob trials on one machine: every replica becomes a local torchrun process.

On a cluster the Training Operator (PyTorchJob) or Trainer's torch runtime (TrainJob) starts
one pod per replica/node and tells `torchrun` the topology through `PET_*` environment
variables (PET_NNODES, PET_NPROC_PER_NODE, PET_MASTER_ADDR...). Locally the whole job is one
node: we set `PET_NNODES=1`, `PET_NPROC_PER_NODE=<replicas x processes per replica>` and a c10d
rendezvous on a free loopback port, and run the primary container's command once. Only a
`torchrun` command is expanded this way; any other command (e.g. `python train.py`) runs as
one process, the primary replica, as the local runner always did. Variables the container
sets itself win; explicit torchrun flags in the command win over all.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

__all__ = ["job_processes", "local_torchrun"]

_TORCHRUN = ("torchrun",)


def _int(value: Any, where: str, default: int = 1) -> int:
    if value is None or value == "auto":
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {value!r} is not an integer") from None
    if n < 1:
        raise ValueError(f"{where}: must be >= 1, got {n}")
    return n


def job_processes(spec: dict[str, Any]) -> int:
    """Training processes the job would run on a cluster (1 for anything but these kinds)."""
    kind, body = spec.get("kind"), spec.get("spec") or {}
    base = "spec.trialTemplate.trialSpec.spec"
    if kind == "PyTorchJob":
        per_pod = _int(body.get("nprocPerNode"), f"{base}.nprocPerNode")
        replicas = body.get("pytorchReplicaSpecs") or {}
        pods = sum(_int((r or {}).get("replicas"), f"{base}.pytorchReplicaSpecs.{name}.replicas")
                   for name, r in replicas.items())
        return max(1, pods) * per_pod
    if kind == "TrainJob":
        trainer = body.get("trainer") or {}
        return _int(trainer.get("numNodes"), f"{base}.trainer.numNodes") * _int(
            trainer.get("numProcPerNode"), f"{base}.trainer.numProcPerNode")
    return 1


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def local_torchrun(spec: dict[str, Any], argv: list[str], env: dict[str, str], *,
                   port: int | None = None,
                   python: str | None = None) -> tuple[list[str], dict[str, str]]:
    """(argv, env) running the trial's distributed job as local processes; unchanged for a
    single-process trial."""
    python = python or sys.executable
    procs = job_processes(spec)
    is_torchrun = bool(argv) and argv[0] in _TORCHRUN
    if not is_torchrun:
        return argv, env
    endpoint = f"127.0.0.1:{port or _free_port()}"
    topology = {"PET_NNODES": "1", "PET_NPROC_PER_NODE": str(procs),
                "PET_RDZV_BACKEND": "c10d", "PET_RDZV_ENDPOINT": endpoint,
                "PET_RDZV_ID": str((spec.get("metadata") or {}).get("name", "trial")),
                "PET_MAX_RESTARTS": "0",
                "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}  # see nac.distributed.launch
    env = {**topology, **env}
    return [python, "-m", "torch.distributed.run", *argv[1:]], env
