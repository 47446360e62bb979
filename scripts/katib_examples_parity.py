"""Which of Katib's own example Experiments `katib.local` accepts, and why it refuses the rest.

Walks `examples/v1beta1/**.yaml` of a Katib git mirror at a tag (default: the pinned v0.19.0 in
../.mirror/kubeflow+katib/repo or /work/.mirror/...), runs each Experiment document through
`katib.validation.parse_experiment` (local=True: the runner's own checks, including what it
refuses without a cluster) and prints one line per example, then exactly one line
`RESULT {"examples", "accepted", "refused", "refused_examples"}`.

    .venv/bin/python scripts/katib_examples_parity.py [--mirror DIR] [--tag v0.19.0]

Reads the mirror with `git show` (no work tree needed). CI has no mirror: the tests write
Experiments of the same shapes themselves (tests/katib/backends/local/test_local_examples.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from katib.backends.local.proto import experiment_proto  # noqa: E402
from katib.suggestion.algorithms import AlgorithmRegistry  # noqa: E402
from katib.suggestion.errors import SuggestionInputError  # noqa: E402
from katib.suggestion.search_space import experiment_from_proto  # noqa: E402
from katib.validation import ExperimentError, parse_experiment  # noqa: E402

_MIRRORS = (ROOT.parent / ".mirror/kubeflow+katib/repo", Path("/work/.mirror/kubeflow+katib/repo"))


def _git(mirror: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(mirror), *args], check=True, capture_output=True,
                          text=True).stdout


def examples(mirror: Path, tag: str) -> list[tuple[str, dict]]:
    """(path, Experiment document) for every Experiment under examples/v1beta1 at `tag`."""
    out = []
    for path in _git(mirror, "ls-tree", "-r", "--name-only", tag, "--",
                     "examples/v1beta1").splitlines():
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(_git(mirror, "show", f"{tag}:{path}")):
            if isinstance(doc, dict) and doc.get("kind") == "Experiment":
                out.append((path, doc))
    return out


def verdict(doc: dict) -> list[str]:
    """The problems `katib.local` reports for one document ([] = accepted): its validation,
    then our suggestion service's ValidateAlgorithmSettings, the two checks a run starts with."""
    try:
        exp = parse_experiment(doc, source="example")
    except ExperimentError as e:
        return e.problems
    proto = experiment_proto(exp, list(exp.algorithm_settings),
                             parallel=exp.parallel_trial_count, max_trials=exp.max_trial_count)
    try:
        AlgorithmRegistry().get(exp.algorithm_name).validate(experiment_from_proto(proto))
    except SuggestionInputError as e:
        return [f"spec.algorithm: the {exp.algorithm_name!r} suggestion service rejected the "
                f"settings: {e}"]
    return []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mirror", type=Path, default=next((m for m in _MIRRORS if m.exists()),
                                                       _MIRRORS[-1]),
                   help="bare git mirror of kubeflow/katib")
    p.add_argument("--tag", default="v0.19.0", help="Katib release tag")
    args = p.parse_args(argv)
    if not args.mirror.exists():
        print(f"no Katib mirror at {args.mirror}; pass --mirror", file=sys.stderr)
        return 2
    found = examples(args.mirror, args.tag)
    refused = {}
    for path, doc in found:
        problems = verdict(doc)
        if problems:
            refused[path] = problems
            print(f"REFUSED  {path}")
            for problem in problems:
                print(f"         - {problem}")
        else:
            print(f"accepted {path}")
    print("RESULT " + json.dumps({"examples": len(found), "accepted": len(found) - len(refused),
                                  "refused": len(refused),
                                  "refused_examples": sorted(refused)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
