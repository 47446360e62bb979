"""Torch building blocks of an EnvelopeNet: branch, cell, widener, stem, head.

Each block follows reference/nac.md §1.2-1.3 (TF-slim defaults of AMLA): convolutions without
bias before BN; BN with centre and no scale (eps 1e-3); Xavier-uniform conv weights and zero
biases; SAME padding; 2x2 max-pools that round up on odd sizes. Branch statistics are
accumulated in non-persistent buffers, so they never reach the optimiser or the state_dict.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nac.spec import OPS, Head, Stem
from nac.stat_mode import StatMode

__all__ = [
    "Branch",
    "CellBlock",
    "ClassifierHead",
    "StatMode",
    "StemBlock",
    "WidenerBlock",
    "pool_same",
]

#: BN epsilon of TF-slim's batch_norm.
BN_EPS = 1e-3
#: BN running-average momentum. Slim's decay 0.999 is tuned for 100k-step runs; with the few
#: hundred steps of a small-data truncated run it would leave the inference statistics at their
#: initial values, so the torch default is used.
BN_MOMENTUM = 0.1
#: Classifier weight std (AMLA: truncated normal, 1/192).
HEAD_STD = 1.0 / 192.0


def pool_same(x: torch.Tensor) -> torch.Tensor:
    """2x2 stride-2 max-pool with TF 'SAME' padding: output ceil(H/2) x ceil(W/2)."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = F.pad(x, (0, w % 2, 0, h % 2), value=float("-inf"))
    return F.max_pool2d(x, 2, 2)


def _xavier(conv: nn.Conv2d) -> nn.Conv2d:
    nn.init.xavier_uniform_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


class _CentredBatchNorm(nn.BatchNorm2d):
    """BatchNorm with a learnable shift and no scale (slim: center=True, scale=False)."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, eps=BN_EPS, momentum=BN_MOMENTUM, affine=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.num_batches_tracked.add_(1)
        return F.batch_norm(x, self.running_mean, self.running_var, None, self.bias,
                            self.training, self.momentum, self.eps)


class Branch(nn.Module):
    """One op of a cell: conv (or depthwise-separable conv) -> BN -> ReLU -> [stats] -> dropout."""

    def __init__(self, op: str, in_channels: int, out_channels: int, dropout: float) -> None:
        super().__init__()
        kernel, separable = OPS[op]
        pad = kernel // 2
        if separable:
            self.conv = nn.Sequential(
                _xavier(nn.Conv2d(in_channels, in_channels, kernel, padding=pad,
                                  groups=in_channels, bias=False)),
                _xavier(nn.Conv2d(in_channels, out_channels, 1, bias=False)),
            )
        else:
            self.conv = _xavier(nn.Conv2d(in_channels, out_channels, kernel, padding=pad,
                                          bias=False))
        self.bn = _CentredBatchNorm(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.stat_mode: StatMode | None = None
        # Accumulators: float64 sums over every element seen, and the element/image counts.
        self.register_buffer("stat_sum", torch.zeros((), dtype=torch.float64), persistent=False)
        self.register_buffer("stat_sum_sq", torch.zeros((), dtype=torch.float64),
                             persistent=False)
        self.register_buffer("stat_count", torch.zeros((), dtype=torch.float64), persistent=False)
        self.stat_map_sum: torch.Tensor | None = None
        self.stat_map_sum_sq: torch.Tensor | None = None
        self._host_count = 0  # elements (meansss) or images (variance) seen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn(self.conv(x)))
        if self.stat_mode is not None and self.training:
            self._accumulate(y.detach())
        return self.dropout(y)

    @torch.no_grad()
    def _accumulate(self, y: torch.Tensor) -> None:
        if y.dtype != torch.float32:
            y = y.float()
        if self.stat_mode is StatMode.MEANSSS:
            # Two small ops per branch and step (norm, fused multiply-add); the element count
            # is known on the host, so no device op and no sync for it.
            norm = torch.linalg.vector_norm(y)
            self.stat_sum_sq.addcmul_(norm, norm)
            self._host_count += y.numel()
            return
        # Variance: per-position (C, H, W) sums across images, as the reference accumulates.
        if self.stat_map_sum is None or self.stat_map_sum.shape != y.shape[1:]:
            self.stat_map_sum = torch.zeros(y.shape[1:], dtype=torch.float64, device=y.device)
            self.stat_map_sum_sq = torch.zeros_like(self.stat_map_sum)
        self.stat_map_sum.add_(y.sum(0))
        self.stat_map_sum_sq.add_(y.square().sum(0))
        self._host_count += y.shape[0]

    def reset_stats(self) -> None:
        self.stat_sum.zero_()
        self.stat_sum_sq.zero_()
        self.stat_count.zero_()
        self._host_count = 0
        self.stat_map_sum = None
        self.stat_map_sum_sq = None

    def statistic(self) -> float | None:
        """The accumulated statistic, or None when nothing was accumulated."""
        count = float(self._host_count)
        if count == 0:
            return None
        if self.stat_mode is StatMode.VARIANCE and self.stat_map_sum is not None:
            mean = self.stat_map_sum / count
            var = self.stat_map_sum_sq / count - mean.square()
            return float(var.clamp_min(0).mean())
        return float(self.stat_sum_sq) / count

    def stats_state(self) -> dict[str, torch.Tensor]:
        self.stat_count.fill_(self._host_count)
        state = {"sum_sq": self.stat_sum_sq.clone(), "count": self.stat_count.clone()}
        if self.stat_map_sum is not None and self.stat_map_sum_sq is not None:
            state["map_sum"] = self.stat_map_sum.clone()
            state["map_sum_sq"] = self.stat_map_sum_sq.clone()
        return state

    def load_stats_state(self, state: dict[str, torch.Tensor]) -> None:
        self.stat_sum_sq.copy_(state["sum_sq"])
        self.stat_count.copy_(state["count"])
        self._host_count = int(state["count"])
        if "map_sum" in state:
            self.stat_map_sum = state["map_sum"].to(self.stat_sum.device).clone()
            self.stat_map_sum_sq = state["map_sum_sq"].to(self.stat_sum.device).clone()


class CellBlock(nn.Module):
    """An EnvelopeCell: optional gated skip bottleneck, then parallel branches concatenated."""

    def __init__(self, ops: tuple[str, ...], in_channels: int, branch_width: int,
                 skip_channels: list[int] | None, skip_pools: list[int], dropout: float) -> None:
        super().__init__()
        self.skip_pools = list(skip_pools)
        self.bottleneck: nn.Conv2d | None = None
        self.gates: nn.Parameter | None = None
        if skip_channels is not None:  # skip on: bottleneck even with no inputs (as AMLA)
            if skip_channels:
                self.gates = nn.Parameter(torch.empty(len(skip_channels)).normal_(0.5, 0.01))
            self.bottleneck = _xavier(nn.Conv2d(in_channels + sum(skip_channels),
                                                in_channels, 1))
        self.branches = nn.ModuleList(
            Branch(op, in_channels, branch_width, dropout) for op in ops)

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        if self.bottleneck is not None:
            if skips and self.gates is not None:
                gated = [x] + [s * g for s, g in zip(skips, self.gates.unbind(0), strict=True)]
                x = torch.cat(gated, dim=1)
            x = F.relu(self.bottleneck(x))
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class WidenerBlock(nn.Module):
    """Downsampling: 2x2/2 max-pool of x concatenated with a 3x3/2 conv (bias + ReLU) of x."""

    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv = _xavier(nn.Conv2d(in_channels, channels, 3, stride=2, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([pool_same(x), F.relu(self.conv(x))], dim=1)


class StemBlock(nn.Module):
    """kxk conv (bias + ReLU), then LRN (depth radius 4, bias 1, alpha 0.001/9, beta 0.75)."""

    def __init__(self, in_channels: int, stem: Stem) -> None:
        super().__init__()
        self.conv = _xavier(nn.Conv2d(in_channels, stem.channels, stem.kernel,
                                      padding=stem.kernel // 2))
        # torch divides alpha by size; TF does not: alpha_torch = alpha_tf * size.
        self.lrn = nn.LocalResponseNorm(9, alpha=0.001, beta=0.75, k=1.0) if stem.lrn else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x))
        return self.lrn(x) if self.lrn is not None else x


class ClassifierHead(nn.Module):
    """Global average pool -> dropout -> linear (truncated normal std 1/192, zero bias)."""

    def __init__(self, in_channels: int, num_classes: int, head: Head, dropout: float) -> None:
        super().__init__()
        del head
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(in_channels, num_classes)
        nn.init.trunc_normal_(self.fc.weight, std=HEAD_STD, a=-2 * HEAD_STD, b=2 * HEAD_STD)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(x.mean(dim=(2, 3)), 1)))

