"""Label encoding: any labels (ints, numeric strings, names) -> contiguous int64 class indices.

Class order is what a person expects: numbers numerically ("2" before "10"), names in natural
order ("class2" before "class10"), so class index i means the same thing on every run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import numpy as np

from nac.data.errors import DataError

__all__ = ["class_sort_key", "encode_labels"]

_DIGITS = re.compile(r"(\d+)")


def _as_integer(value: object) -> int | None:
    """The integer a label spells (7, "7", "7.0", 7.0), or None when it is a name."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number) or not number.is_integer():
        return None
    return int(number)


def class_sort_key(name: str) -> tuple:
    """Natural sort key: digit runs compare as numbers, the rest case-insensitively."""
    parts = _DIGITS.split(name)
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in parts if p) + (name,)


def encode_labels(values: Sequence[object] | Iterable[object],
                  what: str = "labels") -> tuple[np.ndarray, list[str]]:
    """Map raw labels to (y int64, sorted class names).

    All-integer labels (7, "7", "7.0") become classes named by the integer, sorted
    numerically; anything else is taken as names, sorted naturally.
    """
    raw = list(values)
    if not raw:
        raise DataError(f"{what}: no labels given; the data has no rows")
    for i, v in enumerate(raw):
        if v is None or (isinstance(v, str) and not v.strip()):
            raise DataError(f"{what}: label number {i + 1} is empty; every row needs a label")
    ints = [_as_integer(v) for v in raw]
    if all(i is not None for i in ints):
        names = [str(i) for i in ints]
        classes = [str(i) for i in sorted(set(ints))]  # type: ignore[type-var]
    else:
        names = [str(v).strip() for v in raw]
        classes = sorted(set(names), key=class_sort_key)
    index = {name: i for i, name in enumerate(classes)}
    y = np.fromiter((index[n] for n in names), dtype=np.int64, count=len(names))
    return y, classes
