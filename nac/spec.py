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

Public API: `ArchitectureSpec` (+ `Stem`, `Cell`, `Widener`, `Stage`, `Head`), `SpecError`
(its `path` is the offending field), `OPS`, `ENVELOPE_OPS`, `RANDOM_OPS`, `initial_envelopenet`,
`cell_widths`, `branch_key`, `gate_key`, `parse_architecture` (the vocabulary and the
validation rules live in nac/spec_rules.py and are re-exported here).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nac.documents import check_header
from nac.spec_rules import (
    ENVELOPE_OPS,
    OPS,
    RANDOM_OPS,
    SpecError,
    bool_field,
    branch_key,
    cell_widths,
    check_keys,
    check_ops,
    gate_key,
    id_string,
    int_field,
    list_field,
    prob_field,
    require,
    validate_spec,
)

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
        validate_spec(self)

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
                raise SpecError("architecture", f"not valid JSON ({e})") from e
        return _parse(doc)


# -- builders ---------------------------------------------------------------------------------
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
        raise SpecError("layers_per_stage", f"has {len(layers_per_stage)} entries but stages "
                        f"is {stages}; give one cell count per stage")
    limits = list(parameter_limits) if parameter_limits is not None else [False] * stages
    if len(limits) != stages:
        raise SpecError("parameter_limits", f"has {len(limits)} entries but stages is {stages}")
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
            raise SpecError("architecture", "the b64: payload is not base64url-encoded UTF-8 "
                            f"({e}); pass the value the nac suggestion emitted") from e
        return ArchitectureSpec.from_json(raw)
    if text.startswith("@"):
        path = Path(os.path.expanduser(text[1:]))
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as e:
            raise SpecError("architecture", f"cannot read {path} ({e.strerror})") from e
        return ArchitectureSpec.from_json(raw)
    return ArchitectureSpec.from_json(text)


# -- parsing (the field rules and whole-document validation are nac/spec_rules.py's) -------
_TOP_KEYS = {"format", "version", "input_shape", "num_classes", "envelope", "skip",
             "branch_dropout", "stem", "stages", "head"}


def _parse(doc: Any) -> ArchitectureSpec:
    doc = check_keys(doc, _TOP_KEYS, "")
    check_header(doc, FORMAT, VERSION, where="architecture", error=SpecError,
                 hint="upgrade the nac package or regenerate the spec")
    shape = list_field(require(doc, "input_shape", ""), "input_shape")
    if len(shape) != 3:
        raise SpecError("input_shape", f"must be [C, H, W], got {shape!r}")
    shape_t = tuple(int_field(v, f"input_shape[{i}]") for i, v in enumerate(shape))
    stem_doc = check_keys(require(doc, "stem", ""), {"kernel", "channels", "lrn"}, "stem")
    head_doc = check_keys(require(doc, "head", ""), {"dropout"}, "head")
    stages = []
    for s, sdoc in enumerate(list_field(require(doc, "stages", ""), "stages")):
        p = f"stages[{s}]"
        sdoc = check_keys(sdoc, {"width", "cells", "widener"}, p)
        cells = tuple(_parse_cell(cdoc, f"{p}.cells[{c}]") for c, cdoc in
                      enumerate(list_field(require(sdoc, "cells", p + "."), p + ".cells")))
        wdoc = sdoc.get("widener")
        stages.append(Stage(width=int_field(require(sdoc, "width", p + "."), p + ".width"),
                            cells=cells,
                            widener=None if wdoc is None else _parse_widener(wdoc, p + ".widener")))
    return ArchitectureSpec(
        input_shape=shape_t,  # type: ignore[arg-type]
        num_classes=int_field(require(doc, "num_classes", ""), "num_classes", minimum=2),
        stages=tuple(stages),
        stem=Stem(kernel=require(stem_doc, "kernel", "stem."),
                  channels=require(stem_doc, "channels", "stem."),
                  lrn=require(stem_doc, "lrn", "stem.")),
        head=Head(dropout=require(head_doc, "dropout", "head.")),
        envelope=check_ops(list_field(require(doc, "envelope", ""), "envelope"), "envelope"),
        skip=bool_field(require(doc, "skip", ""), "skip"),
        branch_dropout=prob_field(require(doc, "branch_dropout", ""), "branch_dropout"),
    )


def _parse_cell(cdoc: Any, cp: str) -> Cell:
    cdoc = check_keys(cdoc, {"id", "ops", "width", "inputs"}, cp)
    inputs = list_field(cdoc.get("inputs", []), cp + ".inputs")
    ops = list_field(require(cdoc, "ops", cp + "."), cp + ".ops")
    return Cell(id=id_string(require(cdoc, "id", cp + "."), cp + ".id"),
                ops=check_ops(ops, cp + ".ops"),
                width=int_field(require(cdoc, "width", cp + "."), cp + ".width"),
                inputs=tuple(id_string(src, f"{cp}.inputs[{i}]") for i, src in enumerate(inputs)))


def _parse_widener(wdoc: Any, wp: str) -> Widener:
    wdoc = check_keys(wdoc, {"id", "channels"}, wp)
    return Widener(id=id_string(require(wdoc, "id", wp + "."), wp + ".id"),
                   channels=int_field(require(wdoc, "channels", wp + "."), wp + ".channels"))
