"""Katib early-stopping service: ASHA (with Hyperband brackets) over ``api.v1.beta1.EarlyStopping``.

``python -m katib.earlystopping`` serves it on 0.0.0.0:6788 (Katib's early-stopping port);
:mod:`katib.earlystopping.asha` holds the algorithm, testable without gRPC, and
:mod:`katib.earlystopping.rules` the metrics collector's rule semantics that ``katib.local``,
the conformance tests and the benchmarks all use. ``serve`` loads on first use so the pure
modules import without grpc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import serve

__all__ = ["serve"]


def __getattr__(name: str) -> Any:
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
