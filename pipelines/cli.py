"""`python -m pipelines` / `automl-pipeline`: compile, run locally, submit, predict.

    compile  [--output FILE]                       write the compiled pipeline YAML
    run --local [--source URI --label-column NAME --image-shape CxHxW --output-dir DIR
                 --pipeline-root DIR --param NAME=VALUE ...]
             the whole pipeline on this machine through kfp.local (SubprocessRunner,
             use_venv=False); ends with `RESULT {"test_error", "wall_seconds", "model_dir"}`
    submit --host URL [--experiment NAME --run-name NAME --param NAME=VALUE ...]
             upload the compiled pipeline to Kubeflow Pipelines and start a run
    predict --model DIR --source URI [--label-column NAME --image-shape CxHxW --output FILE]
             batch prediction with a trained Model artifact; ends with
             `RESULT {"accuracy" (when labelled), "rows"}`
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pipelines import runner

#: The checked-in compiled pipeline (regenerate with `python -m pipelines compile`).
COMPILED = Path(__file__).with_name("automl.yaml")


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--param {text!r}: use NAME=VALUE, e.g. "
                                         "--param train_epochs=20")
    return name.strip(), value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compile", help="compile the pipeline to YAML")
    c.add_argument("--output", default=str(COMPILED), help="output file (default: %(default)s)")

    r = sub.add_parser("run", help="run the whole pipeline")
    r.add_argument("--local", action="store_true", required=True,
                   help="run on this machine with kfp.local (the only mode; use `submit` "
                        "for a cluster)")
    r.add_argument("--source", help="data URI (default builtin:digits)")
    r.add_argument("--label-column", help="CSV label column (default label)")
    r.add_argument("--image-shape", help="CxHxW of flat CSV/NPZ rows, e.g. 1x8x8")
    r.add_argument("--output-dir", default="local_outputs/model",
                   help="where the final Model artifact is copied (default: %(default)s)")
    r.add_argument("--pipeline-root", default="local_outputs",
                   help="kfp.local pipeline root holding every step's artifacts "
                        "(default: %(default)s)")
    r.add_argument("--param", action="append", type=_param, default=[], metavar="NAME=VALUE",
                   help="any other pipeline parameter, e.g. --param train_epochs=20")

    s = sub.add_parser("submit", help="submit to a Kubeflow Pipelines endpoint")
    s.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    s.add_argument("--experiment", help="KFP experiment name (created if missing)")
    s.add_argument("--run-name", help="run name (default: generated)")
    s.add_argument("--package", default=str(COMPILED), help="compiled YAML to submit "
                   "(default: %(default)s)")
    s.add_argument("--namespace", help="Kubeflow profile namespace (multi-user installs)")
    s.add_argument("--param", action="append", type=_param, default=[], metavar="NAME=VALUE",
                   help="pipeline parameter")

    p = sub.add_parser("predict", help="batch prediction with a trained Model artifact")
    p.add_argument("--model", required=True, help="Model artifact directory (nac-model)")
    p.add_argument("--source", required=True, help="data URI, as for ingest")
    p.add_argument("--label-column", default="label", help="CSV label column; when present, "
                   "accuracy is reported (default: %(default)s)")
    p.add_argument("--image-shape", default="", help="CxHxW of flat CSV/NPZ rows")
    p.add_argument("--output", default="predictions.csv",
                   help="predictions CSV (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "compile":
            path = runner.compile_pipeline(args.output)
            print(f"compiled pipeline written to {path}")
            return 0
        if args.command == "run":
            params = dict(args.param)
            for flag, name in (("source", "source"), ("label_column", "label_column"),
                               ("image_shape", "image_shape")):
                if getattr(args, flag) is not None:
                    params[name] = getattr(args, flag)
            result = runner.run_local(params, pipeline_root=args.pipeline_root,
                                      output_dir=args.output_dir)
            print("RESULT " + json.dumps(result))
            return 0
        if args.command == "submit":
            url = runner.submit(args.host, package=args.package, params=dict(args.param),
                                experiment=args.experiment, run_name=args.run_name,
                                namespace=args.namespace)
            print(f"run URL: {url}")
            return 0
        from pipelines import predict

        result = predict.predict_to_csv(args.model, args.source, output=args.output,
                                        label_column=args.label_column,
                                        image_shape=args.image_shape)
        print("RESULT " + json.dumps(result))
        return 0
    except (ValueError, FileNotFoundError, runner.PipelineRunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
