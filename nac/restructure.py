"""One NAC restructuring step: prune weak branches, append a full cell, prune skip gates.

Pure Python and deterministic (reference/nac.md §1.6-1.7, AMLA `generate.py`):

    new_spec = restructure(spec, branch_stats, gate_stats, RestructureSettings(...))
    plan = plan_restructure(...)   # the same, plus what was pruned/added/kept and why

`branch_stats` maps every branch key (`"<cell id>/<op>"`) of the eligible stages to its
statistic (MeanSSS by default: running mean of y^2 after BN+ReLU); `gate_stats` maps gate keys
(`"<src>><dst>"`) to the trained gate value. Per stage, in order:

1. Eligible iff `construction[s]` and the stage has <= `max_layers_per_stage[s]` cells;
   otherwise it is copied unchanged.
2. Prune budget `k = min(max_filter_prune, floor(branches_in_stage / 3))`.
3. Sort the stage's branches by statistic, ascending (descending with `worst_case`); ties keep
   network order. Walk the list and mark a branch unless it is the last surviving branch of its
   cell; stop once k are marked. As in the reference, the stop test follows the first mark, so
   one branch is pruned even when k = 0. If nothing can be marked, `RestructureError`.
4. Remove the marked branches (survivors keep their ops; widths are recomputed by the builder
   as floor(cell width / branches)), append one full cell (`spec.envelope`) with a new id,
   and recompute the stage's cell widths (`parameter_limits`).

Then skip pruning (when `spec.skip`): every surviving cell keeps the ceil(n/2) incoming gates
with the largest values (ties: earlier source first) plus an edge from every newly appended cell
earlier in the network; each new cell is densely connected to every earlier cell and widener
except its direct predecessor. A surviving cell with no gate statistics at all keeps its inputs
(what happened under Katib v1alpha1, which never collected them). Inputs are kept in network
order. Cell and widener ids never change; new cells get `c<max id + 1>`, `c<max id + 2>`, ...

Public API: `RestructureSettings`, `RestructurePlan`, `RestructureError`, `restructure`,
`plan_restructure`, `prune_budget`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nac.spec import ArchitectureSpec, Cell, SpecError, Stage, branch_key, cell_widths, gate_key

__all__ = [
    "RestructureError",
    "RestructurePlan",
    "RestructureSettings",
    "plan_restructure",
    "prune_budget",
    "restructure",
]

#: Fraction of a stage's branches that may be pruned per iteration (AMLA `threshold`).
PRUNE_DIVISOR = 3
#: Fraction of a cell's skip gates dropped per iteration (AMLA `threshold = 0.5`).
SKIP_DROP_FRACTION = 0.5


class RestructureError(ValueError):
    """Settings or statistics that cannot drive a restructuring step; the message names them."""


@dataclass(frozen=True)
class RestructureSettings:
    """Per-stage construction settings (AMLA `envelopenet` block; defaults = AMLA defaults).

    `construction[s]`: whether stage s is pruned and expanded. `max_layers_per_stage[s]`: growth
    cap, tested before adding (so a stage may end with max + 1 cells). `parameter_limits[s]`:
    shrink inner cells to keep parameters roughly flat. `worst_case`: prune the best branches
    (the reference's ablation). `expand[s]` (default: all true): whether an eligible stage gets
    its new cell; false prunes only (what a parameter budget uses, nac.construct).
    """

    max_filter_prune: int = 6
    max_layers_per_stage: tuple[int, ...] = (7, 6, 2)
    construction: tuple[bool, ...] = (True, True, False)
    parameter_limits: tuple[bool, ...] | None = None
    worst_case: bool = False
    prune_skips: bool = True
    expand: tuple[bool, ...] | None = None

    @classmethod
    def of(cls, settings: Any) -> RestructureSettings:
        """The restructuring part of a settings object that uses the reference's names
        (`max_filter_prune`, `max_layers_per_stage`, `construction`, `parameter_limits`,
        `worst_case`): the in-process driver's and the Katib suggestion's settings alike."""
        return cls(max_filter_prune=settings.max_filter_prune,
                   max_layers_per_stage=settings.max_layers_per_stage,
                   construction=settings.construction,
                   parameter_limits=settings.parameter_limits,
                   worst_case=settings.worst_case)

    def __post_init__(self) -> None:
        if isinstance(self.max_filter_prune, bool) or not isinstance(self.max_filter_prune, int) \
                or self.max_filter_prune < 0:
            raise RestructureError(f"max_filter_prune: must be an integer >= 0, got "
                                   f"{self.max_filter_prune!r}")
        object.__setattr__(self, "max_layers_per_stage", tuple(self.max_layers_per_stage))
        object.__setattr__(self, "construction", tuple(bool(v) for v in self.construction))
        if self.parameter_limits is not None:
            object.__setattr__(self, "parameter_limits",
                               tuple(bool(v) for v in self.parameter_limits))
        if self.expand is not None:
            object.__setattr__(self, "expand", tuple(bool(v) for v in self.expand))
        for i, v in enumerate(self.max_layers_per_stage):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise RestructureError(f"max_layers_per_stage[{i}]: must be an integer >= 1, "
                                       f"got {v!r}")

    def check_stages(self, n_stages: int) -> None:
        """Refuse per-stage lists whose length does not match the spec."""
        for name in ("max_layers_per_stage", "construction", "parameter_limits", "expand"):
            value = getattr(self, name)
            if value is not None and len(value) != n_stages:
                raise RestructureError(f"{name}: has {len(value)} entries but the architecture "
                                       f"has {n_stages} stages; give one value per stage")


@dataclass(frozen=True)
class RestructurePlan:
    """The new spec plus a record of the decisions (for traces and reports)."""

    spec: ArchitectureSpec
    pruned: dict[int, list[str]] = field(default_factory=dict)  # stage -> branch keys
    added: dict[int, str] = field(default_factory=dict)  # stage -> new cell id
    budgets: dict[int, int] = field(default_factory=dict)  # stage -> k
    kept_gates: dict[str, list[str]] = field(default_factory=dict)  # cell id -> sources kept


def prune_budget(total_branches: int, max_filter_prune: int) -> int:
    """k = min(max_filter_prune, floor(total_branches / 3))."""
    return min(max_filter_prune, total_branches // PRUNE_DIVISOR)


def restructure(
    spec: ArchitectureSpec,
    branch_stats: Mapping[str, float],
    gate_stats: Mapping[str, float] | None = None,
    settings: RestructureSettings | None = None,
) -> ArchitectureSpec:
    """The next architecture (see the module docstring for the exact rules)."""
    return plan_restructure(spec, branch_stats, gate_stats, settings).spec


def plan_restructure(
    spec: ArchitectureSpec,
    branch_stats: Mapping[str, float],
    gate_stats: Mapping[str, float] | None = None,
    settings: RestructureSettings | None = None,
) -> RestructurePlan:
    """Like `restructure`, returning the decisions too."""
    settings = settings or RestructureSettings()
    settings.check_stages(len(spec.stages))
    gate_stats = dict(gate_stats or {})
    _check_stats(spec, branch_stats, "branch_stats", set(spec.branch_keys()))
    _check_stats(spec, gate_stats, "gate_stats", set(spec.gate_keys()))

    next_id = _max_cell_number(spec) + 1
    limits = settings.parameter_limits or (False,) * len(spec.stages)
    plan_pruned: dict[int, list[str]] = {}
    plan_added: dict[int, str] = {}
    budgets: dict[int, int] = {}
    new_stages: list[Stage] = []
    for s, stage in enumerate(spec.stages):
        eligible = settings.construction[s] and len(stage.cells) <= settings.max_layers_per_stage[s]
        if not eligible:
            new_stages.append(stage)
            continue
        k = prune_budget(sum(len(c.ops) for c in stage.cells), settings.max_filter_prune)
        budgets[s] = k
        pruned = _select_prunable(stage, branch_stats, k, settings.worst_case, s)
        plan_pruned[s] = pruned
        gone = set(pruned)
        cells = [Cell(id=c.id, ops=tuple(op for op in c.ops if branch_key(c.id, op) not in gone),
                      width=c.width, inputs=c.inputs) for c in stage.cells]
        if settings.expand is None or settings.expand[s]:
            new_id = f"c{next_id}"
            next_id += 1
            plan_added[s] = new_id
            cells.append(Cell(id=new_id, ops=spec.envelope, width=stage.width))
        widths = cell_widths(stage.width, len(cells), limits[s])
        cells = [Cell(id=c.id, ops=c.ops, width=w, inputs=c.inputs) for c, w in zip(cells, widths,
                                                                                   strict=True)]
        new_stages.append(Stage(width=stage.width, cells=tuple(cells), widener=stage.widener))

    kept: dict[str, list[str]] = {}
    if spec.skip:
        new_stages, kept = _rewire_skips(new_stages, set(plan_added.values()), gate_stats,
                                         settings.prune_skips)
    try:
        new_spec = ArchitectureSpec(
            input_shape=spec.input_shape, num_classes=spec.num_classes, stages=tuple(new_stages),
            stem=spec.stem, head=spec.head, envelope=spec.envelope, skip=spec.skip,
            branch_dropout=spec.branch_dropout)
    except SpecError as e:  # pragma: no cover - would be a bug in this module
        raise RestructureError(f"restructuring produced an invalid spec: {e}") from e
    return RestructurePlan(spec=new_spec, pruned=plan_pruned, added=plan_added, budgets=budgets,
                           kept_gates=kept)


def _check_stats(spec: ArchitectureSpec, stats: Mapping[str, float], name: str,
                 known: set[str]) -> None:
    unknown = sorted(set(stats) - known)
    if unknown:
        raise RestructureError(
            f"{name}: key {unknown[0]!r} is not in the architecture ({len(unknown)} unknown); "
            "statistics must come from training this exact spec")
    for key, value in stats.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                value):
            raise RestructureError(f"{name}[{key!r}]: must be a finite number, got {value!r}")


def _select_prunable(stage: Stage, stats: Mapping[str, float], k: int, worst_case: bool,
                     s: int) -> list[str]:
    candidates: list[tuple[str, str]] = []  # (cell id, branch key) in network order
    missing = []
    for cell in stage.cells:
        for key in cell.branch_keys:
            if key not in stats:
                missing.append(key)
            candidates.append((cell.id, key))
    if missing:
        raise RestructureError(
            f"branch_stats: missing {len(missing)} branch(es) of constructing stage {s}, e.g. "
            f"{missing[0]!r}; train with statistics on and pass every branch of the stage")
    sign = -1.0 if worst_case else 1.0
    ordered = sorted(candidates, key=lambda item: sign * float(stats[item[1]]))
    remaining = {cell.id: len(cell.ops) for cell in stage.cells}
    prune: list[str] = []
    for cell_id, key in ordered:
        if remaining[cell_id] > 1:
            prune.append(key)
            remaining[cell_id] -= 1
            if len(prune) >= k:
                break
    if not prune:
        raise RestructureError(
            f"stage {s}: nothing can be pruned (every cell has a single branch); set "
            f"construction[{s}] to false or stop constructing")
    return prune


def _rewire_skips(stages: Sequence[Stage], new_cells: set[str], gate_stats: Mapping[str, float],
                  prune_skips: bool) -> tuple[list[Stage], dict[str, list[str]]]:
    order: list[str] = []  # ids in network order so far
    new_before: list[str] = []  # newly added cells seen so far
    kept_report: dict[str, list[str]] = {}
    out: list[Stage] = []
    for stage in stages:
        cells = []
        for cell in stage.cells:
            direct = order[-1] if order else None
            if cell.id in new_cells:
                inputs = [src for src in order if src != direct]
            else:
                kept = list(cell.inputs)
                values = {src: gate_stats.get(gate_key(src, cell.id)) for src in cell.inputs}
                if prune_skips and cell.inputs and all(v is not None for v in values.values()):
                    n = len(cell.inputs)
                    keep_n = n - int(SKIP_DROP_FRACTION * n)
                    rank = sorted(range(n), key=lambda i: (-float(values[cell.inputs[i]]), i))
                    kept = [cell.inputs[i] for i in sorted(rank[:keep_n])]
                elif prune_skips and any(v is not None for v in values.values()):
                    missing = next(src for src, v in values.items() if v is None)
                    raise RestructureError(
                        f"gate_stats: missing {gate_key(missing, cell.id)!r} while other gates "
                        f"of cell {cell.id!r} are present; pass all of a cell's gates or none")
                kept_report[cell.id] = list(kept)
                extra = [src for src in new_before if src not in kept and src != direct]
                position = {src: i for i, src in enumerate(order)}
                inputs = sorted(kept + extra, key=position.__getitem__)
            cells.append(Cell(id=cell.id, ops=cell.ops, width=cell.width, inputs=tuple(inputs)))
            order.append(cell.id)
            if cell.id in new_cells:
                new_before.append(cell.id)
        if stage.widener is not None:
            order.append(stage.widener.id)
        out.append(Stage(width=stage.width, cells=tuple(cells), widener=stage.widener))
    return out, kept_report


def _max_cell_number(spec: ArchitectureSpec) -> int:
    """Largest N among ids of the form c<N> (0 if none), so new ids never collide."""
    best = 0
    for s, entry in spec.entries():
        del s
        m = re.fullmatch(r"c(\d+)", entry.id)
        if m:
            best = max(best, int(m.group(1)))
    return best
