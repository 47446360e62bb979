"""train step: final training of the searched spec with the tuned hyperparameters."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from components._impl.artifacts import (
    log_metrics,
    read_architecture,
    read_json,
    set_metadata,
)
from components._impl.runtime import ensure_writable_dir
from components._impl.train_job import LauncherConfig, job_image
from nac.atomic import write_text_atomic

#: Hyperparameters a tune result may carry -> TrainConfig field type.
HYPERPARAMETER_TYPES = {"lr": float, "momentum": float, "weight_decay": float,
                        "batch_size": int, "dropout": float}


def parse_hyperparameters(doc: Any) -> dict[str, Any]:
    """Typed TrainConfig overrides from a tune result (Katib assignments are strings)."""
    if not isinstance(doc, dict):
        raise ValueError(f"hyperparameters must be a JSON object, got {type(doc).__name__}")
    out: dict[str, Any] = {}
    for name, value in doc.items():
        if name not in HYPERPARAMETER_TYPES:
            raise ValueError(f"hyperparameters: {name!r} is not a training hyperparameter; "
                             f"use {', '.join(HYPERPARAMETER_TYPES)}")
        try:
            out[name] = HYPERPARAMETER_TYPES[name](float(value))
        except (TypeError, ValueError):
            raise ValueError(f"hyperparameters: {name}={value!r} is not a number") from None
    return out


def merge_datasets(a: Any, b: Any) -> Any:
    """Train + val as one training set (same classes, train's normalisation/augmentation)."""
    import numpy as np

    from nac.data import Dataset

    if list(a.classes) != list(b.classes):
        raise ValueError(f"train classes {a.classes} differ from val classes {b.classes}")
    return Dataset(x=np.concatenate([a.x, b.x]), y=np.concatenate([a.y, b.y]),
                   classes=list(a.classes), source=a.source, split="train",
                   normalization=a.normalization, augmentation=a.augmentation)


def checkpoint_path(checkpoint_dir: str, run_id: str, fallback: Path) -> Path:
    """Where this run checkpoints: `<checkpoint_dir>/<run_id>`, or beside the model output."""
    if not checkpoint_dir:
        return fallback
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id) if run_id else "default"
    return Path(checkpoint_dir) / safe / "train"


def log_markdown(history: list[Any], *, header: dict[str, Any]) -> str:
    def f(v: Any, d: int = 4) -> str:
        return "–" if v is None else f"{v:.{d}f}"

    lines = ["# Final training", ""]
    lines += [f"- {k}: `{v}`" for k, v in header.items()]
    lines += ["", "| epoch | lr | train loss | train acc | val loss | val acc | seconds |",
              "|---|---|---|---|---|---|---|"]
    for r in history:
        lines.append(f"| {r.epoch} | {r.lr:.4g} | {f(r.train_loss)} | {f(r.train_accuracy)} | "
                     f"{f(r.val_loss)} | {f(r.val_accuracy)} | {r.seconds:.1f} |")
    return "\n".join(lines) + "\n"


def run_train(*, train_data: Any, val_data: Any, architecture: Any, hyperparameters: Any,
              model: Any, metrics: Any, training_log: Any, epochs: int, include_val: bool,
              seed: int, checkpoint_dir: str, run_id: str,
              label_smoothing: float = 0.0, workers: int = 1, parent_model: Any = None,
              finetune_mode: str = "two_stage") -> float:
    from nac.data import read_dataset
    from nac.export import save_model
    from nac.training import TrainConfig, resolve_device, train

    launch = LauncherConfig.from_env()  # set on the task by components.train.set_launcher
    ckpt = checkpoint_path(checkpoint_dir, run_id, Path(model.path).parent / "checkpoints")
    ensure_writable_dir(ckpt)  # before reading data or building the network
    spec = read_architecture(architecture.path)
    hp = parse_hyperparameters(read_json(hyperparameters.path, "hyperparameters"))
    train_ds = read_dataset(train_data.path)
    val_ds = read_dataset(val_data.path)
    fit_ds = merge_datasets(train_ds, val_ds) if include_val else train_ds
    parent = None
    if parent_model is not None:  # fine-tune (nac/finetune.py): the parent's architecture
        from nac.finetune import child_spec, load_parent

        if workers > 1 or launch.launcher != "in-pod":
            raise ValueError("parent_model: fine-tuning runs in one process; set workers=1 "
                             "and the in-pod launcher")
        parent = load_parent(parent_model.path)
        spec = child_spec(parent, len(train_ds.classes), tuple(train_ds.x.shape[1:]))
    config = TrainConfig(epochs=epochs, seed=seed, checkpoint_dir=str(ckpt),
                         label_smoothing=label_smoothing, **hp)
    device = resolve_device(config.device)
    print(f"train: {fit_ds.rows} rows ({'train+val' if include_val else 'train'}), "
          f"{epochs} epochs on {device}, hyperparameters {json.dumps(hp)}, "
          f"checkpoints in {ckpt}", flush=True)

    def on_epoch(r: Any) -> None:
        val = "" if r.val_accuracy is None else f" val_accuracy={r.val_accuracy:.4f}"
        print(f"train: epoch {r.epoch}/{r.epochs} loss={r.train_loss:.4f} "
              f"accuracy={r.train_accuracy:.4f}{val} ({r.seconds:.1f}s)", flush=True)

    if launch.launcher != "in-pod":  # an elastic PyTorchJob, weights back over the PVC
        from components._impl.train_job import run_job

        result = run_job(spec, fit_ds, val_ds, config, workers=workers, launch=launch,
                         ckpt=ckpt, run_id=run_id, image=job_image())
    elif workers > 1:  # data-parallel on this pod: torchrun processes (docs/distributed.md)
        from nac.data import write_dataset
        from nac.distributed.auto import train_with_workers

        fit_dir = Path(train_data.path)
        if include_val:
            fit_dir = ckpt.parent / "train-plus-val"
            write_dataset(fit_ds, fit_dir)
        result = train_with_workers(spec, str(fit_dir), val_data.path, config, workers,
                                    str(ckpt.parent / "workers"))
    elif parent is not None:
        from nac.finetune import FinetuneConfig, finetune

        result = finetune(parent, spec, fit_ds, val_ds, config,
                          FinetuneConfig(mode=finetune_mode), classes=train_ds.classes,
                          on_epoch=on_epoch)
    else:
        result = train(spec, fit_ds, val_ds, config, on_epoch=on_epoch)
    if result.resumed_from:
        print(f"train: resumed from the checkpoint of epoch {result.resumed_from}", flush=True)
    val_accuracy = float(result.val_accuracy or 0.0)
    last = result.history[-1] if result.history else None
    values = {"val_accuracy": val_accuracy, "val_loss": result.val_loss,  # None/NaN: not logged
              "train_accuracy": float(last.train_accuracy) if last else 0.0,
              "parameters": float(result.parameters), "epochs": float(epochs),
              "seconds": float(result.seconds)}
    hyper = {**config.fingerprint(), "include_val": include_val}
    hyper = {k: v for k, v in hyper.items() if isinstance(v, int | float | str | bool)}
    hyper["data_source"] = train_ds.source  # what a child fine-tuned from this model records
    normalization = train_ds.normalization
    if parent is not None:  # the parent's record and the normalisation its features expect
        normalization = result.extra["normalization"]
        hyper.update({f"parent_{k}": v for k, v in result.extra["parent"].items()},
                     finetune_mode=finetune_mode)
    save_model(model.path, result.model, spec, train_ds.classes,
               normalization=normalization, hyperparameters=hyper,
               metrics={"val_accuracy": val_accuracy})
    set_metadata(model, {"format": "nac-model", "parameters": result.parameters,
                         "val_accuracy": val_accuracy, "classes": len(train_ds.classes),
                         **({"parent_sha256": parent.sha256, "finetune_mode": finetune_mode}
                            if parent is not None else {})})
    log_metrics(metrics, values)
    write_text_atomic(training_log.path, log_markdown(result.history, header={
        "rows": fit_ds.rows, "device": result.device, "parameters": result.parameters,
        "hyperparameters": json.dumps(hp), "resumed_from_epoch": result.resumed_from,
        "checkpoints": str(ckpt)}))
    return val_accuracy
