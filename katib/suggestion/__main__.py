"""``python -m katib.suggestion [--port PORT] [--host HOST]``: the suggestion service process.

Exit codes (nac/exit_codes.py): 0 stopped by SIGTERM/SIGINT after a graceful shutdown, 1 the
server could not start (e.g. the port is taken), 2 bad arguments.

Serves ``api.v1.beta1.Suggestion`` and ``grpc.health.v1.Health`` (SERVING for
``manager.v1beta1.Suggestion``) on 0.0.0.0:6789 by default, logs JSON lines on stderr and
shuts down gracefully on SIGTERM/SIGINT (in-flight calls get a grace period). Never imports
torch: it runs in the lean suggestion image.

Memory (a Katib suggestion pod's default limit is 100Mi; docs/katib.md "Memory"): before
anything is imported, BLAS/OpenMP pools are pinned to one thread (numpy, loaded with optuna,
would otherwise start one OpenBLAS thread with its own buffers per node core) and glibc
malloc to one arena (each gRPC thread would get its own heap; calls are serialised anyway).

scipy is hidden from this process unless ``--allow-scipy``: the lean image does not install it,
and where it is installed (a dev venv) the ``cmaes`` package would import ``scipy.stats``
(+60 MiB resident) for two functions it also implements in numpy. ``sampler=gp`` needs scipy
and torch, so it is only offered with ``--allow-scipy`` in an image that has both.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads (it reads them once)

from katib.constants import DEFAULT_HOST, DEFAULT_PORT  # noqa: E402
from nac import exit_codes  # noqa: E402
from nac.cli_help import HelpFormatter, add_listen_options  # noqa: E402

from . import logs  # noqa: E402 - after the thread-pool environment above
from .server import serve  # noqa: E402

__all__ = ["main", "parser", "serve"]
# __spec__.name, not __name__: under `python -m` __name__ is "__main__".
log = logging.getLogger(__spec__.name if __spec__ else __name__)
_GRACE_S = 10.0


_M_ARENA_MAX = -8  # glibc malloc.h


def limit_malloc_arenas(arenas: int = 1) -> bool:
    """Cap glibc malloc at `arenas` heaps (like MALLOC_ARENA_MAX); False where not glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def parser() -> argparse.ArgumentParser:
    """The CLI's parser (tests/test_cli_conventions.py walks it)."""
    p = argparse.ArgumentParser(prog="python -m katib.suggestion", description=__doc__,
                                formatter_class=HelpFormatter)
    add_listen_options(p, port=DEFAULT_PORT, host=DEFAULT_HOST)
    p.add_argument("--allow-scipy", action="store_true",
                   help="let algorithms import scipy (needed for sampler=gp)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # a bad --port exits 2 here
    if not args.allow_scipy:
        sys.modules.setdefault("scipy", None)  # type: ignore[arg-type]  # import -> ImportError
    logs.configure(args.log_level)
    limit_malloc_arenas()  # before the server's threads start
    try:
        server, port = serve(args.port, args.host)
    except (OSError, RuntimeError) as e:  # grpc raises RuntimeError for a port in use
        log.error("cannot start", extra={"error": str(e)})
        return exit_codes.FAILED
    # The bound port on stdout lets a parent process that passed --port 0 find us.
    print(f"listening on {args.host}:{port}", flush=True)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    while not stop.wait(0.5):  # a bounded wait lets the signal handler run promptly
        pass
    server.stop(_GRACE_S).wait()
    log.info("stopped")
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
