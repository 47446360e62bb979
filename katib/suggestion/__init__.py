"""Katib suggestion service: ``nac`` (NAS) and ``warm-start`` (HPO) algorithms.

Run it with ``python -m katib.suggestion``; embed it with :func:`serve`.

``serve`` and ``SuggestionServicer`` load on first use, so the light submodules
(``constants``, ``metrics``) can be shared by ``katib.local`` and ``katib.backends``
without importing grpc and the generated stubs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import serve
    from .service import SuggestionServicer

__all__ = ["SuggestionServicer", "serve"]


def __getattr__(name: str) -> Any:
    if name == "serve":
        from .server import serve

        return serve
    if name == "SuggestionServicer":
        from .service import SuggestionServicer

        return SuggestionServicer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
