"""`python -m pipelines` / `automl-pipeline`: compile, run locally, submit, predict.

    compile  [--output FILE --image REF --accelerator TYPE|none --finetune ...]
             write the compiled pipeline YAML; the options fix what the cluster is asked for
             (image, accelerator, CPU/memory, retries, deadlines, checkpoint volume);
             --finetune: the variant that fine-tunes an earlier run's Model (automl-finetune.yaml)
    run [--local] [--source URI --label-column NAME --image-shape CxHxW --output-dir DIR
                   --pipeline-root DIR --param NAME=VALUE ...]
             the whole pipeline on this machine through kfp.local (SubprocessRunner,
             use_venv=False; local is the default target, `--local` may be given);
             `--parent-model DIR [--finetune-mode MODE]` fine-tunes an earlier run's Model;
             ends with `RESULT {"test_error", "wall_seconds", "model_dir"}`
    submit --host URL [--experiment NAME --run-name NAME --namespace NS --token-file F ...
            --param NAME=VALUE ...]
             upload the compiled pipeline to Kubeflow Pipelines and start a run
    predict --model-dir DIR --source URI [--label-column NAME --image-shape CxHxW --output F]
             batch prediction with a trained Model artifact; ends with
             `RESULT {"accuracy" (when labelled), "rows"}`

Flag names follow docs/cli.md (old spellings such as `predict --model` still work). Exit codes
(nac/exit_codes.py): 0 success, 1 the run failed (a pipeline step failed), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nac import exit_codes
from nac.cli_help import HelpFormatter
from pipelines import runner

#: The checked-in compiled pipeline (regenerate with `python -m pipelines compile`).
COMPILED = Path(__file__).with_name("automl.yaml")
#: Its fine-tuning variant (`python -m pipelines compile --finetune`), checked in beside it.
COMPILED_FINETUNE = Path(__file__).with_name("automl-finetune.yaml")
#: Where `run` copies the trained Model, and the fine-tuned one of `run --parent-model`.
LOCAL_MODEL, LOCAL_FINETUNED = "local_outputs/model", "local_outputs/model-finetuned"


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--param {text!r}: use NAME=VALUE, e.g. "
                                         "--param train_epochs=20")
    return name.strip(), value


def parser() -> argparse.ArgumentParser:
    """The CLI's parser (tests/test_cli_conventions.py walks it)."""
    parser = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__,
                                     formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compile", help="compile the pipeline to YAML (options: what the cluster "
                       "is asked for; defaults give the checked-in file)",
                       formatter_class=HelpFormatter)
    c.add_argument("--output", help=f"output file (default: {COMPILED.name}; with "
                   f"--finetune {COMPILED_FINETUNE.name}, both in pipelines/)")
    c.add_argument("--finetune", action="store_true",
                   help="compile the fine-tuning variant: run parameters parent_model_uri "
                        "(required: an earlier run's Model artifact URI, imported with "
                        "dsl.importer) and finetune_mode (two_stage, freeze, full)")
    c.add_argument("--image", help="image of every step and of Katib trials, REPO:TAG or "
                   "REPO@sha256:DIGEST (default: the versioned ghcr.io trainer image)")
    c.add_argument("--accelerator", help="accelerator resource of the training steps, e.g. "
                   "nvidia.com/gpu (default) or amd.com/gpu; `none` for CPU-only clusters")
    c.add_argument("--accelerator-count", type=int, help="accelerators per training step "
                   "(default 1)")
    c.add_argument("--toleration-key", help="NoSchedule taint the accelerator steps tolerate "
                   "(default: the accelerator name); `none` for no toleration")
    c.add_argument("--training-cpu", help="CPU request = limit of nac_search/tune/train "
                   "(default 4)")
    c.add_argument("--training-memory", help="memory request = limit of the training steps, "
                   "including /dev/shm (default 16Gi)")
    c.add_argument("--shm-size", help="memory-backed /dev/shm of the training steps (default 2Gi)")
    c.add_argument("--light-cpu", help="CPU of preflight/ingest/preprocess/evaluate (default 1)")
    c.add_argument("--light-memory", help="memory of the light steps (default 4Gi)")
    c.add_argument("--retries", type=int, help="retries of the training steps (default 2)")
    c.add_argument("--retry-backoff", help="first retry backoff, e.g. 60s (doubles each time; "
                   "default 60s)")
    c.add_argument("--training-timeout", type=int, dest="training_timeout_s", metavar="SECONDS",
                   help="pod deadline of the training steps (default 86400)")
    c.add_argument("--light-timeout", type=int, dest="light_timeout_s", metavar="SECONDS",
                   help="pod deadline of the light steps (default 3600)")
    c.add_argument("--workspace-size", help="size of the run-scoped KFP workspace holding the "
                   "checkpoints (default 10Gi); `none` for no workspace")
    c.add_argument("--checkpoint-pvc", help="an existing PVC for the checkpoints instead of the "
                   "workspace (mounted at /mnt/checkpoints)")
    c.add_argument("--launcher", choices=("in-pod", "pytorchjob"),
                   help="where train trains: in its pod (default) or as an elastic PyTorchJob "
                        "it creates (needs a ReadWriteMany --checkpoint-pvc)")
    c.add_argument("--train-workers", type=int, help="workers of the final training (default "
                   "1; pytorchjob: maxReplicas)")
    c.add_argument("--min-train-workers", type=int, help="pytorchjob: elasticPolicy."
                   "minReplicas (default 1)")

    r = sub.add_parser("run", help="run the whole pipeline (on this machine)",
                       formatter_class=HelpFormatter)
    r.add_argument("--local", action="store_true",
                   help="run on this machine with kfp.local: the default and only target of "
                        "`run` (use `submit` for a cluster)")
    r.add_argument("--source", help="data URI (default builtin:digits)")
    r.add_argument("--label-column", help="CSV label column (default label)")
    r.add_argument("--image-shape", help="CxHxW of flat CSV/NPZ rows, e.g. 1x8x8")
    r.add_argument("--output-dir",
                   help=f"where the final Model artifact is copied, compressed when the run "
                        f"compresses (default: {LOCAL_MODEL}; with --parent-model "
                        f"{LOCAL_FINETUNED})")
    r.add_argument("--parent-model", metavar="DIR",
                   help="fine-tune from this Model directory of an earlier run (e.g. "
                        f"{LOCAL_MODEL}): runs the fine-tuning variant of the pipeline")
    r.add_argument("--finetune-mode", choices=("two_stage", "freeze", "full"),
                   help="with --parent-model: how train starts from the parent (pipeline "
                        "default two_stage)")
    r.add_argument("--pipeline-root", default="local_outputs",
                   help="kfp.local pipeline root holding every step's artifacts")
    r.add_argument("--param", action="append", type=_param, default=[], metavar="NAME=VALUE",
                   help="any other pipeline parameter, e.g. --param train_epochs=20")

    s = sub.add_parser("submit", help="submit to a Kubeflow Pipelines endpoint",
                       formatter_class=HelpFormatter)
    s.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    s.add_argument("--experiment", help="KFP experiment name (created if missing)")
    s.add_argument("--run-name", help="run name (default: generated)")
    s.add_argument("--package", default=str(COMPILED), help="compiled YAML to submit")
    s.add_argument("--namespace", help="Kubeflow profile namespace (multi-user installs)")
    s.add_argument("--service-account", help="service account the run's pods use (the katib "
                   "backend needs one that may create Experiments)")
    s.add_argument("--token-file", help="file holding a bearer token, e.g. the output of "
                   "`kubectl create token default-editor -n PROFILE`")
    s.add_argument("--sa-token-file", help="projected service-account token file, refreshed by "
                   "the kubelet (inside the cluster)")
    s.add_argument("--cookie-file", help="file holding the Kubeflow login session cookie, e.g. "
                   "`oauth2_proxy_kubeflow=...`")
    s.add_argument("--ca-cert", help="CA bundle of the endpoint's TLS certificate")
    s.add_argument("--insecure", action="store_true", help="do not verify the TLS certificate")
    s.add_argument("--param", action="append", type=_param, default=[], metavar="NAME=VALUE",
                   help="pipeline parameter")

    p = sub.add_parser("predict", help="batch prediction with a trained Model artifact",
                       formatter_class=HelpFormatter)
    p.add_argument("--model-dir", "--model", dest="model_dir", metavar="DIR", required=True,
                   help="Model artifact directory (nac-model)")
    p.add_argument("--source", required=True, help="data URI, as for ingest")
    p.add_argument("--label-column", default="label", help="CSV label column; when present, "
                   "accuracy is reported")
    p.add_argument("--image-shape", default="", help="CxHxW of flat CSV/NPZ rows (empty: "
                   "from the data)")
    p.add_argument("--output", default="predictions.csv", help="predictions CSV")
    return parser


def compile_options(args: argparse.Namespace) -> Any:
    """PipelineOptions from the compile flags given (`none` clears a setting)."""
    from pipelines.options import PipelineOptions, Resources

    defaults = PipelineOptions()
    values: dict[str, Any] = {}
    for name in ("image", "accelerator", "accelerator_count", "toleration_key", "shm_size",
                 "retries", "retry_backoff", "training_timeout_s", "light_timeout_s",
                 "workspace_size", "checkpoint_pvc", "launcher", "train_workers",
                 "min_train_workers"):
        value = getattr(args, name, None)
        if value is not None:
            values[name] = "" if value == "none" else value
    if args.accelerator is not None and args.toleration_key is None:
        values["toleration_key"] = values["accelerator"]
    for group in ("training", "light"):
        base = getattr(defaults, group)
        cpu, memory = getattr(args, f"{group}_cpu"), getattr(args, f"{group}_memory")
        if cpu is not None or memory is not None:
            values[group] = Resources(cpu=cpu or base.cpu, memory=memory or base.memory)
    return PipelineOptions(**values) if values else None


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "compile":
            output = args.output or (COMPILED_FINETUNE if args.finetune else COMPILED)
            path = runner.compile_pipeline(output, compile_options(args), finetune=args.finetune)
            print(f"compiled pipeline written to {path}")
            return exit_codes.OK
        if args.command == "run":
            params = dict(args.param)
            for flag, name in (("source", "source"), ("label_column", "label_column"),
                               ("image_shape", "image_shape")):
                if getattr(args, flag) is not None:
                    params[name] = getattr(args, flag)
            if args.finetune_mode is not None:
                if args.parent_model is None:
                    raise ValueError("--finetune-mode needs --parent-model DIR (the Model "
                                     "to fine-tune from)")
                params["finetune_mode"] = args.finetune_mode
            output_dir = args.output_dir or (LOCAL_FINETUNED if args.parent_model
                                             else LOCAL_MODEL)
            run = runner.run_local(params, pipeline_root=args.pipeline_root,
                                   output_dir=output_dir, parent_model=args.parent_model)
            runner.print_run(run)
            print("RESULT " + json.dumps(run.result()))
            return exit_codes.OK
        if args.command == "submit":
            auth = runner.client_options(
                namespace=args.namespace, token_file=args.token_file,
                sa_token_file=args.sa_token_file, cookie_file=args.cookie_file,
                ca_cert=args.ca_cert, insecure=args.insecure)
            url = runner.submit(args.host, package=args.package, params=dict(args.param),
                                experiment=args.experiment, run_name=args.run_name,
                                namespace=args.namespace,
                                service_account=args.service_account, auth=auth)
            print(f"run URL: {url}")
            return exit_codes.OK
        from pipelines import predict

        result = predict.predict_to_csv(args.model_dir, args.source, output=args.output,
                                        label_column=args.label_column,
                                        image_shape=args.image_shape)
        print("RESULT " + json.dumps(result))
        return exit_codes.OK
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    except runner.PipelineRunError as e:  # the run started and a step failed
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.FAILED


if __name__ == "__main__":
    sys.exit(main())
