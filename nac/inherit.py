"""Weight inheritance between NAC iterations: start iteration t+1 from iteration t's weights.

AMLA trains every construction iteration from scratch (reference/nac.md §1.4). A restructuring
only prunes a few branches and appends one cell per stage, so most of the trained network
survives; copying it lets the next truncated run be much shorter (see benchmarks/nac_cifar10.py
for the measured cost and error). What is copied, per block of the new network:

- stem, wideners, head: every weight, re-indexed to the channels their inputs now have;
- a surviving cell: its bottleneck (rows kept up to the new width) and each surviving branch
  (output channels up to the new, usually larger, branch width); skip gates of kept inputs;
- a new cell: initialised near identity: the bottleneck passes its direct input through, and
  output channel p of the concatenated branches copies input channel p (a centre-tap conv, or a
  unit depthwise filter and a selecting pointwise conv), followed by the branch's BN and ReLU.

Channels are tracked by where they came from: every channel of the new network is either a
named channel of the old one ("c4" channel 17) or fresh. A consumer copies the weight of a
channel it consumed before and gets zero for a fresh one, so fresh channels start with no
effect downstream while their own (freshly initialised) weights still learn; each old channel
feeds a consumer at most once (a new cell's copy of its predecessor's output does not double
the predecessor's skip into a later cell).

    report = inherit_weights(old_model, new_model)   # in place, returns counts
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nac.model import NACNet
from nac.ops import Branch, CellBlock, WidenerBlock
from nac.spec import ArchitectureSpec, Cell, Widener

__all__ = ["InheritReport", "inherit_weights"]

Key = tuple[str, int] | None  # (old entry id, channel) or None for a fresh channel
_STEM = "stem"


@dataclass(frozen=True)
class InheritReport:
    """How much of the new network came from the old one (trainable parameters)."""

    inherited: int  # parameter elements copied from the old network
    identity: int  # elements set by the near-identity initialisation of new cells
    total: int

    @property
    def fraction(self) -> float:
        return self.inherited / max(1, self.total)


def _old_channels(spec: ArchitectureSpec) -> tuple[dict[str, int], dict[str, str]]:
    """Output channels of every old entry (and the stem), and each entry's direct input."""
    channels = {_STEM: spec.stem.channels}
    pred: dict[str, str] = {}
    previous = _STEM
    for _, entry in spec.entries():
        pred[entry.id] = previous
        if isinstance(entry, Cell):
            channels[entry.id] = entry.out_channels
        else:
            channels[entry.id] = channels[previous] + entry.channels
        previous = entry.id
    pred["head"] = previous
    return channels, pred


def _keys(entry_id: str, n: int) -> list[Key]:
    return [(entry_id, k) for k in range(n)]


def _match(new_keys: list[Key], old_keys: list[Key]) -> tuple[list[int], list[int]]:
    """(new positions, old positions) of channels present in both; each old one used once."""
    where = {k: i for i, k in enumerate(old_keys) if k is not None}
    used: set[int] = set()
    new_idx, old_idx = [], []
    for j, key in enumerate(new_keys):
        i = where.get(key) if key is not None else None
        if i is not None and i not in used:
            used.add(i)
            new_idx.append(j)
            old_idx.append(i)
    return new_idx, old_idx


class _Copier:
    def __init__(self) -> None:
        self.inherited = 0
        self.identity = 0

    @torch.no_grad()
    def matrix(self, new_w: torch.Tensor, old_w: torch.Tensor, rows: tuple[list[int], list[int]],
               cols: tuple[list[int], list[int]]) -> None:
        """Copy mapped (row, column) blocks of a conv/linear weight; mapped rows get zeros in
        their unmapped columns (fresh inputs start without effect); other rows stay fresh."""
        (rn, ro), (cn, co) = rows, cols
        if not rn:
            return
        rn_t, ro_t = torch.tensor(rn), torch.tensor(ro)
        new_w[rn_t] = 0
        if cn:
            cn_t, co_t = torch.tensor(cn), torch.tensor(co)
            block = old_w[ro_t][:, co_t].to(device=new_w.device, dtype=new_w.dtype)
            new_w[rn_t[:, None], cn_t[None, :]] = block
            self.inherited += block.numel()

    @torch.no_grad()
    def rows(self, new_t: torch.Tensor, old_t: torch.Tensor,
             rows: tuple[list[int], list[int]]) -> None:
        """Copy mapped rows of a per-channel tensor (bias, BN shift and running statistics)."""
        rn, ro = rows
        if rn:
            block = old_t[torch.tensor(ro)].to(device=new_t.device, dtype=new_t.dtype)
            new_t[torch.tensor(rn)] = block
            if isinstance(new_t, nn.Parameter):
                self.inherited += block.numel()


def _copy_bn(c: _Copier, new: Branch, old: Branch, rows: tuple[list[int], list[int]]) -> None:
    c.rows(new.bn.bias, old.bn.bias, rows)
    c.rows(new.bn.running_mean, old.bn.running_mean, rows)
    c.rows(new.bn.running_var, old.bn.running_var, rows)
    new.bn.num_batches_tracked.copy_(old.bn.num_batches_tracked)


def _copy_branch(c: _Copier, new: Branch, old: Branch, in_new: list[Key], in_old: list[Key],
                 rows: tuple[list[int], list[int]]) -> None:
    cols = _match(in_new, in_old)
    if isinstance(new.conv, nn.Sequential):  # depthwise (one filter per input channel), pointwise
        depth_new, point_new = new.conv[0], new.conv[1]
        depth_old, point_old = old.conv[0], old.conv[1]
        c.rows(depth_new.weight, depth_old.weight, cols)
        c.matrix(point_new.weight, point_old.weight, rows, cols)
    else:
        c.matrix(new.conv.weight, old.conv.weight, rows, cols)
    _copy_bn(c, new, old, rows)


@torch.no_grad()
def _identity_branch(c: _Copier, branch: Branch, offset: int, in_channels: int) -> None:
    """Output channel j of this branch copies input channel offset + j (where that exists)."""
    width = branch.bn.running_mean.numel()
    pairs = [(j, offset + j) for j in range(width) if offset + j < in_channels]
    if not pairs:
        return
    if isinstance(branch.conv, nn.Sequential):
        depth, point = branch.conv[0], branch.conv[1]
        k = depth.kernel_size[0]
        depth.weight.zero_()
        depth.weight[:, 0, k // 2, k // 2] = 1.0
        c.identity += depth.weight.numel()
        weight = point.weight
    else:
        weight = branch.conv.weight
    k = weight.shape[-1]
    rows = torch.tensor([j for j, _ in pairs])
    weight[rows] = 0
    weight[rows, torch.tensor([i for _, i in pairs]), k // 2, k // 2] = 1.0
    c.identity += len(pairs) * weight[0].numel()


def inherit_weights(old: NACNet, new: NACNet) -> InheritReport:
    """Copy `old`'s trained weights into the freshly built `new` (in place; see module doc).

    `new.spec` must come from `old.spec` by restructuring (same stem, head classes and ids for
    the surviving cells and wideners); anything without a counterpart keeps its fresh init.
    """
    old_spec, new_spec = old.spec, new.spec
    if old_spec.stem != new_spec.stem or old_spec.num_classes != new_spec.num_classes \
            or old_spec.input_shape != new_spec.input_shape:
        raise ValueError("inherit_weights: the networks differ in stem, input shape or classes; "
                         "weights can only be inherited along a restructuring")
    c = _Copier()
    old_ch, old_pred = _old_channels(old_spec)
    old_blocks = {entry.id: block for (_, entry), block in zip(old_spec.entries(), old.blocks,
                                                               strict=True)}
    old_entries = {entry.id: entry for _, entry in old_spec.entries()}
    full = (list(range(new_spec.stem.channels)),) * 2
    c.matrix(new.stem.conv.weight, old.stem.conv.weight, full,
             (list(range(old.stem.conv.weight.shape[1])),) * 2)
    c.rows(new.stem.conv.bias, old.stem.conv.bias, full)

    maps: dict[str, list[Key]] = {_STEM: _keys(_STEM, new_spec.stem.channels)}
    previous = _STEM
    for (_, entry), block in zip(new_spec.entries(), new.blocks, strict=True):
        direct = maps[previous]
        old_entry = old_entries.get(entry.id)
        if isinstance(entry, Widener):
            assert isinstance(block, WidenerBlock)
            if isinstance(old_entry, Widener) and old_entry.channels == entry.channels:
                old_in = _keys(old_pred[entry.id], old_ch[old_pred[entry.id]])
                same = (list(range(entry.channels)),) * 2
                c.matrix(block.conv.weight, old_blocks[entry.id].conv.weight, same,
                         _match(direct, old_in))
                c.rows(block.conv.bias, old_blocks[entry.id].conv.bias, same)
                where = {k: i for i, k in enumerate(old_in)}
                passed = [(entry.id, where[k]) if k in where else None for k in direct]
                maps[entry.id] = passed + [(entry.id, len(old_in) + j)
                                           for j in range(entry.channels)]
            else:
                maps[entry.id] = [None] * (len(direct) + entry.channels)
        else:
            assert isinstance(block, CellBlock)
            skips = [maps[src] for src in entry.inputs] if new_spec.skip else []
            if isinstance(old_entry, Cell):
                maps[entry.id] = _surviving_cell(c, entry, block, old_entry,
                                                 old_blocks[entry.id], direct, skips, old_ch,
                                                 old_pred)
            else:
                maps[entry.id] = _new_cell(c, entry, block, direct)
        previous = entry.id

    old_in = _keys(old_pred["head"], old_ch[old_pred["head"]])
    classes = (list(range(new_spec.num_classes)),) * 2
    c.matrix(new.head.fc.weight, old.head.fc.weight, classes, _match(maps[previous], old_in))
    c.rows(new.head.fc.bias, old.head.fc.bias, classes)
    total = sum(p.numel() for p in new.parameters() if p.requires_grad)
    return InheritReport(inherited=c.inherited, identity=c.identity, total=total)


def _surviving_cell(c: _Copier, cell: Cell, block: CellBlock, old_cell: Cell,
                    old_block: CellBlock, direct: list[Key], skips: list[list[Key]],
                    old_ch: dict[str, int], old_pred: dict[str, str]) -> list[Key]:
    old_direct = _keys(old_pred[cell.id], old_ch[old_pred[cell.id]])
    branch_in, old_branch_in = direct, old_direct
    if block.bottleneck is not None and old_block.bottleneck is not None:
        new_cols = direct + [k for keys in skips for k in keys]
        old_cols = old_direct + [k for src in old_cell.inputs
                                 for k in _keys(src, old_ch[src])]
        n_new, n_old = len(direct), len(old_direct)
        kept = list(range(min(n_new, n_old)))
        c.matrix(block.bottleneck.weight, old_block.bottleneck.weight, (kept, kept),
                 _match(new_cols, old_cols))
        c.rows(block.bottleneck.bias, old_block.bottleneck.bias, (kept, kept))
        if block.gates is not None and old_block.gates is not None:
            position = {src: i for i, src in enumerate(old_cell.inputs)}
            pairs = [(j, position[src]) for j, src in enumerate(cell.inputs) if src in position]
            c.rows(block.gates, old_block.gates, ([j for j, _ in pairs], [i for _, i in pairs]))
        tag = f"{cell.id}:bottleneck"
        branch_in = [(tag, k) if k < n_old else None for k in range(n_new)]
        old_branch_in = _keys(tag, n_old)
    out: list[Key] = []
    old_offsets = {op: i * old_cell.branch_width for i, op in enumerate(old_cell.ops)}
    old_branches = dict(zip(old_cell.ops, old_block.branches, strict=True))
    for op, branch in zip(cell.ops, block.branches, strict=True):
        width = cell.branch_width
        if op not in old_branches:
            out += [None] * width
            continue
        kept = list(range(min(width, old_cell.branch_width)))
        _copy_branch(c, branch, old_branches[op], branch_in, old_branch_in, (kept, kept))
        out += [(cell.id, old_offsets[op] + j) if j in kept else None for j in range(width)]
    return out


@torch.no_grad()
def _new_cell(c: _Copier, cell: Cell, block: CellBlock, direct: list[Key]) -> list[Key]:
    n_in = len(direct)
    if block.bottleneck is not None:
        weight = block.bottleneck.weight
        weight.zero_()
        idx = torch.arange(n_in)
        weight[idx, idx, 0, 0] = 1.0
        block.bottleneck.bias.zero_()
        c.identity += weight.numel()
    for b, branch in enumerate(block.branches):
        _identity_branch(c, branch, b * cell.branch_width, n_in)
    return [direct[p] if p < n_in else None for p in range(cell.out_channels)]
