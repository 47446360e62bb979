"""Trial processes: the parent-death launcher, termination, signal routing, usable cores.

Everything here is about operating-system processes and nothing about Katib, so the controller
loop (`runner.py`) reads as Katib's controller and this module as plain process plumbing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from katib.constants import KILL_GRACE_SECONDS

# Runs before the trial's own command (Linux): ask the kernel to SIGKILL the trial when the
# runner dies, even by SIGKILL, so no orphaned trial keeps training; then exec the command
# (same pid, so the runner's process-group kill and exit code are the trial's own).
LAUNCHER = """\
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    os._exit(137)  # the runner died before prctl took effect
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except OSError as e:
    print(f"could not start {sys.argv[2]!r}: {e.strerror}", file=sys.stderr, flush=True)
    os._exit(127)
"""


def launch_argv(argv: list[str]) -> list[str]:
    """The trial's argv behind the parent-death launcher where the OS supports it."""
    if not sys.platform.startswith("linux"):
        return argv
    return [sys.executable, "-S", "-c", LAUNCHER, str(os.getpid()), *argv]


def terminate(proc: subprocess.Popen[str]) -> None:
    """SIGTERM the trial's process group, SIGKILL after a grace period (in the background)."""
    def kill() -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                return
            try:
                proc.wait(timeout=KILL_GRACE_SECONDS)
                return
            except subprocess.TimeoutExpired:
                continue
    threading.Thread(target=kill, daemon=True).start()


def usable_cores() -> int:
    """CPUs this process may run on (affinity on Linux, else the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def exit_text(code: int) -> str:
    """`exit code 3`, or `killed by SIGKILL` for a negative return code."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def clip(line: str, width: int = 300) -> str:
    return line if len(line) <= width else line[: width - 3] + "..."


class SignalGuard:
    """Route SIGINT/SIGTERM to the runner (main thread only), restore the handlers after."""

    def __init__(self, callback: Callable[[int], None]) -> None:
        self.callback = callback
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, lambda s, _f: self.callback(s))
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
