"""Build a torch network from an architecture spec, and read its NAC statistics.

    model = build_model(spec)              # nn.Module; input (N, C, H, W) as in spec.input_shape
    model.enable_stats()                   # accumulate per-branch mean(y^2) while training
    model.branch_stats()                   # {"c3/5x5sep": 0.41, ...}   (keys: nac.spec.branch_key)
    model.gate_values()                    # {"c1>c4": 0.52, ...}       (keys: nac.spec.gate_key)

Works for any input size (1x8x8 up to 3x224x224): wideners and skip pooling round odd sizes up.
"""

from __future__ import annotations

import torch
from torch import nn

from nac.ops import (
    Branch,
    CellBlock,
    ClassifierHead,
    StatMode,
    StemBlock,
    WidenerBlock,
    pool_same,
)
from nac.spec import ArchitectureSpec, Cell, branch_key, gate_key

__all__ = ["NACNet", "StatMode", "build_model", "count_parameters"]


class NACNet(nn.Module):
    """stem -> (cells, widener)* -> head, with gated skip inputs between entries."""

    def __init__(self, spec: ArchitectureSpec, *, dropout: float | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.channels_last = False  # set by the trainer; evaluate() feeds inputs to match
        branch_dropout = spec.branch_dropout if dropout is None else dropout
        head_dropout = spec.head.dropout if dropout is None else dropout
        self.stem = StemBlock(spec.input_shape[0], spec.stem)
        self.blocks = nn.ModuleList()
        # Per block: its id, whether it is a cell, and (source index, pool count) of its skips.
        self._plan: list[tuple[str, bool, list[tuple[int, int]]]] = []
        index: dict[str, int] = {}
        channels: list[int] = []
        halvings: list[int] = []
        current, level = spec.stem.channels, 0
        for _, entry in spec.entries():
            if isinstance(entry, Cell):
                skips = [(index[src], level - halvings[index[src]]) for src in entry.inputs]
                skip_channels = [channels[i] for i, _ in skips] if spec.skip else None
                block: nn.Module = CellBlock(entry.ops, current, entry.branch_width,
                                             skip_channels, [p for _, p in skips],
                                             branch_dropout)
                current = entry.out_channels
                self._plan.append((entry.id, True, skips))
            else:
                block = WidenerBlock(current, entry.channels)
                current += entry.channels
                level += 1
                self._plan.append((entry.id, False, []))
            index[entry.id] = len(self.blocks)
            self.blocks.append(block)
            channels.append(current)
            halvings.append(level)
        self.head = ClassifierHead(current, spec.num_classes, spec.head, head_dropout)
        self._branch_keys = [(branch_key(cid, op), b)
                             for (cid, is_cell, _), blk in zip(self._plan, self.blocks,
                                                               strict=True) if is_cell
                             for op, b in zip(spec.cell(cid).ops, blk.branches, strict=True)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        outputs: list[torch.Tensor] = []
        pooled: dict[tuple[int, int], torch.Tensor] = {}
        for (_, is_cell, skips), block in zip(self._plan, self.blocks, strict=True):
            if is_cell:
                sources = []
                for src, pools in skips:
                    t = pooled.get((src, pools))
                    if t is None:
                        t = outputs[src]
                        for _ in range(pools):
                            t = pool_same(t)
                        pooled[(src, pools)] = t
                    sources.append(t)
                x = block(x, sources)
            else:
                x = block(x)
            outputs.append(x)
        return self.head(x)

    # -- statistics ----------------------------------------------------------------------
    def branches(self) -> list[tuple[str, Branch]]:
        """(branch key, module) in network order."""
        return list(self._branch_keys)

    def enable_stats(self, mode: StatMode | str = StatMode.MEANSSS, *, reset: bool = True) -> None:
        """Accumulate the per-branch statistic on every training-mode forward pass."""
        mode = StatMode(mode)
        for _, branch in self._branch_keys:
            branch.stat_mode = mode
            if reset:
                branch.reset_stats()

    def disable_stats(self) -> None:
        for _, branch in self._branch_keys:
            branch.stat_mode = None

    def reset_stats(self) -> None:
        for _, branch in self._branch_keys:
            branch.reset_stats()

    def branch_stats(self) -> dict[str, float]:
        """Branch key -> statistic, for branches that saw at least one training batch."""
        out = {}
        for key, branch in self._branch_keys:
            value = branch.statistic()
            if value is not None:
                out[key] = value
        return out

    def gate_values(self) -> dict[str, float]:
        """Gate key -> current scalar gate value."""
        out: dict[str, float] = {}
        for (cid, is_cell, _), block in zip(self._plan, self.blocks, strict=True):
            if is_cell and block.gates is not None:
                cell = self.spec.cell(cid)
                for src, value in zip(cell.inputs, block.gates.detach().tolist(), strict=True):
                    out[gate_key(src, cid)] = float(value)
        return out

    def stats_state(self) -> dict[str, dict[str, torch.Tensor]]:
        """Accumulators by branch key (for checkpoints; not part of the state_dict)."""
        return {key: branch.stats_state() for key, branch in self._branch_keys}

    def load_stats_state(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        for key, branch in self._branch_keys:
            if key in state:
                branch.load_stats_state(state[key])


def build_model(spec: ArchitectureSpec, *, dropout: float | None = None) -> NACNet:
    """The torch network of `spec`; `dropout` overrides both branch and head dropout."""
    if dropout is not None and not 0 <= dropout < 1:
        raise ValueError(f"dropout: must be in [0, 1), got {dropout!r}")
    return NACNet(spec, dropout=dropout)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (what the optimiser updates)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
