"""The architecture document's vocabulary and rules: ops, field checks, whole-spec validation.

Split from nac/spec.py (which keeps the dataclasses, the JSON form and the builders) so each
stays readable; `from nac.spec import SpecError, OPS, ...` is still how callers import these.
Pure Python, like nac/spec.py. Every rule raises `SpecError` whose `path` is the JSON path of
the offending field (`stages[1].cells[0].inputs[2]`) and whose message says what to do.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from nac.errors import FieldError

if TYPE_CHECKING:
    from nac.spec import ArchitectureSpec, Cell

__all__ = ["ENVELOPE_OPS", "OPS", "RANDOM_OPS", "SpecError", "branch_key", "cell_widths",
           "gate_key", "validate_spec"]

#: Every branch op the builder knows: kernel size, and whether it is depthwise-separable.
OPS: dict[str, tuple[int, bool]] = {
    "1x1": (1, False),
    "3x3": (3, False),
    "3x3sep": (3, True),
    "5x5": (5, False),
    "5x5sep": (5, True),
    "7x7sep": (7, True),
    "7x7": (7, False),
}
#: The full EnvelopeCell of every shipped reference config (AMLA `envelopecell`).
ENVELOPE_OPS: tuple[str, ...] = ("1x1", "3x3", "3x3sep", "5x5", "5x5sep", "7x7sep")
#: Ops the reference's `random` algorithm samples from (reference/nac.md §1.11).
RANDOM_OPS: tuple[str, ...] = ("3x3", "3x3sep", "5x5", "5x5sep", "7x7", "7x7sep")
#: Stem kernels accepted (odd, so SAME padding is symmetric).
STEM_KERNELS = (1, 3, 5, 7)


def branch_key(cell_id: str, op: str) -> str:
    """Statistic key of one branch, e.g. `c3/5x5sep`."""
    return f"{cell_id}/{op}"


def gate_key(source_id: str, dest_id: str) -> str:
    """Statistic key of one skip gate, e.g. `c1>c4`."""
    return f"{source_id}>{dest_id}"


def cell_widths(stage_width: int, n_cells: int, parameter_limits: bool = False) -> list[int]:
    """Widths of a stage's cells (reference/nac.md §1.3).

    Every cell gets the stage width; with `parameter_limits` the inner cells get
    `floor(W / (L-2) * (sqrt(L-1) - 1))` (at least 1) and the last cell W. The reference divides
    by zero at L = 2; here stages of two or fewer cells keep full width.
    """
    if not parameter_limits or n_cells <= 2:
        return [stage_width] * n_cells
    inner = max(1, int(stage_width / (n_cells - 2) * (math.sqrt(n_cells - 1) - 1)))
    return [inner] * (n_cells - 1) + [stage_width]


class SpecError(FieldError):
    """An invalid architecture document; `path` is the offending field's JSON path and the
    message starts with it (`stages[0].cells[1].id: ...`)."""


# -- field checks (used by the parser in nac/spec.py and by validate_spec) -------------------
def require(doc: dict, key: str, path: str) -> Any:
    if key not in doc:
        raise SpecError(f"{path}{key}", "missing (required)")
    return doc[key]


def check_keys(doc: Any, allowed: set[str], path: str) -> dict:
    where = path or "architecture"
    if not isinstance(doc, dict):
        raise SpecError(where, f"must be a JSON object, got {type(doc).__name__}")
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise SpecError(where, f"unknown field {unknown[0]!r} (expected only "
                        f"{', '.join(sorted(allowed))})")
    return doc


def int_field(value: Any, path: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(path, f"must be an integer, got {value!r}")
    if value < minimum:
        raise SpecError(path, f"must be >= {minimum}, got {value}")
    return value


def bool_field(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(path, f"must be true or false, got {value!r}")
    return value


def prob_field(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0 <= value < 1):
        raise SpecError(path, f"must be a number in [0, 1), got {value!r}")
    return float(value)


def list_field(value: Any, path: str) -> list:
    if not isinstance(value, list):
        raise SpecError(path, f"must be a list, got {type(value).__name__}")
    return value


def id_string(value: Any, path: str) -> str:
    """A cell/widener id or an `inputs` entry as the document holds it: a string."""
    if not isinstance(value, str):
        raise SpecError(path, f"must be a string, got {value!r}")
    return value


def check_ops(ops: Any, path: str) -> tuple[str, ...]:
    """A non-empty list of known ops (each unknown one named with its index)."""
    if not ops:
        raise SpecError(path, "must list at least one op")
    for i, op in enumerate(ops):
        if op not in OPS:
            raise SpecError(f"{path}[{i}]", f"unknown op {op!r} (expected one of "
                            f"{', '.join(OPS)})")
    return tuple(ops)


def check_id(value: Any, path: str, seen: dict[str, str]) -> None:
    if not isinstance(value, str) or not value or any(ch in value for ch in "/> \t\n"):
        raise SpecError(path, "must be a non-empty string without '/', '>' or spaces, "
                        f"got {value!r}")
    if value in seen:
        raise SpecError(path, f"id {value!r} is already used by {seen[value]}; ids are unique")


# -- whole-document validation --------------------------------------------------------------
def validate_spec(spec: ArchitectureSpec) -> None:
    """Whole-document checks, also run for specs built in Python (`ArchitectureSpec` init)."""
    if len(spec.input_shape) != 3:
        raise SpecError("input_shape", f"must be [C, H, W], got {list(spec.input_shape)!r}")
    for i, v in enumerate(spec.input_shape):
        int_field(v, f"input_shape[{i}]")
    int_field(spec.num_classes, "num_classes", minimum=2)
    if spec.stem.kernel not in STEM_KERNELS or isinstance(spec.stem.kernel, bool):
        raise SpecError("stem.kernel", f"must be one of {STEM_KERNELS}, got {spec.stem.kernel!r}")
    int_field(spec.stem.channels, "stem.channels")
    bool_field(spec.stem.lrn, "stem.lrn")
    prob_field(spec.head.dropout, "head.dropout")
    prob_field(spec.branch_dropout, "branch_dropout")
    bool_field(spec.skip, "skip")
    check_ops(spec.envelope, "envelope")
    if len(set(spec.envelope)) != len(spec.envelope):
        raise SpecError("envelope", f"lists an op twice: {list(spec.envelope)}")
    if not spec.stages:
        raise SpecError("stages", "must hold at least one stage")
    seen: dict[str, str] = {}  # id -> path, in network order
    order: list[str] = []
    last = len(spec.stages) - 1
    for s, stage in enumerate(spec.stages):
        p = f"stages[{s}]"
        int_field(stage.width, p + ".width")
        if not stage.cells:
            raise SpecError(p + ".cells", "must hold at least one cell")
        for c, cell in enumerate(stage.cells):
            _validate_cell(cell, f"{p}.cells[{c}]", spec.skip, seen, order)
        if s == last and stage.widener is not None:
            raise SpecError(p + ".widener", "the last stage has no widener; set it to null")
        if s != last and stage.widener is None:
            raise SpecError(p + ".widener", "required between stages (give an id and channels)")
        if stage.widener is not None:
            check_id(stage.widener.id, p + ".widener.id", seen)
            int_field(stage.widener.channels, p + ".widener.channels")
            seen[stage.widener.id] = p + ".widener"
            order.append(stage.widener.id)


def _validate_cell(cell: Cell, cp: str, skip: bool, seen: dict[str, str],
                   order: list[str]) -> None:
    """One cell at path `cp`; `seen`/`order` hold the earlier ids and grow by this one."""
    check_id(cell.id, cp + ".id", seen)
    check_ops(cell.ops, cp + ".ops")
    if len(set(cell.ops)) != len(cell.ops):
        dup = next(op for op in cell.ops if cell.ops.count(op) > 1)
        raise SpecError(cp + ".ops", f"op {dup!r} appears twice; a cell has at most one "
                        "branch per op")
    int_field(cell.width, cp + ".width")
    if cell.width < len(cell.ops):
        raise SpecError(cp + ".width", f"{cell.width} is less than its {len(cell.ops)} "
                        "branches; each branch needs at least one channel")
    if cell.inputs and not skip:
        raise SpecError(cp + ".inputs", "must be empty when skip is false")
    direct = order[-1] if order else None
    for i, src in enumerate(cell.inputs):
        ip = f"{cp}.inputs[{i}]"
        if src == cell.id:
            raise SpecError(ip, f"a cell cannot take its own output ({src!r})")
        if src not in seen:
            raise SpecError(ip, f"{src!r} is not an earlier cell or widener id "
                            f"(earlier: {', '.join(order) or 'none'})")
        if src == direct:
            raise SpecError(ip, f"{src!r} is the direct predecessor, which is "
                            "always the direct input; remove it from inputs")
    if len(set(cell.inputs)) != len(cell.inputs):
        raise SpecError(cp + ".inputs", f"lists a source twice: {list(cell.inputs)}")
    seen[cell.id] = cp
    order.append(cell.id)
