"""The one exception type of `nac.data`: bad user input, with a message naming the fix."""

from __future__ import annotations

from typing import Any

__all__ = ["NO_LABEL_COLUMN", "DataError"]

#: `DataError.kind` of a labelled-source reader that found no label column (a caller such as
#: batch prediction may then read the rows as unlabelled features instead).
NO_LABEL_COLUMN = "no_label_column"


class DataError(ValueError):
    """Bad data or bad data parameters.

    The message always names what is wrong (file, row, column, field) and what to do about it,
    because components and the CLI print it as the whole user-facing error (no traceback).
    `kind` tells callers that handle one case apart which case this is (e.g. NO_LABEL_COLUMN),
    so no caller branches on the message text; "" for every other error.
    """

    def __init__(self, message: str, *, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind

    def __reduce__(self) -> tuple[Any, ...]:  # keep `kind` across processes
        return type(self), (str(self),), {"kind": self.kind}
