"""Katib suggestion service: ``nac`` (NAS) and ``warm-start`` (HPO) algorithms.

Run it with ``python -m katib.suggestion``; embed it with :func:`serve`.
"""

from __future__ import annotations

from .server import serve
from .service import SuggestionServicer

__all__ = ["SuggestionServicer", "serve"]
