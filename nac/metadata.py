"""Artifact metadata and metric values that every consumer can store: the one sanitising place.

Why: KFP's executor writes an artifact's metadata with `json.dumps`, so Python `None` becomes
JSON `null` and a NaN or infinite float becomes the bare token `NaN`/`Infinity`. kfp.local
accepts both, but the 2.17 launcher on a cluster does not: it parses executor_output.json with
Go's protojson (strict JSON: no `NaN`), and converts each metadata value to an MLMD property
with `StructValueToMLMDValue`, which has no case for null (backend/src/v2/metadata/converter.go;
the rules are in tests/conformance/kfp_launcher.py). Either failure fails the step *after*
the user code succeeded. Every component writes metadata and metrics through `clean` /
`update_metadata`, so a missing value is simply absent and a non-finite number is dropped
(and named, so the caller can say so) instead of breaking the run.

This module never imports kfp: nac.data.steps and the components both use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["clean", "update_metadata"]


def _plain(value: Any) -> Any:
    """numpy scalars and arrays -> Python values (without importing numpy)."""
    if hasattr(value, "tolist") and type(value).__module__ == "numpy":
        return value.tolist()
    return value


def _clean(value: Any, where: str, dropped: list[str]) -> tuple[bool, Any]:
    """(keep, cleaned value) for one value at key path `where`."""
    value = _plain(value)
    if value is None:
        dropped.append(f"{where}=None")
        return False, None
    if isinstance(value, bool | str | int):
        return True, value
    if isinstance(value, float):
        if not math.isfinite(value):
            dropped.append(f"{where}={value}")
            return False, None
        return True, value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"metadata key {where}.{key!r} is a {type(key).__name__}; "
                                "use string keys")
            keep, cleaned = _clean(item, f"{where}.{key}" if where else key, dropped)
            if keep:
                out[key] = cleaned
        return True, out
    if isinstance(value, list | tuple):
        items = []
        for i, item in enumerate(value):
            keep, cleaned = _clean(item, f"{where}[{i}]", dropped)
            if keep:
                items.append(cleaned)
        return True, items
    raise TypeError(f"metadata value {where} is a {type(value).__name__} ({value!r}); store a "
                    "str, number, bool, list or dict (e.g. str(path) for a path)")


def clean(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`values` with None and non-finite numbers removed at any depth, tuples as lists.

    Returns the cleaned mapping and the dropped entries (`"a.b=None"`, `"val_loss=nan"`), so
    a caller can tell the user what was left out. Other non-JSON types raise TypeError naming
    the key.
    """
    dropped: list[str] = []
    _, out = _clean(dict(values), "", dropped)
    return out, dropped


def update_metadata(artifact: object, values: Mapping[str, Any]) -> list[str]:
    """Merge the cleaned `values` into `artifact.metadata` (when it has a dict); return drops."""
    cleaned, dropped = clean(values)
    metadata = getattr(artifact, "metadata", None)
    if isinstance(metadata, dict):
        metadata.update(cleaned)
    return dropped
