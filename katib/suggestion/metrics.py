"""Katib metric values (strings, possibly ``"unavailable"``) as numbers.

Pure Python with no imports beyond the standard library: shared by the suggestion service,
the local runner (``katib.local``) and its collector.
"""

from __future__ import annotations

import math


def parse_metric(text: str | None) -> float | None:
    """A finite float, or None for missing, ``"unavailable"``, non-numeric, NaN or infinite."""
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
