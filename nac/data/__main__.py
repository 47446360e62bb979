"""`python -m nac.data ingest|preprocess ...`: the two steps without KFP.

Exit codes: 0 success, 2 bad input (one line `error: <message>` on stderr, no artifact).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nac.data.errors import DataError
from nac.data.ingest import DEFAULT_SOURCE
from nac.data.steps import run_ingest, run_preprocess


@dataclass
class _Out:
    path: str


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nac.data", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ing = sub.add_parser("ingest", help="read a source into a dataset artifact directory")
    ing.add_argument("source", nargs="?", default=DEFAULT_SOURCE,
                     help=f"builtin:NAME, path, file:// or http(s):// URL (default "
                          f"{DEFAULT_SOURCE})")
    ing.add_argument("--out", required=True, help="artifact directory to write")
    ing.add_argument("--label-column", default="label")
    ing.add_argument("--image-shape", default="", help="CxHxW for flat rows, e.g. 1x8x8")
    ing.add_argument("--format", default="", choices=["", "csv", "npz"])
    ing.add_argument("--report", help="write the Markdown summary here (default: print it)")
    pre = sub.add_parser("preprocess", help="split an artifact into train/val/test artifacts")
    pre.add_argument("dataset", help="input artifact directory")
    pre.add_argument("--out", required=True,
                     help="directory receiving train/, val/, test/ and report.md")
    pre.add_argument("--val-fraction", type=float, default=0.1)
    pre.add_argument("--test-fraction", type=float, default=0.2)
    pre.add_argument("--seed", type=int, default=0)
    pre.add_argument("--augment-shift", type=int, default=0)
    pre.add_argument("--augment-hflip", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "ingest":
            report = _Out(args.report) if args.report else None
            ds = run_ingest(_Out(args.out), report, source=args.source,
                            label_column=args.label_column, image_shape=args.image_shape,
                            source_format=args.format)
            print(f"wrote {args.out}: {ds.rows} rows, shape {list(ds.shape)}, "
                  f"{ds.num_classes} classes, sha256 {ds.sha256}")
        else:
            out = Path(args.out)
            splits = run_preprocess(
                _Out(args.dataset), _Out(str(out / "train")), _Out(str(out / "val")),
                _Out(str(out / "test")), _Out(str(out / "report.md")),
                val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                seed=args.seed, augment_shift=args.augment_shift,
                augment_hflip=args.augment_hflip)
            print(f"wrote {out}: " + ", ".join(f"{s.split} {s.rows} rows" for s in splits))
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.command == "ingest" and not args.report:
        from nac.data.report import ingest_report

        print(ingest_report(ds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
