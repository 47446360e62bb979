"""The one exception type of `nac.data`: bad user input, with a message naming the fix."""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """Bad data or bad data parameters.

    The message always names what is wrong (file, row, column, field) and what to do about it,
    because components and the CLI print it as the whole user-facing error (no traceback).
    """
