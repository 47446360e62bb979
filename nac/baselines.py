"""Baseline architectures NAC is compared with (reference/nac.md §1.11).

- `initial_envelopenet` (re-exported from `nac.spec`): the base network NAC starts from.
- `random_network(spec, seed)`: the reference's `random` algorithm. Same stages, cells per stage
  and branches per stage as `spec`; every cell keeps at least one branch and the remaining
  branches of a stage are dealt to random cells, with random ops from `RANDOM_OPS` (3x3,
  3x3sep, 5x5, 5x5sep, 7x7, 7x7sep). Unlike the reference, a cell holds each op at most once
  (branch keys are `<cell>/<op>`), and skip inputs, widths, stem and head are copied from
  `spec`, so only the placement and choice of ops differ. `same_cell_counts=True` also keeps
  every cell's branch count (a stricter control).
- `match_parameters(spec, target)`: the same architecture with every width (stem, cells,
  wideners) scaled by one factor so its parameter count is within `tolerance` of `target`:
  random networks "of equal parameter count" are `match_parameters(random_network(...), n)`,
  so they differ from NAC's network in placement and ops only, not in size.
- `handdesigned_cnn(...)`: one plain hand-designed CNN in the same spec language (a VGG-style
  stack: 3x3 stem, cells of a single 3x3 conv-BN-ReLU, the usual wideners, no skips), so it
  trains with exactly the same loop, recipe and augmentation as every other arm.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

from nac.spec import (
    RANDOM_OPS,
    ArchitectureSpec,
    Cell,
    Head,
    Stage,
    Stem,
    Widener,
    initial_envelopenet,
)

__all__ = ["handdesigned_cnn", "initial_envelopenet", "match_parameters", "random_network",
           "scale_width"]


def random_network(spec: ArchitectureSpec, seed: int, *, ops: Sequence[str] = RANDOM_OPS,
                   same_cell_counts: bool = False) -> ArchitectureSpec:
    """A random network with `spec`'s depth and per-stage branch counts (deterministic in seed)."""
    rng = random.Random(seed)
    ops = tuple(ops)
    stages = []
    for s, stage in enumerate(spec.stages):
        counts = [len(c.ops) for c in stage.cells]
        if not same_cell_counts:
            total = sum(counts)
            if total > len(ops) * len(counts):
                raise ValueError(f"stage {s}: {total} branches do not fit {len(counts)} cells of "
                                 f"at most {len(ops)} distinct ops")
            counts = [1] * len(counts)
            for _ in range(total - len(counts)):
                open_cells = [i for i, n in enumerate(counts) if n < len(ops)]
                counts[rng.choice(open_cells)] += 1
        cells = []
        for cell, n in zip(stage.cells, counts, strict=True):
            if n > len(ops):
                raise ValueError(f"cell {cell.id}: {n} branches but only {len(ops)} ops to draw")
            chosen = set(rng.sample(ops, n))
            cells.append(Cell(id=cell.id, ops=tuple(op for op in ops if op in chosen),
                              width=cell.width, inputs=cell.inputs))
        stages.append(Stage(width=stage.width, cells=tuple(cells), widener=stage.widener))
    return ArchitectureSpec(
        input_shape=spec.input_shape, num_classes=spec.num_classes, stages=tuple(stages),
        stem=spec.stem, head=spec.head, envelope=spec.envelope, skip=spec.skip,
        branch_dropout=spec.branch_dropout)


def scale_width(spec: ArchitectureSpec, factor: float) -> ArchitectureSpec:
    """`spec` with every channel count multiplied by `factor` (rounded; a cell keeps at least
    one channel per branch). Depth, ops and skip inputs are unchanged."""
    if not factor > 0:
        raise ValueError(f"factor: must be > 0, got {factor!r}")

    def scaled(n: int, least: int = 1) -> int:
        return max(least, round(n * factor))

    stages = []
    for stage in spec.stages:
        cells = tuple(replace(c, width=scaled(c.width, len(c.ops))) for c in stage.cells)
        widener = None if stage.widener is None else \
            Widener(id=stage.widener.id, channels=scaled(stage.widener.channels))
        stages.append(Stage(width=scaled(stage.width), cells=cells, widener=widener))
    return replace(spec, stages=tuple(stages),
                   stem=replace(spec.stem, channels=scaled(spec.stem.channels)))


def match_parameters(spec: ArchitectureSpec, target: int, *, tolerance: float = 0.03,
                     rounds: int = 12) -> ArchitectureSpec:
    """`scale_width(spec, f)` with parameters within `tolerance` (relative) of `target`.

    Parameters grow about as f**2 (convolutions are channels x channels), so each round
    rescales f by sqrt(target / parameters): a handful of model builds, not a bisection's
    dozens. The closest network found is returned when rounding prevents a match."""
    from nac.cost import spec_parameters

    if target < 1:
        raise ValueError(f"target: must be a positive parameter count, got {target!r}")
    factor, params = 1.0, spec_parameters(spec)
    best, best_gap = spec, abs(params - target)
    for _ in range(rounds):
        if best_gap <= tolerance * target:
            break
        factor *= (target / params) ** 0.5
        candidate = scale_width(spec, factor)
        params = spec_parameters(candidate)
        if abs(params - target) < best_gap:
            best, best_gap = candidate, abs(params - target)
    return best


def handdesigned_cnn(input_shape: Sequence[int], num_classes: int, *, stages: int = 3,
                     cells_per_stage: int = 2, stem_channels: int = 32,
                     dropout: float = 0.2) -> ArchitectureSpec:
    """A VGG-style CNN: 3x3 stem, then per stage `cells_per_stage` 3x3 conv-BN-ReLU layers of
    width 2**s * stem_channels, a widener (maxpool || strided conv) between stages, GAP, FC."""
    built, n = [], 1
    for s in range(stages):
        width = (2 ** s) * stem_channels
        cells = []
        for _ in range(cells_per_stage):
            cells.append(Cell(id=f"c{n}", ops=("3x3",), width=width))
            n += 1
        widener = Widener(id=f"w{s + 1}", channels=width) if s != stages - 1 else None
        built.append(Stage(width=width, cells=tuple(cells), widener=widener))
    return ArchitectureSpec(
        input_shape=tuple(int(v) for v in input_shape),  # type: ignore[arg-type]
        num_classes=int(num_classes), stages=tuple(built),
        stem=Stem(kernel=3, channels=stem_channels, lrn=False), head=Head(dropout=dropout),
        envelope=("3x3",), skip=False, branch_dropout=dropout)
