"""`FieldError`: bad input that belongs to one named field, with the field as data.

The message is always `"<field>: <problem and fix>"`, as every reader here words it; callers
that re-label the field for their own users (the trial CLI shows `--batch-size` for
`batch_size`) read `path` and `problem` instead of splitting the message text.
"""

from __future__ import annotations

__all__ = ["FieldError"]


class FieldError(ValueError):
    """A bad value at `path` (a setting name or a JSON path such as `stages[1].cells[0].ops`)."""

    def __init__(self, path: str, problem: str | None = None) -> None:
        if problem is None:  # one "<path>: <problem>" message, as nac.documents.check_header
            path, _, problem = path.partition(": ")  # raises it (its `where` is the path)
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # picklable across processes
        return type(self), (self.path, self.problem)
