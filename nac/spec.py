"""The architecture spec (`nac-architecture`, version 1; docs/contracts.md §2). Pure Python.

One JSON document describes an EnvelopeNet-family network. It is what the `nac` suggestion
emits, what a trial and the final training build (`nac.model.build_model`), and what ships with
the model. This module has no torch import so the suggestion image stays lean.

Schema (every key required unless marked optional)::

    {"format": "nac-architecture", "version": 1,
     "input_shape": [C, H, W],              # positive ints
     "num_classes": K,                      # int >= 2
     "envelope": ["1x1", "3x3", ...],       # ops of a full cell (what expansion appends)
     "skip": true,                          # gated skip inputs + 1x1 bottleneck in every cell
     "branch_dropout": 0.2,                 # dropout after each branch (reference keep 0.8)
     "stem": {"kernel": 1, "channels": 64, "lrn": true},
     "stages": [{"width": 64,               # nominal cell width of the stage
                 "cells": [{"id": "c1", "ops": ["1x1", "3x3", ...], "width": 64,
                            "inputs": ["c0", "w1", ...]}, ...],
                 "widener": {"id": "w1", "channels": 64} | null}, ...],
     "head": {"dropout": 0.2}}

Semantics (reference/nac.md §1.2-1.3):

- Network order is stem, then per stage its cells followed by its widener (absent after the
  last stage), then the head. Cell and widener ids are unique and stable across restructuring.
- A cell runs every op in `ops` as a branch of `width // len(ops)` channels (conv or
  depthwise-separable conv without bias -> BN -> ReLU -> dropout) and concatenates the branches
  in the listed order. Ops: `1x1 3x3 3x3sep 5x5 5x5sep 7x7sep` (+ `7x7` for random baselines).
- `inputs` lists earlier cell/widener ids (never the stem, never the direct predecessor, which
  is always the direct input). Each is max-pooled to size, scaled by a learnable scalar gate and
  concatenated with the direct input; a 1x1 conv (bias + ReLU) maps back to the direct input's
  channel count. With `skip: false` there is no bottleneck and `inputs` must be empty.
- A widener concatenates a 2x2/2 max-pool of its input with a 3x3/2 conv of `channels` outputs.
- Statistics are keyed by branch key `"<cell id>/<op>"` and gate key `"<source id>><dest id>"`.

Public API: `ArchitectureSpec` (+ `Stem`, `Cell`, `Widener`, `Stage`, `Head`), `SpecError`,
`OPS`, `ENVELOPE_OPS`, `RANDOM_OPS`, `initial_envelopenet`, `cell_widths`, `branch_key`,
`gate_key`, `parse_architecture`.
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ENVELOPE_OPS",
    "FORMAT",
    "OPS",
    "RANDOM_OPS",
    "VERSION",
    "ArchitectureSpec",
    "Cell",
    "Head",
    "SpecError",
    "Stage",
    "Stem",
    "Widener",
    "branch_key",
    "cell_widths",
    "gate_key",
    "initial_envelopenet",
    "parse_architecture",
]

#: Value of the document's "format" field.
FORMAT = "nac-architecture"
#: Value of the document's "version" field; readers refuse any other.
VERSION = 1
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
_STEM_KERNELS = (1, 3, 5, 7)


class SpecError(ValueError):
    """An invalid architecture document; the message starts with the offending field path."""


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


@dataclass(frozen=True)
class Stem:
    """First layer: a `kernel`x`kernel` conv (bias + ReLU), optionally followed by LRN."""

    kernel: int = 1
    channels: int = 64
    lrn: bool = True


@dataclass(frozen=True)
class Cell:
    """One EnvelopeCell: parallel branches `ops`, total `width`, gated skip `inputs`."""

    id: str
    ops: tuple[str, ...]
    width: int
    inputs: tuple[str, ...] = ()

    @property
    def branch_width(self) -> int:
        """Channels of each branch: floor(width / number of branches)."""
        return self.width // len(self.ops)

    @property
    def out_channels(self) -> int:
        return self.branch_width * len(self.ops)

    @property
    def branch_keys(self) -> list[str]:
        return [branch_key(self.id, op) for op in self.ops]

    @property
    def gate_keys(self) -> list[str]:
        return [gate_key(src, self.id) for src in self.inputs]


@dataclass(frozen=True)
class Widener:
    """Downsampling between stages: maxpool 2x2/2 || conv 3x3/2 with `channels` outputs."""

    id: str
    channels: int


@dataclass(frozen=True)
class Stage:
    """Cells at one resolution, followed by a widener unless it is the last stage."""

    width: int
    cells: tuple[Cell, ...]
    widener: Widener | None = None


@dataclass(frozen=True)
class Head:
    """Global average pool -> dropout -> linear classifier."""

    dropout: float = 0.2


@dataclass(frozen=True)
class ArchitectureSpec:
    """A validated, immutable architecture document (see the module docstring)."""

    input_shape: tuple[int, int, int]
    num_classes: int
    stages: tuple[Stage, ...]
    stem: Stem = field(default_factory=Stem)
    head: Head = field(default_factory=Head)
    envelope: tuple[str, ...] = ENVELOPE_OPS
    skip: bool = True
    branch_dropout: float = 0.2

    def __post_init__(self) -> None:
        _validate(self)

    # -- views --------------------------------------------------------------------------
    def entries(self) -> Iterator[tuple[int, Cell | Widener]]:
        """(stage index, cell or widener) in network order (stem and head excluded)."""
        for s, stage in enumerate(self.stages):
            for cell in stage.cells:
                yield s, cell
            if stage.widener is not None:
                yield s, stage.widener

    def cells(self) -> list[Cell]:
        return [c for stage in self.stages for c in stage.cells]

    def cell(self, cell_id: str) -> Cell:
        for c in self.cells():
            if c.id == cell_id:
                return c
        raise KeyError(cell_id)

    def branch_keys(self) -> list[str]:
        """Every branch key in network order."""
        return [k for c in self.cells() for k in c.branch_keys]

    def gate_keys(self) -> list[str]:
        """Every skip-gate key in network order."""
        return [k for c in self.cells() for k in c.gate_keys]

    def cells_per_stage(self) -> list[int]:
        return [len(stage.cells) for stage in self.stages]

    def branch_counts(self) -> list[int]:
        """Total branches per stage (the quantity the reference's worked trace tracks)."""
        return [sum(len(c.ops) for c in stage.cells) for stage in self.stages]

    def branches_per_cell(self) -> list[list[int]]:
        return [[len(c.ops) for c in stage.cells] for stage in self.stages]

    def describe(self) -> str:
        """One line, e.g. `stage0 3+2+6 | stage1 6+6 | stage2 6+6`."""
        return " | ".join(
            f"stage{s} " + "+".join(str(n) for n in counts)
            for s, counts in enumerate(self.branches_per_cell())
        )

    # -- JSON -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The JSON document (plain dicts and lists, stable key order)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "envelope": list(self.envelope),
            "skip": self.skip,
            "branch_dropout": self.branch_dropout,
            "stem": {"kernel": self.stem.kernel, "channels": self.stem.channels,
                     "lrn": self.stem.lrn},
            "stages": [
                {
                    "width": stage.width,
                    "cells": [
                        {"id": c.id, "ops": list(c.ops), "width": c.width,
                         "inputs": list(c.inputs)}
                        for c in stage.cells
                    ],
                    "widener": None if stage.widener is None else
                    {"id": stage.widener.id, "channels": stage.widener.channels},
                }
                for stage in self.stages
            ],
            "head": {"dropout": self.head.dropout},
        }

    def dumps(self, *, indent: int | None = None) -> str:
        """JSON text; compact (no spaces) unless `indent` is given."""
        if indent is None:
            return json.dumps(self.to_json(), separators=(",", ":"))
        return json.dumps(self.to_json(), indent=indent)

    def to_b64(self) -> str:
        """`b64:<base64url of compact JSON>`: shell-safe form for Katib trial commands."""
        raw = base64.urlsafe_b64encode(self.dumps().encode("utf-8")).decode("ascii")
        return "b64:" + raw.rstrip("=")

    @classmethod
    def from_json(cls, doc: Any) -> ArchitectureSpec:
        """Parse and validate a document (dict or JSON text); raises `SpecError`."""
        if isinstance(doc, str | bytes):
            try:
                doc = json.loads(doc)
            except json.JSONDecodeError as e:
                raise SpecError(f"architecture: not valid JSON ({e})") from e
        return _parse(doc)


# ----------------------------------------------------------------------------------------
# Builders
# ----------------------------------------------------------------------------------------
def initial_envelopenet(
    input_shape: Sequence[int],
    num_classes: int,
    *,
    stages: int = 3,
    layers_per_stage: Sequence[int] = (2, 2, 2),
    stem_channels: int = 64,
    stem_kernel: int = 1,
    lrn: bool = True,
    envelope: Sequence[str] = ENVELOPE_OPS,
    skip: bool = True,
    parameter_limits: Sequence[bool] | None = None,
    branch_dropout: float = 0.2,
    head_dropout: float = 0.2,
) -> ArchitectureSpec:
    """The base EnvelopeNet (reference/nac.md §1.3, AMLA construction defaults).

    Stage s has `layers_per_stage[s]` full cells of width `2**s * stem_channels`; a widener with
    `2**s * stem_channels` conv outputs follows every stage but the last. With `skip`, the cell at
    network position i gets inputs from every entry at positions 0..i-2 (dense, stem excluded).
    """
    if len(layers_per_stage) != stages:
        raise SpecError(f"layers_per_stage: has {len(layers_per_stage)} entries but stages is "
                        f"{stages}; give one cell count per stage")
    limits = list(parameter_limits) if parameter_limits is not None else [False] * stages
    if len(limits) != stages:
        raise SpecError(f"parameter_limits: has {len(limits)} entries but stages is {stages}")
    built: list[Stage] = []
    order: list[str] = []  # ids in network order, for dense skips
    next_cell = 1
    for s in range(stages):
        width = (2 ** s) * stem_channels
        widths = cell_widths(width, int(layers_per_stage[s]), bool(limits[s]))
        cells = []
        for w in widths:
            cid = f"c{next_cell}"
            next_cell += 1
            inputs = tuple(order[:-1]) if skip else ()
            cells.append(Cell(id=cid, ops=tuple(envelope), width=w, inputs=inputs))
            order.append(cid)
        widener = None
        if s != stages - 1:
            widener = Widener(id=f"w{s + 1}", channels=width)
            order.append(widener.id)
        built.append(Stage(width=width, cells=tuple(cells), widener=widener))
    return ArchitectureSpec(
        input_shape=tuple(int(v) for v in input_shape),  # type: ignore[arg-type]
        num_classes=int(num_classes),
        stages=tuple(built),
        stem=Stem(kernel=stem_kernel, channels=stem_channels, lrn=lrn),
        head=Head(dropout=head_dropout),
        envelope=tuple(envelope),
        skip=skip,
        branch_dropout=branch_dropout,
    )


def parse_architecture(text: str) -> ArchitectureSpec:
    """Read a spec given as JSON text, `b64:<base64url JSON>` or `@<path to a JSON file>`."""
    text = text.strip()
    if text.startswith("b64:"):
        payload = text[4:]
        try:
            raw = base64.b64decode(payload + "=" * (-len(payload) % 4), altchars=b"-_",
                                   validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as e:
            raise SpecError(f"architecture: the b64: payload is not base64url-encoded UTF-8 "
                            f"({e}); pass the value the nac suggestion emitted") from e
        return ArchitectureSpec.from_json(raw)
    if text.startswith("@"):
        path = Path(os.path.expanduser(text[1:]))
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SpecError(f"architecture: cannot read {path} ({e.strerror})") from e
        return ArchitectureSpec.from_json(raw)
    return ArchitectureSpec.from_json(text)


# ----------------------------------------------------------------------------------------
# Parsing and validation
# ----------------------------------------------------------------------------------------
_TOP_KEYS = {"format", "version", "input_shape", "num_classes", "envelope", "skip",
             "branch_dropout", "stem", "stages", "head"}


def _require(doc: dict, key: str, path: str) -> Any:
    if key not in doc:
        raise SpecError(f"{path}{key}: missing (required)")
    return doc[key]


def _check_keys(doc: Any, allowed: set[str], path: str) -> dict:
    where = path or "architecture"
    if not isinstance(doc, dict):
        raise SpecError(f"{where}: must be a JSON object, got {type(doc).__name__}")
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown field {unknown[0]!r} (expected only "
                        f"{', '.join(sorted(allowed))})")
    return doc


def _int(value: Any, path: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{path}: must be an integer, got {value!r}")
    if value < minimum:
        raise SpecError(f"{path}: must be >= {minimum}, got {value}")
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"{path}: must be true or false, got {value!r}")
    return value


def _prob(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0 <= value < 1):
        raise SpecError(f"{path}: must be a number in [0, 1), got {value!r}")
    return float(value)


def _list(value: Any, path: str) -> list:
    if not isinstance(value, list):
        raise SpecError(f"{path}: must be a list, got {type(value).__name__}")
    return value


def _ops(value: Any, path: str) -> tuple[str, ...]:
    ops = _list(value, path)
    if not ops:
        raise SpecError(f"{path}: must list at least one op")
    for i, op in enumerate(ops):
        if op not in OPS:
            raise SpecError(f"{path}[{i}]: unknown op {op!r} (expected one of "
                            f"{', '.join(OPS)})")
    return tuple(ops)


def _parse(doc: Any) -> ArchitectureSpec:
    doc = _check_keys(doc, _TOP_KEYS, "")
    fmt = _require(doc, "format", "")
    if fmt != FORMAT:
        raise SpecError(f"format: is {fmt!r}, expected {FORMAT!r}")
    version = _require(doc, "version", "")
    if version != VERSION:
        raise SpecError(f"version: is {version!r}; this reader knows only version {VERSION} "
                        "(upgrade the nac package or regenerate the spec)")
    shape = _list(_require(doc, "input_shape", ""), "input_shape")
    if len(shape) != 3:
        raise SpecError(f"input_shape: must be [C, H, W], got {shape!r}")
    shape_t = tuple(_int(v, f"input_shape[{i}]") for i, v in enumerate(shape))
    stem_doc = _check_keys(_require(doc, "stem", ""), {"kernel", "channels", "lrn"}, "stem")
    head_doc = _check_keys(_require(doc, "head", ""), {"dropout"}, "head")
    stages = []
    for s, sdoc in enumerate(_list(_require(doc, "stages", ""), "stages")):
        p = f"stages[{s}]"
        sdoc = _check_keys(sdoc, {"width", "cells", "widener"}, p)
        cells = []
        for c, cdoc in enumerate(_list(_require(sdoc, "cells", p + "."), p + ".cells")):
            cp = f"{p}.cells[{c}]"
            cdoc = _check_keys(cdoc, {"id", "ops", "width", "inputs"}, cp)
            cid = _require(cdoc, "id", cp + ".")
            if not isinstance(cid, str):
                raise SpecError(f"{cp}.id: must be a string, got {cid!r}")
            inputs = _list(cdoc.get("inputs", []), cp + ".inputs")
            for i, src in enumerate(inputs):
                if not isinstance(src, str):
                    raise SpecError(f"{cp}.inputs[{i}]: must be an id string, got {src!r}")
            cells.append(Cell(id=cid, ops=_ops(_require(cdoc, "ops", cp + "."), cp + ".ops"),
                              width=_int(_require(cdoc, "width", cp + "."), cp + ".width"),
                              inputs=tuple(inputs)))
        wdoc = sdoc.get("widener")
        widener = None
        if wdoc is not None:
            wp = p + ".widener"
            wdoc = _check_keys(wdoc, {"id", "channels"}, wp)
            wid = _require(wdoc, "id", wp + ".")
            if not isinstance(wid, str):
                raise SpecError(f"{wp}.id: must be a string, got {wid!r}")
            widener = Widener(id=wid, channels=_int(_require(wdoc, "channels", wp + "."),
                                                    wp + ".channels"))
        stages.append(Stage(width=_int(_require(sdoc, "width", p + "."), p + ".width"),
                            cells=tuple(cells), widener=widener))
    return ArchitectureSpec(
        input_shape=shape_t,  # type: ignore[arg-type]
        num_classes=_int(_require(doc, "num_classes", ""), "num_classes", minimum=2),
        stages=tuple(stages),
        stem=Stem(kernel=_require(stem_doc, "kernel", "stem."),
                  channels=_require(stem_doc, "channels", "stem."),
                  lrn=_require(stem_doc, "lrn", "stem.")),
        head=Head(dropout=_require(head_doc, "dropout", "head.")),
        envelope=_ops(_require(doc, "envelope", ""), "envelope"),
        skip=_bool(_require(doc, "skip", ""), "skip"),
        branch_dropout=_prob(_require(doc, "branch_dropout", ""), "branch_dropout"),
    )


def _validate(spec: ArchitectureSpec) -> None:
    """Whole-document checks, also run for specs built in Python."""
    if len(spec.input_shape) != 3:
        raise SpecError(f"input_shape: must be [C, H, W], got {list(spec.input_shape)!r}")
    for i, v in enumerate(spec.input_shape):
        _int(v, f"input_shape[{i}]")
    _int(spec.num_classes, "num_classes", minimum=2)
    if spec.stem.kernel not in _STEM_KERNELS or isinstance(spec.stem.kernel, bool):
        raise SpecError(f"stem.kernel: must be one of {_STEM_KERNELS}, got {spec.stem.kernel!r}")
    _int(spec.stem.channels, "stem.channels")
    _bool(spec.stem.lrn, "stem.lrn")
    _prob(spec.head.dropout, "head.dropout")
    _prob(spec.branch_dropout, "branch_dropout")
    _bool(spec.skip, "skip")
    if not spec.envelope:
        raise SpecError("envelope: must list at least one op")
    for i, op in enumerate(spec.envelope):
        if op not in OPS:
            raise SpecError(f"envelope[{i}]: unknown op {op!r} (expected one of {', '.join(OPS)})")
    if len(set(spec.envelope)) != len(spec.envelope):
        raise SpecError(f"envelope: lists an op twice: {list(spec.envelope)}")
    if not spec.stages:
        raise SpecError("stages: must hold at least one stage")
    seen: dict[str, str] = {}  # id -> path, in network order
    order: list[str] = []
    last = len(spec.stages) - 1
    for s, stage in enumerate(spec.stages):
        p = f"stages[{s}]"
        _int(stage.width, p + ".width")
        if not stage.cells:
            raise SpecError(f"{p}.cells: must hold at least one cell")
        for c, cell in enumerate(stage.cells):
            cp = f"{p}.cells[{c}]"
            _check_id(cell.id, cp + ".id", seen)
            for i, op in enumerate(cell.ops):
                if op not in OPS:
                    raise SpecError(f"{cp}.ops[{i}]: unknown op {op!r} (expected one of "
                                    f"{', '.join(OPS)})")
            if not cell.ops:
                raise SpecError(f"{cp}.ops: must list at least one op")
            if len(set(cell.ops)) != len(cell.ops):
                dup = next(op for op in cell.ops if cell.ops.count(op) > 1)
                raise SpecError(f"{cp}.ops: op {dup!r} appears twice; a cell has at most one "
                                "branch per op")
            _int(cell.width, cp + ".width")
            if cell.width < len(cell.ops):
                raise SpecError(f"{cp}.width: {cell.width} is less than its {len(cell.ops)} "
                                "branches; each branch needs at least one channel")
            if cell.inputs and not spec.skip:
                raise SpecError(f"{cp}.inputs: must be empty when skip is false")
            direct = order[-1] if order else None
            for i, src in enumerate(cell.inputs):
                ip = f"{cp}.inputs[{i}]"
                if src == cell.id:
                    raise SpecError(f"{ip}: a cell cannot take its own output ({src!r})")
                if src not in seen:
                    raise SpecError(f"{ip}: {src!r} is not an earlier cell or widener id "
                                    f"(earlier: {', '.join(order) or 'none'})")
                if src == direct:
                    raise SpecError(f"{ip}: {src!r} is the direct predecessor, which is "
                                    "always the direct input; remove it from inputs")
            if len(set(cell.inputs)) != len(cell.inputs):
                raise SpecError(f"{cp}.inputs: lists a source twice: {list(cell.inputs)}")
            seen[cell.id] = cp
            order.append(cell.id)
        if s == last and stage.widener is not None:
            raise SpecError(f"{p}.widener: the last stage has no widener; set it to null")
        if s != last and stage.widener is None:
            raise SpecError(f"{p}.widener: required between stages (give an id and channels)")
        if stage.widener is not None:
            _check_id(stage.widener.id, p + ".widener.id", seen)
            _int(stage.widener.channels, p + ".widener.channels")
            seen[stage.widener.id] = p + ".widener"
            order.append(stage.widener.id)


def _check_id(value: Any, path: str, seen: dict[str, str]) -> None:
    if not isinstance(value, str) or not value or any(ch in value for ch in "/> \t\n"):
        raise SpecError(f"{path}: must be a non-empty string without '/', '>' or spaces, "
                        f"got {value!r}")
    if value in seen:
        raise SpecError(f"{path}: id {value!r} is already used by {seen[value]}; ids are unique")
