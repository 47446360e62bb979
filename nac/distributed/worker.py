"""The torchrun worker entrypoint: `python -m nac.distributed worker ...` (one per rank).

Every rank prints `nac-elastic start {...}` when it joins a group; rank 0 prints `resume`,
`step`, `epoch` and `done` events, one JSON object per line, flushed, so a demo, a benchmark
or a log search can follow membership changes and progress. Rank 0 writes `result.json` and
`model.pt` (a weights_only state dict) into `--output-dir` (alias `--out`) via `nac.atomic`.
Exit codes (nac/exit_codes.py): 0 done, 2 bad input (the message names the option), 143
stopped by SIGTERM after checkpointing (torchrun restarts the group), 1 a training failure
(e.g. a peer died).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nac import exit_codes
from nac.cli_help import HelpFormatter, add_training_flags

EVENT_PREFIX = "nac-elastic"
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_PREEMPTED = (
    exit_codes.OK, exit_codes.FAILED, exit_codes.BAD_INPUT, exit_codes.SIGTERM)


def emit(event: str, **fields: Any) -> None:
    """One machine-readable progress line on stdout."""
    # One write() per line: ranks share stdout, and print() would write the text and the
    # newline separately, interleaving lines of different ranks.
    sys.stdout.write(f"{EVENT_PREFIX} {event} {json.dumps(fields, sort_keys=True)}\n")
    sys.stdout.flush()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nac.distributed worker", description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("--source", "--data", dest="data", metavar="SOURCE", required=True,
                   help="ingest source (e.g. builtin:digits; split 70/10/20 with seed 0) or a "
                        "train dataset directory (then --val-source)")
    p.add_argument("--val-source", "--val-data", dest="val_data", metavar="DIR",
                   help="validation dataset directory")
    p.add_argument("--test-source", "--test-data", dest="test_data", metavar="DIR",
                   help="test dataset directory (accuracy in result.json)")
    add_training_flags(p, seed_help="seed of the weights and batch order")
    p.add_argument("--label-smoothing", type=float, default=0.0,
                   help="label smoothing of the cross-entropy loss")
    p.add_argument("--micro-batches", type=int, default=2,
                   help="global batch split; every world size must divide it")
    p.add_argument("--checkpoint-every", type=int, default=10, help="steps between checkpoints")
    p.add_argument("--collective-timeout", type=float, default=60.0,
                   help="seconds before a collective with a dead or hung peer fails")
    p.add_argument("--checkpoint-dir", required=True, help="shared by all workers (a PVC)")
    p.add_argument("--output-dir", "--out", dest="out", metavar="DIR",
                   help="rank 0 writes result.json and model.pt here")
    p.add_argument("--trim", action="store_true",
                   help="use the largest multiple of --batch-size training rows (a fixed "
                        "subset), so every row is seen exactly once per epoch")
    p.add_argument("--step-delay", type=float, default=0.0, help=argparse.SUPPRESS)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:<n>")
    return p


def load_splits(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(train, val, test-or-None) from an ingest source or dataset directories."""
    from nac.data import DataError, ingest, read_dataset, split_dataset

    try:
        if Path(args.data).is_dir():
            if not args.val_data:
                raise ValueError("--val-source: required when --source is a dataset directory")
            test = read_dataset(args.test_data) if args.test_data else None
            return read_dataset(args.data), read_dataset(args.val_data), test
        s = split_dataset(ingest(args.data), val_fraction=0.1, test_fraction=0.2, seed=0)
        return s.train, s.val, s.test
    except DataError as e:
        raise ValueError(f"--source: {e}") from None


def _trimmed(ds: Any, batch: int, seed: int) -> Any:
    import numpy as np

    keep = (len(ds.y) // batch) * batch
    order = np.random.default_rng(seed).permutation(len(ds.y))[:keep]
    return ds.subset(np.sort(order))


def run(args: argparse.Namespace) -> int:
    from nac.distributed.ddp import ElasticConfig, Preempted, train_ddp, world_from_env
    from nac.spec import initial_envelopenet, parse_architecture
    from nac.training import TrainConfig, evaluate

    world = world_from_env()
    if world is None:
        raise ValueError("RANK/WORLD_SIZE: not set; start this through torchrun "
                         "(python -m torch.distributed.run ... -m nac.distributed worker)")
    train_ds, val_ds, test_ds = load_splits(args)
    if args.trim:
        train_ds = _trimmed(train_ds, args.batch_size, args.seed)
    spec = (parse_architecture(args.architecture) if args.architecture
            else initial_envelopenet(train_ds.shape, len(train_ds.classes)))
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         momentum=args.momentum, weight_decay=args.weight_decay,
                         dropout=args.dropout, label_smoothing=args.label_smoothing,
                         seed=args.seed, device=args.device, checkpoint_dir=args.checkpoint_dir)
    elastic = ElasticConfig(micro_batches=args.micro_batches,
                            checkpoint_every=args.checkpoint_every,
                            collective_timeout=args.collective_timeout)
    stop = {"requested": False}

    def on_term(signum: int, frame: Any) -> None:
        stop["requested"] = True

    signal.signal(signal.SIGTERM, on_term)
    emit("start", rank=world.rank, world_size=world.world_size, restart=world.restart_count,
         time=time.time())

    def on_step(r: Any) -> None:
        emit("step", epoch=r.epoch, step=r.step, global_step=r.global_step,
             world_size=r.world_size, loss=round(r.loss, 5), time=r.time)
        if args.step_delay:
            time.sleep(args.step_delay)

    def on_epoch(r: Any) -> None:
        emit("epoch", epoch=r.epoch, epochs=r.epochs, train_loss=round(r.train_loss, 5),
             val_accuracy=r.val_accuracy, seconds=round(r.seconds, 2), time=time.time())

    try:
        result = train_ddp(spec, train_ds, val_ds, config, elastic, world=world,
                           on_step=on_step, on_epoch=on_epoch,
                           on_resume=lambda d: emit("resume", time=time.time(), **d),
                           stop_requested=lambda: stop["requested"])
    except Preempted as e:
        emit("preempted", rank=world.rank, message=str(e), time=time.time())
        return EXIT_PREEMPTED
    if world.rank == 0:
        test_acc = evaluate(result.model, test_ds).accuracy if test_ds is not None else None
        doc = {"val_accuracy": result.val_accuracy, "test_accuracy": test_acc,
               "weights_sha256": result.extra["weights_sha256"],
               "coverage": result.extra["coverage"], "world_size": world.world_size,
               "global_step": result.extra["global_step"], "train_rows": len(train_ds.y),
               "parameters": result.parameters, "device": result.device,
               "resumed_from": result.resumed_from,
               "history": [dataclasses.asdict(h) for h in result.history]}
        if args.out:
            import torch

            from nac.atomic import atomic_file, write_text_atomic

            out = Path(args.out)
            with atomic_file(out / "model.pt", "wb") as fh:
                torch.save(result.model.state_dict(), fh)
            write_text_atomic(out / "result.json", json.dumps(doc, indent=2) + "\n")
        emit("done", time=time.time(), **{k: v for k, v in doc.items() if k != "history"})
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except Exception as e:  # noqa: BLE001 - a dead peer, a timeout: torchrun restarts us
        print(f"error: training failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return EXIT_FAILED
