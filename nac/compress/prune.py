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

Pruning is iterative (`steps`, default 3): each step cuts to `target^(k/steps)` of the
original MACs and fine-tunes `epochs/steps` epochs (cosine from lr 0.02) before the next
ranks the channels again, as in Han et al. 2015 and torch-pruning's `iterative_steps`.
Why: on the pipeline's NAC model (digits, 9.2 M MACs) one cut to 0.52x lost 1.1-1.4 points
of test accuracy whatever the 15-epoch recipe (constant 0.01, cosine 0.02/0.05, label
smoothing); three cuts with the same 15 epochs in all lost 0.28 (one image of 359). On the
8-epoch initial EnvelopeNet (3.3 M MACs) it is the other way round (one cut 0.0-0.28 points,
three cuts to 0.495x 1.39): the digits test split resolves 1-5 images here, so treat either
recipe as within noise of the other (docs/serving.md has the runs).
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


def _prune_to(model: NACNet, macs: int, mac_ratio: float, shape: tuple[int, int, int], *,
              margin: float = 0.02) -> tuple[NACNet, int]:
    """`model` (of `macs` MACs) pruned to about `mac_ratio` of them; (pruned copy, its MACs).
    A miss is corrected once, aiming `margin` (channel ratio) below the target."""
    ratio = min(0.9, 1.0 - math.sqrt(mac_ratio))
    pruned = _prune(model, ratio, shape)
    macs1, _ = count_macs(pruned, shape)
    if macs1 / macs > mac_ratio:  # one correction from the measured exponent
        exponent = math.log(macs1 / macs) / math.log(1.0 - ratio)
        ratio = min(0.9, 1.0 - mac_ratio ** (1.0 / max(exponent, 1.0)) + margin)
        pruned = _prune(model, ratio, shape)
        macs1, _ = count_macs(pruned, shape)
    return pruned, macs1


def prune_and_finetune(model: NACNet, train_ds: Any, val_ds: Any | None, *,
                       target_mac_ratio: float = 0.5, epochs: int = 5, steps: int = 3,
                       config: TrainConfig | None = None) -> PruneResult:
    """Prune `model` to about `target_mac_ratio` of its MACs in `steps` cuts, fine-tuning
    `epochs` epochs in all (split over the steps; module docstring).

    `config` gives the fine-tune recipe (default: cosine from lr 0.02, batch 64, seed 0);
    with `epochs=0` the cuts follow each other without fine-tuning.
    """
    if not 0 < target_mac_ratio < 1:
        raise ValueError(f"target_mac_ratio: must be in (0, 1), got {target_mac_ratio!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"prune epochs: must be an integer >= 0, got {epochs!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"prune steps: must be an integer >= 1, got {steps!r}")
    from dataclasses import replace

    spec = model.spec
    shape = tuple(spec.input_shape)
    base = prepare_for_pruning(model)
    macs0, params0 = count_macs(base, shape)
    recipe = config or TrainConfig(epochs=epochs, lr=0.02, schedule="cosine", batch_size=64,
                                   seed=0)
    pruned, macs1, done = base, macs0, 0
    for k in range(1, steps + 1):
        want = target_mac_ratio ** (k / steps) * macs0 / macs1
        # only the last cut aims below the target: margins on every cut would compound
        pruned, macs1 = _prune_to(pruned, macs1, min(want, 0.999), shape,
                                  margin=0.02 if k == steps else 0.0)
        step_epochs = epochs * k // steps - done  # the epochs spread, the remainder last
        done += step_epochs
        if step_epochs:
            step_recipe = replace(recipe, epochs=step_epochs, checkpoint_dir=None, stats=False)
            pruned = train(spec, train_ds, val_ds, step_recipe,
                           init=lambda _built, m=pruned: m).model.cpu()
    macs1, params1 = count_macs(pruned, shape)
    pruned = pruned.cpu().eval().to(memory_format=torch.contiguous_format)
    pruned.channels_last = False
    return PruneResult(model=pruned, macs_before=macs0, macs_after=macs1,
                       params_before=params0, params_after=params1,
                       channel_ratio=round(1.0 - math.sqrt(macs1 / macs0), 4),
                       finetune_epochs=epochs)
