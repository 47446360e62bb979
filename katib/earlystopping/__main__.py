"""``python -m katib.earlystopping [--port 6788]``: the early-stopping container's process.

Katib runs it as container ``early-stopping`` beside the suggestion (katib-config
``runtime.earlyStoppings``); it serves ASHA on 0.0.0.0:6788 and stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from .server import DEFAULT_HOST, DEFAULT_PORT, serve


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m katib.earlystopping", description=__doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port: {args.port} is not a TCP port (0-65535)")
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        server, port, _ = serve(args.port, args.host)
    except OSError as e:
        print(f"cannot start: {e}", file=sys.stderr)
        return 1
    print(f"listening on {args.host}:{port}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    server.stop(5.0).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
