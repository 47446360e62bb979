"""`python -m katib.local run experiment.yaml`: run a Katib Experiment on this machine.

Ends with one line `RESULT {json}` on stdout (best_objective, best_assignments,
trials_succeeded, trials_failed, results_file). Exit codes (nac/exit_codes.py): 0 the
Experiment succeeded, 1 it failed (e.g. too many failed trials), 2 bad input, 130/143
interrupted by SIGINT/SIGTERM. Flag names follow docs/cli.md (`--results` = `--output`).
"""

from __future__ import annotations

import argparse
import json
import sys

from katib.local import (
    ExperimentError,
    ResultsError,
    RunnerError,
    TemplateError,
    run_experiment,
)
from nac import exit_codes
from nac.cli_help import HelpFormatter


def parser() -> argparse.ArgumentParser:
    """The CLI's parser (tests/test_cli_conventions.py walks it)."""
    parser = argparse.ArgumentParser(
        prog="python -m katib.local", formatter_class=HelpFormatter,
        description="Run a Katib v1beta1 Experiment locally (trials as subprocesses).")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run an Experiment YAML until Katib would finish it",
                         formatter_class=HelpFormatter)
    run.add_argument("experiment", help="Experiment YAML (the file you would kubectl apply)")
    run.add_argument("--output", "--results", dest="results", metavar="FILE",
                     help="results file; an existing one is resumed "
                     "(default: <workdir>/results.json)")
    run.add_argument("--workdir", help="trial directories and logs "
                     "(default: the results file's directory, else katib-local/<name>)")
    run.add_argument("--parallel", type=int, help="override spec.parallelTrialCount")
    run.add_argument("--max-trials", type=int, help="override spec.maxTrialCount")
    run.add_argument("--quiet", action="store_true", help="no live progress on stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = run_experiment(
            args.experiment, results=args.results, workdir=args.workdir,
            parallel=args.parallel, max_trials=args.max_trials, progress=not args.quiet)
    except (ExperimentError, ResultsError, TemplateError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    except (RunnerError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.FAILED
    except KeyboardInterrupt:  # before the runner took over SIGINT (e.g. while parsing)
        return exit_codes.SIGINT
    print("RESULT " + json.dumps(result.summary(), sort_keys=True), flush=True)
    if result.interrupted_by is not None:
        return exit_codes.for_signal(result.interrupted_by)
    return exit_codes.OK if result.succeeded else exit_codes.FAILED


if __name__ == "__main__":
    sys.exit(main())
