"""Katib trial CLI: train one architecture and print Katib StdOut metrics (contracts.md §3).

    python -u -m katib.trial --source builtin:digits --architecture b64:... --epochs 3 --stats

Prints, flushed per line, ``epoch=<n>``, ``loss=<validation loss>``, ``accuracy=<validation
accuracy>`` every epoch and, with ``--stats``, one ``nac-stats=<compact JSON>`` line at the end
(the metric the ``nac`` suggestion reads back; docs/katib.md). Each line starts with its UTC
time in RFC 3339 (``2026-12-01T11:10:01.123456Z accuracy=0.98``), which Katib's StdOut
collector stores as the metric's timestamp (katib/trial/metric_lines.py). The training recipe
flags are those of katib/trial/recipe.py. Exit codes (nac/exit_codes.py): 0 success, 2 bad
arguments or input (the message names the argument; also a `nac` stop trial), 1 training
failure; Katib marks the Trial Failed on either. `--data`/`--val-data`, the spellings of
contracts.md §3 that the shipped templates use, are the same options as `--source`/`--val-source`
(docs/cli.md).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from katib import nac_schedule, nac_stats
from nac import exit_codes
from nac.cli_help import HelpFormatter, add_training_flags
from nac.errors import FieldError
from nac.stat_mode import StatMode

from .metric_lines import metric_line
from .recipe import add_recipe_flags, recipe_kwargs

# The split an ingest source gets inside the trial: fixed, so every trial sees the same rows.
SPLIT_SEED = 0
VAL_FRACTION = 0.1
TEST_FRACTION = 0.2


class BadInput(ValueError):
    """A user error; the message starts with the argument it concerns."""


def parser() -> argparse.ArgumentParser:
    """The CLI's parser (tests/test_cli_conventions.py walks it)."""
    p = argparse.ArgumentParser(prog="python -m katib.trial", description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("--source", "--data", dest="data", metavar="SOURCE", required=True,
                   help="dataset artifact directory (train split) or an ingest source such as "
                        "builtin:digits (split inside the trial with a fixed seed)")
    p.add_argument("--val-source", "--val-data", dest="val_data", metavar="DIR",
                   help="validation split directory (with a directory --source)")
    add_training_flags(p, seed_help="seed of the weights and batch order (the nac replica seed)")
    p.add_argument("--checkpoint-dir", help="checkpoint every epoch here; resume from it")
    p.add_argument("--stats", action="store_true", help="print the nac-stats metric at the end")
    p.add_argument("--stat-mode", type=StatMode, choices=list(StatMode),
                   default=StatMode.MEANSSS,
                   help="branch statistic for --stats (the nac setting `stat` must match; "
                        "mean_sq is accepted for meansss)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: $OMP_NUM_THREADS, else torch's default)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:<n>")
    p.add_argument("--iteration", type=int, default=None,
                   help="the nac iteration (informational; lets a template reference it)")
    add_recipe_flags(p)
    p.add_argument("--workers", type=int, default=1,
                   help="data-parallel worker processes on this node (> 1 relaunches the trial "
                        "under torchrun; not with --stats)")
    return p


def _threads(args: argparse.Namespace) -> int | None:
    from nac.optimization import requested_threads

    try:
        return requested_threads(args.threads)
    except FieldError as e:
        raise BadInput(f"--threads: {e.problem}" if e.path == "threads" else str(e)) from None


def _load_data(args: argparse.Namespace) -> tuple[Any, Any]:
    from nac.data import DataError, ingest, read_dataset, split_dataset

    path = Path(args.data)
    try:
        if path.is_dir():
            if not args.val_data:
                raise BadInput("--val-source: required when --source is a dataset directory "
                               "(or pass an ingest source such as builtin:digits)")
            return read_dataset(path), read_dataset(args.val_data)
        if args.val_data:
            raise BadInput("--val-source: only valid with a dataset directory as --source")
        splits = split_dataset(ingest(args.data), val_fraction=VAL_FRACTION,
                               test_fraction=TEST_FRACTION, seed=SPLIT_SEED)
        return splits.train, splits.val
    except DataError as e:
        raise BadInput(f"--source: {e}") from None


def _architecture(args: argparse.Namespace, train_ds: Any) -> Any:
    from nac.spec import SpecError, initial_envelopenet, parse_architecture

    try:
        if args.architecture is None:
            return initial_envelopenet(train_ds.shape, len(train_ds.classes))
        spec = parse_architecture(args.architecture)
    except SpecError as e:
        raise BadInput(f"--architecture: {e}") from None
    if tuple(spec.input_shape) != tuple(train_ds.shape):
        raise BadInput(f"--architecture: input_shape {list(spec.input_shape)} does not match the "
                       f"data's shape {list(train_ds.shape)}")
    if spec.num_classes != len(train_ds.classes):
        raise BadInput(f"--architecture: num_classes {spec.num_classes} does not match the data's "
                       f"{len(train_ds.classes)} classes")
    return spec


def _emit(out: TextIO, name: str, value: float | int | str) -> None:
    out.write(metric_line(name, value) + "\n")
    out.flush()


def train_config(args: argparse.Namespace, threads: int | None = None) -> Any:
    """The TrainConfig the arguments describe (katib/trial/recipe.py); raise BadInput."""
    from nac.training import TrainConfig

    try:
        return TrainConfig(
            **recipe_kwargs(args), seed=args.seed,
            threads=threads, device=args.device, stats=args.stats,
            stat_mode=args.stat_mode,
            checkpoint_dir=args.checkpoint_dir,
        )
    except FieldError as e:
        raise BadInput(f"--{e.path.replace('_', '-')}: {e.problem}") from None


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The trial CLI's arguments (argparse exits 2 naming a bad one)."""
    return parser().parse_args(argv)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Train as the arguments say (metrics to ``out``, default stdout); raise BadInput."""
    out = out if out is not None else sys.stdout
    reason = nac_schedule.stop_reason(args.architecture)
    if reason is not None:  # fail at once: Katib's failure counts end the Experiment
        raise BadInput(f"--architecture: the nac suggestion stopped this Experiment: {reason}")
    threads = _threads(args)
    train_ds, val_ds = _load_data(args)
    spec = _architecture(args, train_ds)

    from nac.distributed.auto import is_primary, train_auto, under_torchrun

    config = train_config(args, threads)

    if not is_primary():  # under torchrun only rank 0 reports metrics
        out = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    if args.stats and under_torchrun():
        raise BadInput("--stats: branch statistics need a single process; run NAS trials "
                       "without torchrun or --workers")
    printed: list[int] = []

    def on_epoch(record: Any) -> None:
        printed.append(record.epoch)
        _emit(out, "epoch", record.epoch)
        loss = record.val_loss if record.val_loss is not None else record.train_loss
        acc = record.val_accuracy if record.val_accuracy is not None else record.train_accuracy
        if loss is not None and math.isfinite(loss):
            _emit(out, "loss", f"{loss:.6g}")
        _emit(out, "accuracy", f"{acc:.6g}")

    try:
        result = train_auto(spec, train_ds, val_ds, config, on_epoch=on_epoch)
    except FieldError as e:  # the global batch cannot be split over the workers
        raise BadInput(f"--{e.path.replace('_', '-')}: {e.problem}") from None
    if not printed and result.history:  # resumed after the last epoch: report it again
        on_epoch(result.history[-1])
    if args.stats:
        _emit(out, nac_stats.METRIC_NAME, nac_stats.encode(
            result.branch_stats, result.gate_stats, args.stat_mode))
    return exit_codes.OK


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # argparse exits 2 naming the argument
    if args.workers < 1:
        print(f"error: --workers: must be >= 1, got {args.workers}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    if args.workers > 1 and args.stats:
        print("error: --stats: branch statistics need a single process; drop --workers",
              file=sys.stderr)
        return exit_codes.BAD_INPUT
    if args.workers > 1 and "RANK" not in os.environ:
        from nac.distributed.auto import relaunch_with_workers

        rest = list(sys.argv[1:] if argv is None else argv)
        return relaunch_with_workers("katib.trial", [*rest, "--workers", "1"], args.workers)
    try:
        return run(args)
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return exit_codes.BAD_INPUT
    except Exception as e:  # a training failure: Katib marks the trial Failed
        print(f"error: training failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return exit_codes.FAILED
