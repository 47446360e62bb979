"""`python -m serving` (`nac-serve`): run KServe's model server on one Model directory.

KServe's own flags (`--http_port`, `--grpc_port`, `--workers`, ...) are parsed by the kserve
package itself; this CLI adds the model directory, the served name and the variant.
Exit codes (nac/exit_codes.py): 0 the server stopped, 2 bad arguments or a model directory that
is not a loadable nac-model (the message says what to fix), 1 the model could not be read.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nac import exit_codes
from nac.cli_help import HelpFormatter, port_number


def parser() -> argparse.ArgumentParser:
    """The CLI's parser (tests/test_cli_conventions.py walks it); KServe parses its own flags."""
    ap = argparse.ArgumentParser(prog="python -m serving", description=__doc__.split("\n")[0],
                                 formatter_class=HelpFormatter)
    ap.add_argument("--model-dir", required=True,
                    help="a nac-model directory (train or compress output; KServe mounts a "
                         "storageUri at /mnt/models)")
    ap.add_argument("--model-name", default="nac", help="name in /v2/models/{name}")
    ap.add_argument("--variant", default="auto",
                    help="auto (what compress selected, else torch), torch, fp32, fp16, int8, "
                         "pruned")
    ap.add_argument("--http-port", type=int, default=8080, help="HTTP port of the v2 protocol")
    ap.add_argument("--grpc-port", type=port_number, default=0,
                    help="also serve the v2 protocol over gRPC (KServe's "
                         "inference.GRPCInferenceService) on this port; 0 = no gRPC")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads per request")
    ap.add_argument("--request-log", action="store_true",
                    help="log every request and its timing (KServe's access and trace logs); "
                         "off by default: at batch 1 the log lines cost more than the model")
    ap.add_argument("--timing-middleware", action="store_true",
                    help="keep KServe's per-request timing middleware without --request-log "
                         "(it only feeds the trace log; dropped by default)")
    ap.add_argument("--kserve-infer-route", action="store_true",
                    help="answer POST /v2/models/{name}/infer with KServe's own FastAPI route "
                         "instead of serving/infer_route.py's lean one (same protocol, about "
                         "0.8 ms more per request at batch 1)")
    return ap


def quiet_per_request_logs(app: Any, *, drop_timing: bool = True) -> None:
    """Drop what KServe does per request only to log it (without --request-log): its timing
    middleware (two getrusage calls and a route lookup per request, feeding the trace log),
    uvicorn's access log, the trace log and the gRPC interceptor's "grpc method" line.

    The middleware is removed from the app's list when Starlette builds the middleware stack
    (at the first request, after KServe added it in RESTServer.create_application).
    """
    import logging

    from kserve.logging import KSERVE_LOGGER_NAME, KSERVE_TRACE_LOGGER_NAME
    from timing_asgi import TimingMiddleware

    for name in ("uvicorn.access", KSERVE_TRACE_LOGGER_NAME):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger(KSERVE_LOGGER_NAME).addFilter(
        lambda record: not str(record.msg).startswith("grpc method:"))
    if not drop_timing:
        return
    build = app.build_middleware_stack

    def without_timing():
        app.user_middleware = [m for m in app.user_middleware if m.cls is not TimingMiddleware]
        return build()

    app.build_middleware_stack = without_timing


def main(argv: list[str] | None = None) -> int:
    ap = parser()
    args, _ = ap.parse_known_args(argv)
    if args.threads < 1:
        ap.error("--threads: must be >= 1")
    from kserve import ModelServer

    from serving.model import NACModel

    model = NACModel(args.model_name, args.model_dir, variant=args.variant,
                     threads=args.threads)
    try:
        model.load()
    except ValueError as e:  # nac.export.ModelError is a ValueError: say what to fix, exit 2
        print(f"serve: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    except OSError as e:
        print(f"serve: cannot read the model: {e}", file=sys.stderr)
        return exit_codes.FAILED
    print(f"serve: {args.model_name} ({model.variant}) from {args.model_dir} on port "
          f"{args.http_port}", flush=True)
    server = ModelServer(http_port=args.http_port, grpc_port=args.grpc_port or 8081,
                         enable_grpc=bool(args.grpc_port), workers=1,
                         enable_latency_logging=args.request_log)
    from kserve.model_server import app

    from serving.infer_route import install_infer_route
    from serving.model import install_error_shape

    if not args.request_log:
        quiet_per_request_logs(app, drop_timing=not args.timing_middleware)
    install_error_shape(app)
    if not args.kserve_infer_route:
        install_infer_route(app, server.dataplane)
    server.start([model])
    return exit_codes.OK


if __name__ == "__main__":
    raise SystemExit(main())
