"""Fine-tuning: start a training run from a parent `nac-model` artifact.

    parent = load_parent("runs/old/model")                # weights read with weights_only=True
    spec = child_spec(parent, num_classes=5)             # same architecture, new head size
    result = finetune(parent, spec, train_ds, val_ds, TrainConfig(epochs=10),
                      FinetuneConfig(mode="two_stage"), classes=train_ds.classes)

Modes (SageMaker's `train_only_top_layer` / `reinitialize_top_layer`, Keras' transfer-learning
recipe):

- `freeze`: every parameter but the classifier head is frozen, and the frozen part runs as in
  inference (Keras' `training=False` base): BatchNorm keeps the parent's running statistics
  and dropout is off, so the head learns on the features it will see at test time.
- `two_stage`: `freeze` for `head_epochs`, then the top `unfreeze_cells` cells (and everything
  after them) are trained with the head at `lr * stage2_lr_factor` (defaults: a fifth of the
  epochs, every cell, lr/2; the stem stays frozen). The unfrozen part's BatchNorm layers
  update their statistics unless `keep_bn_stats`: frozen statistics under weights that move
  at this learning rate no longer match the activations, and accuracy fell in stage 2
  (animal-mnist 5-9 at 14x14, 20 labels/class: 0.43 at 10 epochs against 0.84 with updating
  statistics and 0.67 for head-only; benchmarks/finetune.py, docs/serving.md).
- `full`: every parameter trains from the parent's weights (BN statistics update as usual).

The head is re-initialised when the class names differ from the parent's (a different task);
with the same classes it keeps the parent's weights (incremental training). Both stages go
through the one training loop (`nac.training.train`, via its `init` hook), so checkpoints and
resume work as for any run; the parent's hash keys the checkpoints.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nac.export import WEIGHTS_FILE, ModelError, ModelMeta, load_spec, read_meta
from nac.model import NACNet
from nac.spec import ArchitectureSpec
from nac.training import EpochRecord, TrainConfig, TrainResult, train

__all__ = ["FinetuneConfig", "FinetuneMode", "Parent", "ParentInit", "child_spec", "finetune",
           "load_parent", "with_parent_normalization"]

#: Parameter-name prefix of the classifier layer (re-initialised for a new task).
HEAD_PREFIX = "head.fc."


class FinetuneMode(StrEnum):
    FREEZE = "freeze"
    TWO_STAGE = "two_stage"
    FULL = "full"


@dataclass(frozen=True)
class FinetuneConfig:
    """How to start from the parent (validated on creation)."""

    mode: str = "two_stage"
    head_epochs: int | None = None  # two_stage: head-only epochs (None = a fifth, >= 1)
    head_lr_factor: float = 10.0  # head-only training (freeze, stage 1): lr * this
    # two_stage stage 2: cells (counted from the top; None = every cell) unfrozen, at learning
    # rate lr * factor. Measured on animal-mnist 0-4 -> 5-9 at 14x14 (benchmarks/finetune.py,
    # seeds 0 and 1, 10 epochs of 100 rows): every cell beat 4 of 5 (0.87/0.77 vs 0.84/0.75),
    # lr/2 and lr about equal; lr/10 with frozen BN statistics (the textbook recipe) 0.73.
    unfreeze_cells: int | None = None
    stage2_lr_factor: float = 0.5
    keep_bn_stats: bool = False  # two_stage: BN keeps the parent's statistics in stage 2 too

    def __post_init__(self) -> None:
        try:
            FinetuneMode(self.mode)
        except ValueError:
            raise ValueError(f"finetune mode: must be one of {[m.value for m in FinetuneMode]}, "
                             f"got {self.mode!r}") from None
        if self.head_epochs is not None and (isinstance(self.head_epochs, bool)
                                             or not isinstance(self.head_epochs, int)
                                             or self.head_epochs < 1):
            raise ValueError(f"head_epochs: must be an integer >= 1 or None, got "
                             f"{self.head_epochs!r}")
        if self.unfreeze_cells is not None and (isinstance(self.unfreeze_cells, bool)
                                                or not isinstance(self.unfreeze_cells, int)
                                                or self.unfreeze_cells < 1):
            raise ValueError(f"unfreeze_cells: must be an integer >= 1 or None (every cell), "
                             f"got {self.unfreeze_cells!r}")
        if not 0 < self.stage2_lr_factor <= 1:
            raise ValueError(f"stage2_lr_factor: must be in (0, 1], got {self.stage2_lr_factor!r}")
        if not 0 < self.head_lr_factor <= 1000:
            raise ValueError(f"head_lr_factor: must be in (0, 1000], got {self.head_lr_factor!r}")


@dataclass(frozen=True)
class Parent:
    """A parent Model artifact, read once: spec, weights and what the child records about it."""

    directory: str
    spec: ArchitectureSpec
    meta: ModelMeta
    state: dict[str, torch.Tensor] = field(repr=False)
    sha256: str  # of weights.pt

    def record(self) -> dict[str, Any]:
        """What the child's meta.json stores under "parent" (JSON-safe)."""
        return {"sha256": self.sha256, "classes": list(self.meta.classes),
                "data_source": str(self.meta.hyperparameters.get("data_source", "")),
                "directory": self.directory}


def load_parent(directory: str | os.PathLike[str]) -> Parent:
    """Read a parent `nac-model` artifact (torch.load(weights_only=True)); ModelError if bad."""
    meta = read_meta(directory)
    spec = load_spec(directory)
    weights = Path(directory) / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelError(f"parent_model: {weights} is missing; give the directory a train step "
                         "wrote")
    raw = weights.read_bytes()
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file: one clear error
        raise ModelError(f"parent_model: {weights} is not a readable state_dict "
                         f"({type(e).__name__}); re-export the parent") from None
    if not isinstance(state, dict):
        raise ModelError(f"parent_model: {weights} holds a {type(state).__name__}, not a "
                         "state_dict")
    return Parent(directory=str(directory), spec=spec, meta=meta, state=state,
                  sha256=hashlib.sha256(raw).hexdigest())


def child_spec(parent: Parent, num_classes: int,
               input_shape: tuple[int, int, int] | None = None) -> ArchitectureSpec:
    """The parent's architecture with `num_classes` outputs; refuses another input shape."""
    if input_shape is not None and tuple(input_shape) != tuple(parent.spec.input_shape):
        raise ValueError(f"parent_model: the parent takes inputs of shape "
                         f"{list(parent.spec.input_shape)} but the data has {list(input_shape)}; "
                         "fine-tune on data of the parent's shape or train from scratch")
    return replace(parent.spec, num_classes=int(num_classes))


def _inference(module: nn.Module, _inputs: Any) -> None:
    """Forward pre-hook: this BatchNorm keeps its running statistics / this Dropout is off."""
    module.training = False


def _inference_mode(roots: list[nn.Module], kinds: tuple[type[nn.Module], ...]) -> None:
    """Make every `kinds` module under `roots` run as in eval() even while the model trains."""
    for root in roots:
        for m in root.modules():
            if isinstance(m, kinds):
                m.register_forward_pre_hook(_inference)


def _trainable_from(model: NACNet, cells: int | None) -> int:
    """Index of the first block trained in stage 2: the `cells`-th cell from the top."""
    cell_indices = [i for i, (_, is_cell, _) in enumerate(model._plan) if is_cell]
    return cell_indices[-min(cells or len(cell_indices), len(cell_indices))]


class ParentInit:
    """`nac.training.train` init hook: load the parent's weights, then freeze per stage.

    `scope`: "head" (only the classifier trains), "top" (the head and the blocks from the
    `unfreeze_cells`-th cell from the top), or "all". `bn_frozen_everywhere` puts every BN in
    inference mode (two_stage), otherwise only the frozen part's.
    """

    def __init__(self, state: dict[str, torch.Tensor], *, keep_head: bool, scope: str,
                 unfreeze_cells: int | None = None, bn_frozen_everywhere: bool = False,
                 tag: str = "") -> None:
        self.state, self.keep_head, self.scope = state, keep_head, scope
        self.unfreeze_cells, self.bn_frozen_everywhere = unfreeze_cells, bn_frozen_everywhere
        self.fingerprint = f"{tag}:{scope}:{keep_head}:{unfreeze_cells}:{bn_frozen_everywhere}"
        self.loaded_fraction = 0.0

    def __call__(self, model: NACNet) -> NACNet:
        wanted = {k: v for k, v in self.state.items()
                  if self.keep_head or not k.startswith(HEAD_PREFIX)}
        own = model.state_dict()
        for key, value in wanted.items():
            if key in own and own[key].shape != value.shape:
                raise ModelError(f"parent_model: {key} has shape {list(value.shape)} in the "
                                 f"parent but {list(own[key].shape)} here; the architectures "
                                 "differ")
        missing, unexpected = model.load_state_dict(wanted, strict=False)
        missing = [k for k in missing if self.keep_head or not k.startswith(HEAD_PREFIX)]
        if missing or unexpected:
            raise ModelError(f"parent_model: weights do not fit the architecture (missing "
                             f"{missing[:3]}, unexpected {unexpected[:3]})")
        params = dict(model.named_parameters())
        self.loaded_fraction = sum(params[k].numel() for k in wanted if k in params) / max(
            1, sum(p.numel() for p in params.values()))  # share of parameters from the parent
        if self.scope == "all":
            return model
        first = _trainable_from(model, self.unfreeze_cells) if self.scope == "top" else None
        frozen: list[nn.Module] = [model.stem] + [
            block for i, block in enumerate(model.blocks) if first is None or i < first]
        for module in frozen:
            for p in module.parameters():
                p.requires_grad_(False)
        # The frozen part runs as in inference (Keras' `training=False` base): BN keeps the
        # parent's statistics and dropout is off, so the head learns on the features it will
        # see at test time, not on noisier ones.
        _inference_mode(frozen, (nn.modules.batchnorm._BatchNorm, nn.Dropout))
        if self.bn_frozen_everywhere:
            _inference_mode([model], (nn.modules.batchnorm._BatchNorm,))
        return model


def _parent_normalization(parent: Parent) -> Any:
    if not parent.meta.normalization:
        return None
    from nac.data.format import Normalization

    return Normalization.from_json(parent.meta.normalization)


def with_parent_normalization(parent: Parent, ds: Any) -> Any:
    """`ds` scaled as the parent's inputs were (its features were learned on them); None stays."""
    norm = _parent_normalization(parent)
    return replace(ds, normalization=norm) if norm is not None and ds is not None else ds


def _subdir(config: TrainConfig, name: str) -> TrainConfig:
    if not config.checkpoint_dir:
        return config
    path = Path(config.checkpoint_dir) / name
    path.mkdir(parents=True, exist_ok=True)
    return replace(config, checkpoint_dir=str(path))


def finetune(parent: Parent, spec: ArchitectureSpec, train_ds: Any, val_ds: Any | None,
             config: TrainConfig, ft: FinetuneConfig, *, classes: list[str],
             on_epoch: Any = None) -> TrainResult:
    """Train `spec` (from `child_spec`) starting from `parent`; `config.epochs` in total.

    The data is fed with the parent's normalisation (the features were learned on inputs
    scaled that way); save the child with `extra["normalization"]`. Head-only training uses
    `lr * head_lr_factor`: a freshly initialised linear layer on fixed features takes a
    larger step than a whole network. Returns the final stage's TrainResult with the whole
    history (epochs numbered across stages) and `extra["parent"]` = `parent.record()`,
    `extra["finetune"]` = the settings.
    """
    keep_head = list(classes) == list(parent.meta.classes)
    mode = FinetuneMode(ft.mode)
    tag = parent.sha256
    norm = _parent_normalization(parent)
    train_ds, val_ds = (with_parent_normalization(parent, d) for d in (train_ds, val_ds))
    head_lr = dict(lr=config.lr * ft.head_lr_factor, min_lr=config.min_lr * ft.head_lr_factor)
    if mode is not FinetuneMode.TWO_STAGE:
        init = ParentInit(parent.state, keep_head=keep_head, tag=tag,
                          scope="head" if mode is FinetuneMode.FREEZE else "all")
        run = replace(config, **head_lr) if mode is FinetuneMode.FREEZE else config
        result = train(spec, train_ds, val_ds, run, on_epoch=on_epoch, init=init)
    else:
        head_epochs = ft.head_epochs or max(1, config.epochs // 5)
        if head_epochs >= config.epochs:
            raise ValueError(f"head_epochs: {head_epochs} leaves no epoch for stage 2 of "
                             f"{config.epochs}; lower it or raise epochs")
        first = train(spec, train_ds, val_ds,
                      _subdir(replace(config, epochs=head_epochs, **head_lr), "head"),
                      on_epoch=on_epoch,
                      init=ParentInit(parent.state, keep_head=keep_head, scope="head", tag=tag))
        stage1 = {k: v.detach().cpu().clone() for k, v in first.model.state_dict().items()}

        def shifted(r: EpochRecord) -> None:
            if on_epoch is not None:
                on_epoch(replace(r, epoch=r.epoch + head_epochs, epochs=config.epochs))

        top = replace(config, epochs=config.epochs - head_epochs,
                      lr=config.lr * ft.stage2_lr_factor,
                      min_lr=config.min_lr * ft.stage2_lr_factor)
        result = train(spec, train_ds, val_ds, _subdir(top, "top"), on_epoch=shifted,
                       init=ParentInit(stage1, keep_head=True, scope="top",
                                       unfreeze_cells=ft.unfreeze_cells,
                                       bn_frozen_everywhere=ft.keep_bn_stats, tag=tag + ":2"))
        result.history = first.history + [
            replace(r, epoch=r.epoch + head_epochs, epochs=config.epochs) for r in result.history]
        result.seconds += first.seconds
    result.extra["parent"] = parent.record()
    result.extra["normalization"] = norm if norm is not None else train_ds.normalization
    result.extra["finetune"] = {"mode": mode.value, "head_reinitialised": not keep_head,
                                "head_epochs": ft.head_epochs or 0,
                                "head_lr_factor": ft.head_lr_factor,
                                "unfreeze_cells": ft.unfreeze_cells,
                                "stage2_lr_factor": ft.stage2_lr_factor}
    return result
