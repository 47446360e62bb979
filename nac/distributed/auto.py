"""One entry for callers that may or may not run under torchrun (trial CLI, train component).

    code = relaunch_with_workers("katib.trial", argv, workers=2)   # outside torchrun, N > 1
    result = train_auto(spec, train_ds, val_ds, config, on_epoch=cb) # inside or outside

Under torchrun (RANK/WORLD_SIZE set) training is `train_ddp` whatever the world size, so an
elastic job that starts with one worker writes checkpoints that a bigger group resumes;
outside it is the single-process `nac.training.train`. Only rank 0 should print metrics:
`is_primary()` says whether this process is it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from nac.distributed.launch import TORCHRUN_ENV, RendezvousSpec, free_port, torchrun_argv

__all__ = ["is_primary", "load_result", "relaunch_with_workers", "train_auto",
           "train_with_workers", "under_torchrun", "worker_args"]


def under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_primary() -> bool:
    """True outside torchrun and on global rank 0 inside it."""
    return os.environ.get("RANK", "0") == "0"


def relaunch_with_workers(module: str, argv: Sequence[str], workers: int) -> int:
    """Run `python -m module argv` as `workers` local torchrun processes; their exit code.

    One node, `--nnodes=1:1`, a c10d store on a free loopback port; stdout/stderr are
    inherited, so rank 0's metric lines reach whoever reads ours (Katib's StdOut collector).
    """
    if workers < 1:
        raise ValueError(f"workers: must be >= 1, got {workers}")
    rdzv = RendezvousSpec(min_nodes=1, max_nodes=1, nproc_per_node=workers,
                          endpoint=f"127.0.0.1:{free_port()}", run_id=f"local-{os.getpid()}",
                          max_restarts=0)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           **TORCHRUN_ENV}
    return subprocess.run(torchrun_argv(rdzv, module, list(argv)), env=env,
                          check=False).returncode


def train_auto(spec: Any, train_ds: Any, val_ds: Any | None, config: Any, *,
               on_epoch: Callable[[Any], None] | None = None, elastic: Any = None) -> Any:
    """`train_ddp` under torchrun (callbacks on rank 0), else `nac.training.train`."""
    if not under_torchrun():
        from nac.training import train

        return train(spec, train_ds, val_ds, config, on_epoch=on_epoch)
    from nac.distributed.ddp import ElasticConfig, train_ddp, world_from_env

    world = world_from_env()
    assert world is not None
    if elastic is None:  # every world size up to the launch size divides this
        elastic = ElasticConfig(micro_batches=_micro_batches(config.batch_size,
                                                             world.world_size))
    return train_ddp(spec, train_ds, val_ds, config, elastic, world=world, on_epoch=on_epoch)


def _micro_batches(batch: int, world_size: int) -> int:
    """The world size itself when it divides the global batch (the trial's fixed group)."""
    if batch % world_size:
        raise ValueError(f"batch_size: the global batch {batch} must be divisible by the "
                         f"{world_size} workers (each runs batch_size / workers per step)")
    return world_size


def worker_args(config: Any, *, train_dir: Any, val_dir: Any, spec_path: Any, out: Any,
                micro_batches: int) -> list[str]:
    """The options of `python -m nac.distributed worker` for this TrainConfig (one list for
    the local launcher below and the PyTorchJob the train step creates)."""
    args = ["--data", str(train_dir), "--val-data", str(val_dir),
            "--architecture", f"@{spec_path}", "--epochs", str(config.epochs),
            "--batch-size", str(config.batch_size), "--lr", str(config.lr),
            "--momentum", str(config.momentum), "--weight-decay", str(config.weight_decay),
            "--label-smoothing", str(config.label_smoothing), "--seed", str(config.seed),
            "--micro-batches", str(micro_batches), "--checkpoint-dir",
            str(config.checkpoint_dir), "--out", str(out), "--device", config.device]
    return args + (["--dropout", str(config.dropout)] if config.dropout is not None else [])


def load_result(spec: Any, out: Any, config: Any, doc: dict[str, Any], *, seconds: float,
                workers: int) -> Any:
    """A `TrainResult` from rank 0's `model.pt` (weights_only) and `result.json` document."""
    from pathlib import Path

    import torch

    from nac.model import build_model
    from nac.training import EpochRecord, TrainResult

    model = build_model(spec, dropout=config.dropout)
    model.load_state_dict(torch.load(Path(out) / "model.pt", map_location="cpu",
                                     weights_only=True))
    model.eval()
    history = [EpochRecord(**h) for h in doc["history"]]
    val_loss = next((h.val_loss for h in reversed(history) if h.val_loss is not None), None)
    return TrainResult(model=model, history=history, val_accuracy=doc["val_accuracy"],
                       val_loss=val_loss, branch_stats={}, gate_stats=model.gate_values(),
                       seconds=seconds, parameters=doc["parameters"], device=doc["device"],
                       resumed_from=doc["resumed_from"],
                       extra={"workers": workers, "weights_sha256": doc["weights_sha256"]})


def train_with_workers(spec: Any, train_dir: str, val_dir: str, config: Any, workers: int,
                       out_dir: str) -> Any:
    """Train on `workers` local torchrun processes; a `TrainResult` like `train`'s.

    The datasets are artifact directories (what a KFP step already has); checkpoints go to
    `config.checkpoint_dir`, so a restarted step resumes, at any worker count.
    """
    import json
    import time
    from pathlib import Path

    from nac.atomic import write_text_atomic

    spec_path = Path(out_dir) / "architecture.json"
    write_text_atomic(spec_path, json.dumps(spec.to_json()))
    args = ["worker", *worker_args(config, train_dir=train_dir, val_dir=val_dir,
                                   spec_path=spec_path, out=out_dir,
                                   micro_batches=_micro_batches(config.batch_size, workers))]
    started = time.perf_counter()
    code = relaunch_with_workers("nac.distributed", args, workers)
    if code != 0:
        raise RuntimeError(f"distributed training on {workers} workers failed (exit {code}); "
                           "the workers' errors are in the log above")
    doc = json.loads((Path(out_dir) / "result.json").read_text())
    return load_result(spec, out_dir, config, doc, seconds=time.perf_counter() - started,
                       workers=workers)
