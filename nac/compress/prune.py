"""Structured (channel) pruning with torch-pruning, then a short fine-tune.

torch-pruning traces the network into a dependency graph, so removing output channels of a
branch also removes the matching input channels of every consumer (the next bottleneck, the
concatenations, skip inputs, the depthwise halves of separable convolutions). Two things are
made explicit first, on a copy:

- the centred BatchNorm (shift, no scale: `nac.ops._CentredBatchNorm`) becomes a standard
  `BatchNorm2d` whose scale is fixed at 1, a layer torch-pruning knows how to cut;
- the scalar skip gates become buffers (constants), since they scale whole inputs and have
  no channel dimension to prune.

Channels are ranked by L2 magnitude per group, the classifier is never pruned, and the
channel ratio is chosen from the MAC target (MACs scale with about (1 - r)^2 for convs
pruned on both sides) and corrected once if the count misses. The fine-tune runs through
`nac.training.train` (its `init` hook hands it the pruned module).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nac.model import NACNet
from nac.ops import _CentredBatchNorm
from nac.training import TrainConfig, train

__all__ = ["PruneResult", "count_macs", "prepare_for_pruning", "prune_and_finetune"]


@dataclass
class PruneResult:
    model: NACNet
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    channel_ratio: float
    finetune_epochs: int

    @property
    def mac_ratio(self) -> float:
        return self.macs_after / max(1, self.macs_before)


def count_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> tuple[int, int]:
    """(multiply-accumulates, parameters) of one forward pass of a single example."""
    import torch_pruning as tp

    was = model.training
    model.eval()
    try:
        macs, params = tp.utils.count_ops_and_params(model, torch.zeros((1, *input_shape)))
    finally:
        model.train(was)
    return int(macs), int(params)


def prepare_for_pruning(model: NACNet) -> NACNet:
    """A copy with standard BatchNorm (scale fixed at 1) and constant skip gates; same outputs."""
    model = copy.deepcopy(model).cpu().eval().to(memory_format=torch.contiguous_format)
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, _CentredBatchNorm):
                bn = nn.BatchNorm2d(child.num_features, eps=child.eps, momentum=child.momentum)
                with torch.no_grad():
                    bn.weight.fill_(1.0)
                    bn.bias.copy_(child.bias)
                    bn.running_mean.copy_(child.running_mean)
                    bn.running_var.copy_(child.running_var)
                    bn.num_batches_tracked.copy_(child.num_batches_tracked)
                bn.weight.requires_grad_(False)
                bn.train(child.training)
                setattr(module, name, bn)
    for block in model.blocks:
        gates = getattr(block, "gates", None)
        if isinstance(gates, nn.Parameter):
            del block.gates
            block.register_buffer("gates", gates.detach().clone())
    return model


def _prune(model: NACNet, ratio: float, input_shape: tuple[int, int, int]) -> NACNet:
    import torch_pruning as tp

    model = copy.deepcopy(model)
    pruner = tp.pruner.MetaPruner(
        model, torch.zeros((1, *input_shape)), importance=tp.importance.MagnitudeImportance(p=2),
        pruning_ratio=ratio, ignored_layers=[model.head.fc])
    pruner.step()
    return model


def prune_and_finetune(model: NACNet, train_ds: Any, val_ds: Any | None, *,
                       target_mac_ratio: float = 0.5, epochs: int = 5,
                       config: TrainConfig | None = None) -> PruneResult:
    """Prune `model` to about `target_mac_ratio` of its MACs, then fine-tune `epochs` epochs.

    `config` gives the fine-tune recipe (default: constant lr 0.01, batch 64, seed 0).
    """
    if not 0 < target_mac_ratio < 1:
        raise ValueError(f"target_mac_ratio: must be in (0, 1), got {target_mac_ratio!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"prune epochs: must be an integer >= 0, got {epochs!r}")
    spec = model.spec
    shape = tuple(spec.input_shape)
    base = prepare_for_pruning(model)
    macs0, params0 = count_macs(base, shape)
    ratio = min(0.9, 1.0 - math.sqrt(target_mac_ratio))
    pruned = _prune(base, ratio, shape)
    macs1, params1 = count_macs(pruned, shape)
    if macs1 / macs0 > target_mac_ratio:  # one correction from the measured exponent
        exponent = math.log(macs1 / macs0) / math.log(1.0 - ratio)
        ratio = min(0.9, 1.0 - target_mac_ratio ** (1.0 / max(exponent, 1.0)) + 0.02)
        pruned = _prune(base, ratio, shape)
        macs1, params1 = count_macs(pruned, shape)
    if epochs:
        recipe = config or TrainConfig(epochs=epochs, lr=0.01, schedule="constant",
                                       batch_size=64, seed=0)
        from dataclasses import replace

        recipe = replace(recipe, epochs=epochs, checkpoint_dir=None, stats=False)
        pruned = train(spec, train_ds, val_ds, recipe, init=lambda _built: pruned).model
    pruned = pruned.cpu().eval().to(memory_format=torch.contiguous_format)
    pruned.channels_last = False
    return PruneResult(model=pruned, macs_before=macs0, macs_after=macs1,
                       params_before=params0, params_after=params1,
                       channel_ratio=round(ratio, 4), finetune_epochs=epochs)
