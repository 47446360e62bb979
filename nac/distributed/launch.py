"""torchrun command lines: the only launcher we use (no rendezvous or scheduler of our own).

Locally each "node" is one `python -m torch.distributed.run` agent in its own process group
(so the demo can SIGKILL a whole node: agent and worker); on Kubernetes the Training Operator
or Trainer sets the same options through `PET_*` environment variables, which torchrun reads.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["TORCHRUN_ENV", "LocalNode", "RDZV_CONF", "RendezvousSpec", "free_port", "torchrun_argv"]

#: c10d rendezvous settings for fast local recovery (defaults: join 600 s, last call 30 s,
#: keep-alive 5 s x 3). `last_call_timeout` is how long a shrunken group waits for more nodes
#: before it carries on; the heartbeat settings bound how long a dead node stays a member.
RDZV_CONF = {"join_timeout": 120, "last_call_timeout": 2, "close_timeout": 10,
             "keep_alive_interval": 1, "keep_alive_max_attempt": 3}


#: Environment every torchrun agent gets. torch 2.13's c10d rendezvous shares its TCPStore with
#: the workers and caches the store address from the first round: when a new node joins a group
#: whose rank 0 stays, rank 0 never republishes MASTER_ADDR for the new round and both agents
#: wait on each other for 60 s, then fail (measured here: dynamic_rendezvous.next_rendezvous
#: skips RendezvousStoreInfo.build). The documented opt-out rebuilds it every round.
TORCHRUN_ENV = {"TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a local rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class RendezvousSpec:
    """One elastic job: which nodes may join, where they meet, how often a group may restart."""

    min_nodes: int = 1
    max_nodes: int = 2
    nproc_per_node: int = 1
    endpoint: str = "127.0.0.1:29400"
    run_id: str = "nac-elastic"
    max_restarts: int = 5
    monitor_interval: float = 0.5
    conf: dict[str, int] = field(default_factory=lambda: dict(RDZV_CONF))

    def __post_init__(self) -> None:
        if not 1 <= self.min_nodes <= self.max_nodes:
            raise ValueError(f"nnodes: need 1 <= MIN <= MAX, got {self.min_nodes}:"
                             f"{self.max_nodes}")
        if self.nproc_per_node < 1 or self.max_restarts < 0:
            raise ValueError("nproc_per_node: must be >= 1; max_restarts: must be >= 0")


def torchrun_argv(spec: RendezvousSpec, module: str, args: Sequence[str], *,
                  python: str | None = None) -> list[str]:
    """`python -m torch.distributed.run --nnodes=MIN:MAX --rdzv-backend=c10d ... -m module`."""
    conf = ",".join(f"{k}={v}" for k, v in spec.conf.items())
    return [python or sys.executable, "-m", "torch.distributed.run",
            f"--nnodes={spec.min_nodes}:{spec.max_nodes}",
            f"--nproc-per-node={spec.nproc_per_node}",
            "--rdzv-backend=c10d", f"--rdzv-endpoint={spec.endpoint}",
            f"--rdzv-id={spec.run_id}", f"--rdzv-conf={conf}",
            f"--max-restarts={spec.max_restarts}",
            f"--monitor-interval={spec.monitor_interval}",
            "-m", module, *args]


def _descendants(root: int) -> list[int]:
    """Live descendants of `root`, children first found by walking /proc (Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces, so split after the last ")".
        fields = stat.rsplit(")", 1)[-1].split()
        parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(kids)
        frontier.extend(kids)
    return found


class LocalNode:
    """One torchrun agent (a "node") running as a subprocess in its own process group."""

    def __init__(self, name: str, argv: list[str], log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in wait()/kill()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1",
                    **TORCHRUN_ENV, **(env or {})}
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=full_env, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def workers(self) -> list[int]:
        """PIDs of the agent's live worker processes (torchrun starts workers in their own
        session, so they are not in the agent's process group)."""
        out = []
        for pid in _descendants(self.proc.pid):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"torch.distributed.run" not in cmd and b"multiprocessing" not in cmd:
                out.append(pid)
        return out

    def kill(self) -> None:
        """SIGKILL the agent and every worker it started, at once: a lost machine."""
        if self.proc.poll() is None:
            for pid in [*_descendants(self.proc.pid), self.proc.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc.wait()
        self._log.close()

    def wait(self, timeout: float | None = None) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is not None:
                self._log.close()
