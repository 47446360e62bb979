"""One CLI vocabulary, help on every option, one set of exit codes (docs/cli.md).

Walks every CLI's real argparse parser, so a new flag without help, a default that --help
hides, an empty choice or a hard-coded exit code fails here. The alias tests parse the old
and the new spelling of each renamed flag and compare what the program gets; the exit-code
tests run each CLI on a cheap bad input and, where a run can fail cheaply, a failed run.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nac import exit_codes
from nac.cli_help import shows_default

ROOT = Path(__file__).resolve().parents[1]
#: Every CLI of the project: name -> module defining `parser()` and `main()`.
CLIS = {
    "nac.data": "nac.data.__main__",
    "pipelines": "pipelines.cli",
    "katib.local": "katib.local.__main__",
    "katib.trial": "katib.trial.cli",
    "katib.suggestion": "katib.suggestion.__main__",
    "katib.earlystopping": "katib.earlystopping.__main__",
    "nac.distributed": "nac.distributed.__main__",
    "serving": "serving.__main__",
}


def _module(name: str):
    saved = dict(os.environ)  # katib.suggestion pins BLAS threads at import: not for pytest
    try:
        return importlib.import_module(CLIS[name])
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _parsers(p: argparse.ArgumentParser,
             path: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_every_option_has_help_and_shows_its_default(cli: str) -> None:
    checked = 0
    for path, p in _parsers(_module(cli).parser(), cli):
        formatter = p._get_formatter()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):  # commands: each needs a help
                for command in action._choices_actions:
                    assert command.help, f"{path} {command.dest}: a command without help"
                continue
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            name = "/".join(action.option_strings) or action.dest
            assert action.help and action.help.strip(), f"{path} {name}: no help text"
            text = formatter._expand_help(action)
            if shows_default(action):
                assert str(action.default) in text, f"{path} {name}: --help hides the default"
            assert "(default: None)" not in text and "(default: False)" not in text, name
            if action.choices is not None:
                assert "" not in action.choices, f"{path} {name}: an empty choice"
            checked += 1
        p.format_help()  # renders (a bad %-format in a help string raises here)
    assert checked >= 3


@pytest.mark.parametrize("cli", sorted(CLIS))
def test_exit_codes_come_from_nac_exit_codes(cli: str) -> None:
    """No CLI returns or exits with a number literal other than 0: the codes have one home."""
    source = Path(_module(cli).__file__).read_text()
    literals = []
    for node in ast.walk(ast.parse(source)):
        value = None
        if isinstance(node, ast.Return):
            value = node.value
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "exit" and node.args:
            value = node.args[0]
        if isinstance(value, ast.Constant) and type(value.value) is int:
            literals.append((node.lineno, value.value))
    assert literals == [], f"{CLIS[cli]}: use nac.exit_codes instead of {literals}"
    assert exit_codes.for_signal(2) == exit_codes.SIGINT == 130
    assert exit_codes.for_signal(15) == exit_codes.SIGTERM == 143
    assert (exit_codes.OK, exit_codes.FAILED, exit_codes.BAD_INPUT) == (0, 1, 2)


def _parse(cli: str, argv: list[str]) -> dict:
    return vars(_module(cli).parser().parse_args(argv))


# (cli, old spelling, canonical spelling): each old spelling keeps working as an alias.
ALIASES = [
    ("nac.data", ["ingest", "--out", "d"], ["ingest", "--output-dir", "d"]),
    ("nac.data", ["preprocess", "ds", "--out", "d"], ["preprocess", "ds", "--output-dir", "d"]),
    ("pipelines", ["predict", "--model", "m", "--source", "s"],
     ["predict", "--model-dir", "m", "--source", "s"]),
    ("katib.local", ["run", "e.yaml", "--results", "r.json"],
     ["run", "e.yaml", "--output", "r.json"]),
    ("katib.trial", ["--data", "builtin:digits"], ["--source", "builtin:digits"]),
    ("katib.trial", ["--data", "t", "--val-data", "v"], ["--source", "t", "--val-source", "v"]),
    ("nac.distributed", ["worker", "--data", "s", "--checkpoint-dir", "c"],
     ["worker", "--source", "s", "--checkpoint-dir", "c"]),
    ("nac.distributed", ["worker", "--data", "t", "--val-data", "v", "--checkpoint-dir", "c"],
     ["worker", "--source", "t", "--val-source", "v", "--checkpoint-dir", "c"]),
    ("nac.distributed", ["worker", "--data", "t", "--test-data", "x", "--checkpoint-dir", "c"],
     ["worker", "--source", "t", "--test-source", "x", "--checkpoint-dir", "c"]),
    ("nac.distributed", ["worker", "--data", "t", "--checkpoint-dir", "c", "--out", "o"],
     ["worker", "--source", "t", "--checkpoint-dir", "c", "--output-dir", "o"]),
    ("nac.distributed", ["demo", "--data", "builtin:digits"],
     ["demo", "--source", "builtin:digits"]),
]


@pytest.mark.parametrize(("cli", "old", "new"), ALIASES,
                         ids=[f"{c}:{','.join(a for a in o if a.startswith('--'))}"
                              for c, o, _ in ALIASES])
def test_old_flag_spelling_is_an_alias(cli: str, old: list[str], new: list[str]) -> None:
    assert _parse(cli, old) == _parse(cli, new)
    assert _parse(cli, old) != _parse(cli, [*new[:-1], new[-1] + "-other"])  # values are read


def _ingest(*argv: str) -> dict:
    from nac.data.__main__ import main

    assert main(list(argv)) == exit_codes.OK
    out = Path(argv[argv.index("--output-dir") + 1 if "--output-dir" in argv else
                    argv.index("--out") + 1])
    return json.loads((out / "meta.json").read_text())


def test_ingest_source_positional_and_flag_are_one_input(tmp_path: Path, capsys) -> None:
    by_position = _ingest("ingest", "builtin:digits", "--output-dir", str(tmp_path / "a"))
    by_flag = _ingest("ingest", "--source", "builtin:digits", "--out", str(tmp_path / "b"))
    assert by_position["sha256"] == by_flag["sha256"] and by_flag["source"] == "builtin:digits"
    from nac.data.__main__ import main

    with pytest.raises(SystemExit) as info:  # two different inputs: refused, not guessed
        main(["ingest", "builtin:digits", "--source", "x.csv", "--output-dir", str(tmp_path)])
    assert info.value.code == exit_codes.BAD_INPUT
    assert "disagree" in capsys.readouterr().err
    assert main(["preprocess", "--source", str(tmp_path / "a"), "--output-dir",
                 str(tmp_path / "s")]) == exit_codes.OK
    assert main(["preprocess", str(tmp_path / "b"), "--output-dir",
                 str(tmp_path / "t")]) == exit_codes.OK
    a, b = (json.loads((tmp_path / d / "train" / "meta.json").read_text()) for d in "st")
    assert a["sha256"] == b["sha256"]


def test_nac_data_exit_codes(tmp_path: Path, capsys) -> None:
    from nac.data.__main__ import main

    assert main(["ingest", str(tmp_path / "missing.csv"), "--output-dir",
                 str(tmp_path / "o")]) == exit_codes.BAD_INPUT
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["ingest", "--output-dir", str(blocker / "out")]) == exit_codes.FAILED
    err = capsys.readouterr().err
    assert "error: ingest failed:" in err and "Traceback" not in err


def test_pipelines_run_is_local_without_the_flag() -> None:
    """`run` alone parses (it used to exit 2: `--local` was required) and means the same as
    `run --local`; test_pipelines_failed_step_exits_1 runs it without the flag."""
    without, given = _parse("pipelines", ["run"]), _parse("pipelines", ["run", "--local"])
    assert without["command"] == given["command"] == "run"
    assert {**without, "local": True} == given


def test_pipelines_bad_compile_option_exits_2(tmp_path: Path, capsys) -> None:
    from pipelines.cli import main

    assert main(["compile", "--output", str(tmp_path / "p.yaml"), "--retries", "-1"]) == \
        exit_codes.BAD_INPUT
    assert "--retries must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "p.yaml").exists()


@pytest.mark.slow
def test_pipelines_failed_step_exits_1(tmp_path: Path, capsys) -> None:
    """A real kfp.local run whose ingest step fails (the file does not exist): the run
    started and a step failed, so 1, the code katib.local gives a failed Experiment."""
    from pipelines.cli import main

    code = main(["run", "--source", str(tmp_path / "missing.csv"), "--pipeline-root",
                 str(tmp_path / "root"), "--output-dir", str(tmp_path / "model")])
    assert code == exit_codes.FAILED
    assert "error: local run failed" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


def _experiment(command: list[str], **spec) -> dict:
    return {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
            "metadata": {"name": "exit-codes"},
            "spec": {"objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
                     "algorithm": {"algorithmName": "grid"}, "parallelTrialCount": 1,
                     "maxTrialCount": 1, "maxFailedTrialCount": 0,
                     "parameters": [{"name": "x", "parameterType": "discrete",
                                     "feasibleSpace": {"list": ["1"]}}],
                     "trialTemplate": {
                         "primaryContainerName": "training",
                         "trialParameters": [{"name": "x", "reference": "x"}],
                         "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": {
                             "template": {"spec": {"restartPolicy": "Never", "containers": [{
                                 "name": "training", "image": "unused-locally",
                                 "command": command}]}}}}},
                     **spec}}


def test_katib_local_exit_codes(tmp_path: Path, capsys) -> None:
    import yaml

    from katib.local.__main__ import main

    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(_experiment(
        [sys.executable, "-c", "raise SystemExit(1)  # ${trialParameters.x}"])))
    assert main(["run", str(path), "--output", str(tmp_path / "r.json"),
                 "--quiet"]) == exit_codes.FAILED
    out = capsys.readouterr().out
    assert json.loads(out.strip().splitlines()[-1][len("RESULT "):])["trials_failed"] == 1
    bad = _experiment(["true"], maxTrialCount=0)
    path.write_text(yaml.safe_dump(bad))
    assert main(["run", str(path), "--output", str(tmp_path / "r2.json")]) == \
        exit_codes.BAD_INPUT
    assert "maxTrialCount" in capsys.readouterr().err


def test_katib_trial_exit_codes(tmp_path: Path, capsys) -> None:
    from katib.trial.cli import main

    assert main(["--source", "nosuchscheme:x"]) == exit_codes.BAD_INPUT
    assert capsys.readouterr().err.startswith("error: --source:")
    from nac.spec import initial_envelopenet

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    tiny = initial_envelopenet((1, 8, 8), 10, layers_per_stage=(1, 1, 1), stem_channels=6)
    # One step of a tiny net, then the epoch's checkpoint cannot be written: the work failed.
    assert main(["--data", "builtin:digits", "--architecture", tiny.to_b64(), "--epochs", "1",
                 "--batch-size", "2048", "--checkpoint-dir", str(blocker / "ck")]) == \
        exit_codes.FAILED
    assert "error: training failed: NotADirectoryError" in capsys.readouterr().err


def _server(module: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("module", ["katib.suggestion", "katib.earlystopping"])
def test_grpc_services_exit_codes(module: str) -> None:
    assert _server(module, "--port", "70000").returncode == exit_codes.BAD_INPUT
    with socket.socket() as taken:  # a port someone else listens on: the start fails
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        proc = _server(module, "--host", "127.0.0.1", "--port", port)
    assert proc.returncode == exit_codes.FAILED, proc.stderr
    assert "cannot start" in proc.stderr


def test_nac_distributed_exit_codes(capsys) -> None:
    from nac.distributed.__main__ import main

    assert main(["nope"]) == exit_codes.BAD_INPUT
    env = {k: os.environ.pop(k) for k in ("RANK", "WORLD_SIZE") if k in os.environ}
    try:  # a worker started outside torchrun: bad input, named
        assert main(["worker", "--source", "builtin:digits", "--checkpoint-dir", "c"]) == \
            exit_codes.BAD_INPUT
    finally:
        os.environ.update(env)
    assert "start this through torchrun" in capsys.readouterr().err


def test_serving_bad_model_dir_exits_2(tmp_path: Path, capsys) -> None:
    """In process: the model is refused before any server starts (no port is opened)."""
    from serving.__main__ import main

    assert main(["--model-dir", str(tmp_path)]) == exit_codes.BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("serve:") and "Traceback" not in err
