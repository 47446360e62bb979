"""Trial entrypoint (``python -u -m katib.trial``; docs/contracts.md §3)."""

from __future__ import annotations

from .cli import main

__all__ = ["main"]
