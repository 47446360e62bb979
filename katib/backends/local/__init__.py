"""Local backend: the same Experiment document run on one machine by `katib.local`."""

from __future__ import annotations

from katib.backends.local.backend import LocalBackend
from katib.backends.local.types import LocalBackendConfig

__all__ = ["LocalBackend", "LocalBackendConfig"]
