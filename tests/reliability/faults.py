"""Shared fault-injection plumbing: outcomes, subprocesses that get SIGKILLed, weight hashes.

Every scenario returns `Outcome`s, so the pytest tests assert on them and
`benchmarks/reliability.py` adds them up into the reliability table.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from katib.trial.metric_lines import strip_timestamp

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


@dataclass
class Outcome:
    """One injected fault (or one batch of bad inputs) and what survived it."""

    category: str
    what: str
    faults: int = 0  # faults injected (kills, corruptions, restarts)
    recovered: int = 0  # of those, runs that completed correctly afterwards
    bad_inputs: int = 0  # malformed inputs sent
    rejected_cleanly: int = 0  # of those, refused with a clear error (or accepted as valid)
    lost: int = 0  # results/epochs/artifacts lost or corrupted
    problems: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (not self.problems and self.lost == 0 and self.recovered == self.faults
                and self.rejected_cleanly == self.bad_inputs)

    def fail(self, message: str) -> None:
        self.problems.append(message)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Our environment merged with one thread per child (2 shared cores) and `extra`."""
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                              env.get("PYTHONPATH", "")]))})
    env.update(extra or {})
    return env


@dataclass
class Finished:
    code: int
    lines: list[str]
    stderr: str


def run(argv: Sequence[str], cwd: Path, *, env: Mapping[str, str] | None = None,
        timeout: float = 300) -> Finished:
    """Run to completion; stdout lines and stderr text."""
    proc = subprocess.run(list(argv), cwd=cwd, env=child_env(env), capture_output=True,
                          text=True, timeout=timeout, check=False)
    return Finished(proc.returncode, proc.stdout.splitlines(), proc.stderr)


def run_and_kill(argv: Sequence[str], cwd: Path, *, after_lines: int, prefix: str,
                 delay: float, env: Mapping[str, str] | None = None,
                 timeout: float = 300) -> Finished:
    """Start `argv`, SIGKILL it `delay` s after its `after_lines`-th stdout line starting with
    `prefix` (or when it ends by itself). Returns the lines it printed before dying."""
    proc = subprocess.Popen(list(argv), cwd=cwd, env=child_env(env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines: list[str] = []
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if strip_timestamp(line).startswith(prefix):  # trial CLI lines carry a time
                seen += 1
                if seen >= after_lines:
                    time.sleep(delay)
                    break
            if time.monotonic() > deadline:
                break
    finally:
        kill_group(proc.pid)
        out, err = proc.communicate(timeout=60)
    lines += [ln for ln in (out or "").splitlines()]
    return Finished(proc.returncode, lines, err or "")


def kill_group(pid: int) -> None:
    """SIGKILL a process group started with start_new_session=True (ignore if gone)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def weights_hash(state_dict: Mapping[str, Any]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes (memory-format independent)."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def vm_hwm_kib(pid: int) -> int:
    """Peak resident set size (VmHWM) of a live process, KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")
