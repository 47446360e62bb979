"""Baseline architectures NAC is compared with (reference/nac.md §1.11).

- `initial_envelopenet` (re-exported from `nac.spec`): the base network NAC starts from.
- `random_network(spec, seed)`: the reference's `random` algorithm. Same stages, cells per stage
  and branches per stage as `spec`; every cell keeps at least one branch and the remaining
  branches of a stage are dealt to random cells, with random ops from `RANDOM_OPS` (3x3,
  3x3sep, 5x5, 5x5sep, 7x7, 7x7sep). Unlike the reference, a cell holds each op at most once
  (branch keys are `<cell>/<op>`), and skip inputs, widths, stem and head are copied from
  `spec`, so only the placement and choice of ops differ. `same_cell_counts=True` also keeps
  every cell's branch count (a stricter control).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from nac.spec import RANDOM_OPS, ArchitectureSpec, Cell, Stage, initial_envelopenet

__all__ = ["initial_envelopenet", "random_network"]


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
