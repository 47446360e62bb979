"""Atomic writes: a reader (or a restarted step) sees the old content or the new, never a torn file.

Everything that leaves an artifact, checkpoint or results file behind goes through here, so a
killed process never leaves a half-written file under its final name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_directory", "atomic_file", "write_text_atomic"]


@contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path` for writing; on success fsync it and rename onto `path`.

    The temporary name is `.<name>.<random>.tmp`, so readers globbing for the final name never
    see it, and a cleaner can find leftovers of a killed writer.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from other readers
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_file(path) as fh:
        fh.write(text)


@contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary sibling directory; on success it replaces `path`.

    An existing directory at `path` (KFP pre-creates empty output directories) or an earlier
    artifact is swapped out and removed only once the new one is in place; on failure the
    temporary directory is removed and `path` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # noqa: S103 - mkdtemp's 0700 would hide the artifact from readers
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap_in(new: Path, target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        # os.replace onto a non-empty directory fails: move the old one aside first.
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.replace(target, old / "prev")
        try:
            os.replace(new, target)
        except BaseException:
            os.replace(old / "prev", target)
            raise
        finally:
            shutil.rmtree(old, ignore_errors=True)
        return
    if target.exists() or target.is_symlink():
        target.unlink()
    os.replace(new, target)
