"""``python -m katib.suggestion [--port PORT] [--host HOST]``: the suggestion service process.

Serves ``api.v1.beta1.Suggestion`` and ``grpc.health.v1.Health`` (SERVING for
``manager.v1beta1.Suggestion``) on 0.0.0.0:6789 by default, logs JSON lines on stderr and
shuts down gracefully on SIGTERM/SIGINT (in-flight calls get a grace period). Never imports
torch: it runs in the lean suggestion image.

scipy is hidden from this process unless ``--allow-scipy``: the lean image does not install it,
and where it is installed (a dev venv) the ``cmaes`` package would import ``scipy.stats``
(+60 MiB resident) for two functions it also implements in numpy. ``sampler=gp`` needs scipy
and torch, so it is only offered with ``--allow-scipy`` in an image that has both.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from . import logs
from .constants import DEFAULT_HOST, DEFAULT_PORT
from .server import serve

__all__ = ["main", "serve"]
log = logging.getLogger("katib.suggestion")
_GRACE_S = 10.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m katib.suggestion", description=__doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"listen port (default {DEFAULT_PORT}; 0 = any free port)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"listen address (default {DEFAULT_HOST})")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--allow-scipy", action="store_true",
                        help="let algorithms import scipy (needed for sampler=gp)")
    args = parser.parse_args(argv)
    if not args.allow_scipy:
        sys.modules.setdefault("scipy", None)  # type: ignore[arg-type]  # import -> ImportError
    if not 0 <= args.port <= 65535:
        parser.error(f"--port: {args.port} is not a TCP port (0-65535)")
    logs.configure(args.log_level)
    try:
        server, port = serve(args.port, args.host)
    except OSError as e:
        log.error("cannot start", extra={"error": str(e)})
        return 1
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
