"""The one header check for every versioned JSON document this project reads.

Every file format here (docs/contracts.md) starts with `{"format": NAME, "version": N, ...}`:
architectures, datasets, models, compression reports, checkpoints, results files. Each reader
used to check the pair in its own words; they now all call `check_header`, so a wrong file
gets the same message everywhere: what was found, what was expected, and what to do.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_header", "header"]


def header(format_name: str, version: int) -> dict[str, Any]:
    """The first two keys of a document of this format (writers spread it into their dict)."""
    return {"format": format_name, "version": version}


def check_header(doc: Any, format_name: str, version: int | tuple[int, ...], *, where: str,
                 error: type[Exception] = ValueError, hint: str = "") -> dict[str, Any]:
    """Return `doc` when it is a dict whose "format"/"version" match; raise `error` otherwise.

    `where` names the file or field in the message (e.g. a path); `version` may be a tuple of
    versions this reader accepts; `hint` is appended to the message to say how to get a file of
    the right kind (e.g. "write it with `python -m katib.local`").
    """
    accepted = version if isinstance(version, tuple) else (version,)
    tail = f"; {hint}" if hint else ""
    if not isinstance(doc, dict):
        raise error(f"{where}: expected a JSON object with \"format\": {format_name!r}, "
                    f"got {type(doc).__name__}{tail}")
    if doc.get("format") != format_name:
        raise error(f"{where}: \"format\" is {doc.get('format')!r}, expected {format_name!r}{tail}")
    if doc.get("version") not in accepted:
        known = ", ".join(str(v) for v in accepted)
        raise error(f"{where}: \"version\" {doc.get('version')!r} of {format_name!r} is not "
                    f"supported; this reader knows version {known} (written by a newer or "
                    f"older release: re-create the file with this release){tail}")
    return doc
