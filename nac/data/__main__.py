"""`python -m nac.data ingest|preprocess ...`: the two steps without KFP.

    ingest     [SOURCE | --source SOURCE] --output-dir DIR [--label-column L --image-shape CxHxW]
    preprocess [DATASET | --source DATASET] --output-dir DIR [--val-fraction F --seed N ...]

Exit codes (nac/exit_codes.py): 0 success, 2 bad input (one line `error: <message>` on
stderr, no artifact), 1 the step failed for another reason (e.g. the output is not writable).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nac import exit_codes
from nac.cli_help import HelpFormatter
from nac.data.errors import DataError
from nac.data.ingest import DEFAULT_SOURCE
from nac.data.steps import run_ingest, run_preprocess


@dataclass
class _Out:
    path: str


def parser() -> argparse.ArgumentParser:
    """The CLI's parser (tests/test_cli_conventions.py walks it)."""
    p = argparse.ArgumentParser(prog="python -m nac.data", description=__doc__,
                                formatter_class=HelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    ing = sub.add_parser("ingest", help="read a source into a dataset artifact directory",
                         formatter_class=HelpFormatter)
    ing.add_argument("source", nargs="?", metavar="SOURCE",
                     help=f"builtin:NAME, path, file:// or http(s):// URL (default: "
                          f"{DEFAULT_SOURCE})")
    ing.add_argument("--source", dest="source_flag", metavar="SOURCE",
                     help="the same as the positional SOURCE (the spelling of every other CLI)")
    ing.add_argument("--output-dir", "--out", dest="output_dir", metavar="DIR", required=True,
                     help="artifact directory to write")
    ing.add_argument("--label-column", default="label", help="CSV column holding the class")
    ing.add_argument("--image-shape", default="", metavar="CxHxW",
                     help="shape of flat CSV/NPZ rows, e.g. 1x8x8 (empty: from the data)")
    ing.add_argument("--format", choices=["csv", "npz"],
                     help="source format when its name does not say (default: from the "
                          "extension)")
    ing.add_argument("--report", metavar="FILE",
                     help="write the Markdown summary here (default: print it)")
    pre = sub.add_parser("preprocess", help="split an artifact into train/val/test artifacts",
                         formatter_class=HelpFormatter)
    pre.add_argument("dataset", nargs="?", metavar="DATASET", help="input artifact directory")
    pre.add_argument("--source", dest="source_flag", metavar="DATASET",
                     help="the same as the positional DATASET")
    pre.add_argument("--output-dir", "--out", dest="output_dir", metavar="DIR", required=True,
                     help="directory receiving train/, val/, test/ and report.md")
    pre.add_argument("--val-fraction", type=float, default=0.1,
                     help="share of the rows in val/ (stratified)")
    pre.add_argument("--test-fraction", type=float, default=0.2,
                     help="share of the rows in test/ (stratified)")
    pre.add_argument("--seed", type=int, default=0, help="seed of the stratified split")
    pre.add_argument("--augment-shift", type=int, default=0,
                     help="random shift in pixels applied to training batches (0: off)")
    pre.add_argument("--augment-hflip", action="store_true",
                     help="random horizontal flips of training batches")
    return p


def _input(p: argparse.ArgumentParser, positional: str | None, flag: str | None,
           default: str | None) -> str:
    """The one input of a subcommand, given positionally or as --source (not both)."""
    if positional is not None and flag is not None and positional != flag:
        p.error(f"--source {flag!r} and the positional {positional!r} disagree; give one")
    value = flag if flag is not None else positional if positional is not None else default
    if value is None:
        p.error("the input dataset directory is required (positional or --source)")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        if args.command == "ingest":
            source = _input(p, args.source, args.source_flag, DEFAULT_SOURCE)
            report = _Out(args.report) if args.report else None
            ds = run_ingest(_Out(args.output_dir), report, source=source,
                            label_column=args.label_column, image_shape=args.image_shape,
                            source_format=args.format or "")
            print(f"wrote {args.output_dir}: {ds.rows} rows, shape {list(ds.shape)}, "
                  f"{ds.num_classes} classes, sha256 {ds.sha256}")
        else:
            dataset = _input(p, args.dataset, args.source_flag, None)
            out = Path(args.output_dir)
            splits = run_preprocess(
                _Out(dataset), _Out(str(out / "train")), _Out(str(out / "val")),
                _Out(str(out / "test")), _Out(str(out / "report.md")),
                val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                seed=args.seed, augment_shift=args.augment_shift,
                augment_hflip=args.augment_hflip)
            print(f"wrote {out}: " + ", ".join(f"{s.split} {s.rows} rows" for s in splits))
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    except OSError as e:  # e.g. --output-dir under a regular file, a full disk
        print(f"error: {args.command} failed: {e}", file=sys.stderr)
        return exit_codes.FAILED
    if args.command == "ingest" and not args.report:
        from nac.data.report import ingest_report

        print(ingest_report(ds))
    return exit_codes.OK


if __name__ == "__main__":
    sys.exit(main())
