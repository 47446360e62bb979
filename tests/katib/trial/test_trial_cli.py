"""`python -m katib.trial`: argument errors, Katib StdOut lines, nac-stats, resume."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from katib import nac_stats
from katib.trial import main
from katib.trial.metric_lines import TIMESTAMP, strip_timestamp
from nac.spec import initial_envelopenet

ROOT = Path(__file__).resolve().parents[3]
NUMERIC = re.compile(r"([\w-]+)=([+-]?\d+(?:\.\d+)?(?:[Ee][+-]?\d+)?)")
STATS = re.compile(r"(nac-stats)=(\{\S+\})")
TINY = initial_envelopenet((1, 8, 8), 10, layers_per_stage=(1, 1, 1), stem_channels=6)


def trial(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-u", "-m", "katib.trial", *args], cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize(("args", "message"), [
    (["--architecture", "b64:@@@"],
     "--architecture: architecture: the b64: payload is not base64url-encoded UTF-8"),
    (["--architecture", "{\"format\": \"nope\"}"], "--architecture:"),
    (["--architecture", initial_envelopenet((3, 8, 8), 10, stem_channels=6).to_b64()],
     "--architecture: input_shape [3, 8, 8] does not match the data's shape [1, 8, 8]"),
    (["--threads", "0"], "--threads: must be >= 1, got 0"),
    (["--epochs", "0"], "--epochs: must be an integer >= 1, got 0"),
    (["--lr", "-1"], "--lr: must be a finite number >= 0, got -1.0"),
    (["--val-data", "/tmp"], "--val-source: only valid with a dataset directory as --source"),
])
def test_bad_input_exits_2_naming_the_argument(args: list[str], message: str, capsys) -> None:
    assert main(["--data", "builtin:digits", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_bad_data_source_and_missing_data_in_a_real_process() -> None:
    out = trial("--data", "nosuchscheme:thing")
    assert out.returncode == 2 and out.stderr.startswith("error: --source:"), out.stderr
    assert "Traceback" not in out.stderr
    out = trial()
    assert out.returncode == 2 and "--data" in out.stderr


def test_prints_katib_metrics_and_nac_stats(tmp_path: Path) -> None:
    arch = tmp_path / "arch.json"
    arch.write_text(TINY.dumps(indent=2))
    out = trial("--data", "builtin:digits", "--architecture", f"@{arch}", "--epochs", "2",
                "--stats", "--seed", "3", "--batch-size", "128")
    assert out.returncode == 0, out.stderr
    assert all(TIMESTAMP.match(line) for line in out.stdout.splitlines()), out.stdout[:300]
    lines = [strip_timestamp(line) for line in out.stdout.splitlines()]
    numeric = [m for line in lines for m in NUMERIC.findall(line) if not line.startswith("nac")]
    names = [n for n, _ in numeric]
    assert names == ["epoch", "loss", "accuracy"] * 2
    assert 0.0 <= float(dict(numeric)["accuracy"]) <= 1.0
    match = STATS.fullmatch(lines[-1])
    assert match, lines[-1]
    stats = nac_stats.decode(match.group(2))
    assert set(stats.branches) == set(TINY.branch_keys())
    assert set(stats.gates) == set(TINY.gate_keys())


@pytest.mark.slow
def test_resume_after_kill_matches_an_uninterrupted_run(tmp_path: Path, capsys) -> None:
    args = ["--data", "builtin:digits", "--architecture", TINY.to_b64(), "--epochs", "2",
            "--stats", "--batch-size", "128", "--threads", "1"]
    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen([sys.executable, "-u", "-m", "katib.trial", *args,
                             "--checkpoint-dir", str(ckpt)], cwd=ROOT, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if strip_timestamp(line.strip()) == "epoch=1":
            proc.kill()  # the epoch-1 checkpoint is written before the line is printed
            break
    proc.wait(timeout=60)
    resumed = trial(*args, "--checkpoint-dir", str(ckpt))
    assert resumed.returncode == 0, resumed.stderr
    resumed_lines = [strip_timestamp(line) for line in resumed.stdout.splitlines()]
    assert "epoch=1" not in resumed_lines
    assert "epoch=2" in resumed_lines
    # an uninterrupted run (in this process, same threads) ends with the same statistics
    capsys.readouterr()
    assert main(args) == 0
    straight = [strip_timestamp(line) for line in capsys.readouterr().out.splitlines()]
    assert resumed_lines[-1] == straight[-1]  # nac-stats, bit for bit
    # a finished run restarted again reports its last epoch instead of nothing
    assert main([*args, "--checkpoint-dir", str(ckpt)]) == 0
    assert strip_timestamp(capsys.readouterr().out.splitlines()[0]) == "epoch=2"


# Go's time.RFC3339Nano layout "2006-01-02T15:04:05.999999999Z07:00" as time.Parse accepts it.
GO_RFC3339_NANO = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")


def test_metric_lines_carry_the_timestamp_katibs_collector_parses() -> None:
    """kubeflow/katib@v0.19.0 (578e60f1) pkg/metricscollector/v1beta1/file-metricscollector/
    file-metricscollector.go:parseLogsInTextFormat: `ls := strings.SplitN(logline, " ", 2)`,
    then `time.Parse(time.RFC3339Nano, ls[0])`; a line without it gets 0001-01-01T00:00:00Z.
    katib.local's collector must read the same lines (it applies the filters to the line)."""
    from datetime import UTC, datetime

    from katib.backends.local.collector import MetricsCollector
    from katib.trial.metric_lines import metric_line

    stats = nac_stats.encode({"c1/1x1": 0.5}, {})
    lines = [metric_line("epoch", 1), metric_line("accuracy", "0.9861"),
             metric_line("nac-stats", stats)]
    for line in lines:
        head, rest = line.split(" ", 1)
        assert GO_RFC3339_NANO.fullmatch(head), head
        when = datetime.fromisoformat(head)
        assert abs((datetime.now(UTC) - when).total_seconds()) < 60
        assert strip_timestamp(line) == rest
    collector = MetricsCollector(["accuracy", "nac-stats"], {"accuracy": "max",
                                                             "nac-stats": "latest"},
                                 [NUMERIC.pattern, STATS.pattern])
    for line in lines:
        collector.feed(line)
    assert collector.observation() == {"accuracy": "0.9861", "nac-stats": stats}


def test_stop_trial_fails_at_once_naming_the_reason(capsys) -> None:
    from katib.nac_schedule import stop_value

    reason = "iteration 1 statistics cannot drive restructuring: key 'x' is not in it"
    assert main(["--data", "builtin:digits", "--architecture", stop_value(reason)]) == 2
    err = capsys.readouterr().err
    assert f"the nac suggestion stopped this Experiment: {reason}" in err


def test_recipe_flags_round_trip_every_recipe_field() -> None:
    from dataclasses import fields

    from katib.trial.cli import parse_args, train_config
    from katib.trial.recipe import RECIPE_FLAGS, recipe_args
    from nac.training import TrainConfig

    want = TrainConfig(epochs=4, batch_size=16, lr=0.02, momentum=0.8, nesterov=False,
                       weight_decay=1e-4, schedule="constant", min_lr=0.001, grad_clip=None,
                       dropout=0.3, label_smoothing=0.1, val_every=2)
    got = train_config(parse_args(["--data", "builtin:digits", *recipe_args(want)]))
    assert {f.name: getattr(got, f.name) for f in fields(TrainConfig) if f.name in RECIPE_FLAGS} \
        == {f.name: getattr(want, f.name) for f in fields(TrainConfig) if f.name in RECIPE_FLAGS}
    assert train_config(parse_args(["--data", "x"])) == TrainConfig()  # defaults unchanged
