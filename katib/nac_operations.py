"""Katib's ENAS-style ``nasConfig.operations`` <-> our branch ops, both directions in one place.

Katib describes a NAS search space as operations with parameters; the `nac` algorithm reads
``convolution`` and ``separable_convolution`` with one ``filter_size`` parameter:
``convolution`` with filter_size k is the branch op ``kxk``, ``separable_convolution`` with k is
``kxksep`` (nac.spec ``OPS``). :func:`ops_from_operations` is what the suggestion reads
(Katib -> ours, in ``OPS`` order); :func:`operations_from_ops` is what ``katib/experiments.py``
writes (ours -> Katib, the CR's camelCase shape). They are inverses on branch-op tuples in
``OPS`` order (tests/katib/suggestion/test_nac_operations.py). Pure Python: the suggestion
image and the components both import it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["CONVOLUTION", "FILTER_SIZE", "FILTER_SIZES", "SEPARABLE", "operations_from_ops",
           "ops_from_operations"]

CONVOLUTION = "convolution"
SEPARABLE = "separable_convolution"
#: The one operation parameter `nac` reads (widths come from stem_channels, strides from the
#: wideners).
FILTER_SIZE = "filter_size"
#: Filter sizes each operation type maps onto.
FILTER_SIZES = {CONVOLUTION: (1, 3, 5, 7), SEPARABLE: (3, 5, 7)}
_BRANCH_OP = re.compile(r"(\d)x\1(sep)?")


def ops_from_operations(operations: Iterable[tuple[str, Iterable[int]]]) -> tuple[str, ...]:
    """Branch ops of ``(operationType, filter sizes)`` pairs, in nac.spec ``OPS`` order.

    Raises ValueError naming the operation and the allowed values.
    """
    from nac.spec import OPS

    wanted: set[str] = set()
    for op_type, sizes in operations:
        allowed = FILTER_SIZES.get(op_type)
        if allowed is None:
            raise ValueError(
                f"nasConfig.operations: operationType {op_type!r} is not supported by nac; use "
                f"{CONVOLUTION} (filter_size 1,3,5,7) or {SEPARABLE} (filter_size 3,5,7)")
        for size in sizes:
            if size not in allowed:
                raise ValueError(
                    f"nasConfig.operations[{op_type}]: filter_size {size} is not supported; "
                    f"allowed: {', '.join(map(str, allowed))}")
            wanted.add(f"{size}x{size}" + ("sep" if op_type == SEPARABLE else ""))
    return tuple(name for name in OPS if name in wanted)


def operations_from_ops(ops: Iterable[str]) -> list[dict[str, Any]]:
    """Branch ops (``3x3``, ``5x5sep``, ...) as Katib Experiment ``nasConfig.operations``:
    ``convolution`` / ``separable_convolution``, each with a categorical ``filter_size`` list."""
    sizes: dict[str, list[str]] = {CONVOLUTION: [], SEPARABLE: []}
    for op in ops:
        m = _BRANCH_OP.fullmatch(op)
        if m is None:
            raise ValueError(f"op {op!r} is not a branch op like 3x3 or 5x5sep")
        sizes[SEPARABLE if m.group(2) else CONVOLUTION].append(m.group(1))
    return [{"operationType": kind, "parameters": [
        {"name": FILTER_SIZE, "parameterType": "categorical",
         "feasibleSpace": {"list": values}}]} for kind, values in sizes.items() if values]
