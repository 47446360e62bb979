"""The training recipe as trial CLI flags: one mapping from `nac.training.TrainConfig` fields.

katib/experiments.py writes a TrainConfig into a trial template with `recipe_args`, and the
trial CLI (katib/trial/cli.py) reads the same flags back, so a Katib trial trains with exactly
the recipe the in-process construction driver uses (`NACSettings.training`). Every TrainConfig
field is either a recipe flag here or listed in `RUN_FIELDS` (how a run executes, set per
trial or per pod); tests/katib/trial checks that no field is in neither, so a new field cannot
be forgotten on the way to Katib.

Standard library only: it is imported where the trainer image's torch is not needed.
"""

from __future__ import annotations

import argparse
from typing import Any

#: TrainConfig field -> trial CLI flag (what the run computes).
RECIPE_FLAGS: dict[str, str] = {
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "momentum": "--momentum",
    "nesterov": "--nesterov",
    "weight_decay": "--weight-decay",
    "schedule": "--schedule",
    "min_lr": "--min-lr",
    "grad_clip": "--grad-clip",
    "dropout": "--dropout",
    "label_smoothing": "--label-smoothing",
    "val_every": "--val-every",
}
#: TrainConfig fields that are not part of the recipe, and where each comes from instead.
RUN_FIELDS: dict[str, str] = {
    "seed": "--seed (the nac suggestion's per-replica seed)",
    "stats": "--stats",
    "stat_mode": "--stat-mode (the nac setting `stat`)",
    "checkpoint_dir": "--checkpoint-dir (per trial)",
    "threads": "--threads / OMP_NUM_THREADS (per pod)",
    "device": "--device (per pod)",
    "amp": "automatic: on for CUDA",
    "channels_last": "memory layout only",
    "deterministic": "kernel selection only",
    "eval_batch_size": "evaluation chunking only",
}
_NONE = "none"


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _optional_float(text: str) -> float | None:
    if text.strip().lower() == _NONE:
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or '{_NONE}', got {text!r}") from None


def add_recipe_flags(p: argparse.ArgumentParser) -> None:
    """The recipe flags whose defaults are TrainConfig's (the ones the CLI always had stay)."""
    p.add_argument("--nesterov", type=_bool, default=True, metavar="true|false",
                   help="Nesterov momentum")
    p.add_argument("--schedule", choices=["cosine", "constant"], default="cosine",
                   help="learning-rate schedule (per step)")
    p.add_argument("--min-lr", type=float, default=0.0, help="cosine schedule floor")
    p.add_argument("--grad-clip", type=_optional_float, default=5.0, metavar="NORM|none",
                   help="per-tensor gradient-norm clip ('none' turns it off)")
    p.add_argument("--label-smoothing", type=float, default=0.0,
                   help="label smoothing of the cross-entropy loss")
    p.add_argument("--val-every", type=int, default=1,
                   help="validate every N epochs and after the last")


def recipe_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """TrainConfig keyword arguments for the recipe flags the CLI parsed."""
    return {field: getattr(args, flag[2:].replace("-", "_"))
            for field, flag in RECIPE_FLAGS.items()}


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return _NONE
    return str(value)


def recipe_args(config: Any, *, skip: tuple[str, ...] = ()) -> list[str]:
    """Trial CLI arguments that reproduce `config`'s recipe (fields in `skip` left out, e.g. the
    hyperparameters a tuning Experiment fills in from its search space)."""
    args: list[str] = []
    for field, flag in RECIPE_FLAGS.items():
        if field in skip:
            continue
        value = getattr(config, field)
        if field == "dropout" and value is None:
            continue  # no flag = the architecture's own dropouts
        args += [flag, _format(value)]
    return args
