"""``python -m katib.earlystopping [--port 6788]``: the early-stopping container's process.

Katib runs it as container ``early-stopping`` beside the suggestion (katib-config
``runtime.earlyStoppings``); it serves ASHA on 0.0.0.0:6788 and stops on SIGTERM/SIGINT.
Exit codes (nac/exit_codes.py): 0 stopped by a signal after a graceful shutdown, 1 the server
could not start (e.g. the port is taken), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from nac import exit_codes
from nac.cli_help import HelpFormatter, add_listen_options

from .server import DEFAULT_HOST, DEFAULT_PORT, serve


def parser() -> argparse.ArgumentParser:
    """The CLI's parser (tests/test_cli_conventions.py walks it)."""
    p = argparse.ArgumentParser(prog="python -m katib.earlystopping", description=__doc__,
                                formatter_class=HelpFormatter)
    add_listen_options(p, port=DEFAULT_PORT, host=DEFAULT_HOST)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # a bad --port exits 2 here
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        server, port, _ = serve(args.port, args.host)
    except (OSError, RuntimeError) as e:  # grpc raises RuntimeError for a port in use
        print(f"cannot start: {e}", file=sys.stderr)
        return exit_codes.FAILED
    print(f"listening on {args.host}:{port}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    server.stop(5.0).wait()
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
