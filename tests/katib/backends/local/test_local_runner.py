"""The local runner end to end: real gRPC suggestion service, real trial subprocesses.

Trials are tests/katib/backends/local/fake_trial.py (prints metrics chosen by its arguments), so
each run takes a second or two.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from katib.local import ExperimentError, TrialStatus, run_experiment
from tests.katib.backends.local.experiments import hpo

ROOT = Path(__file__).resolve().parents[4]


def _run(doc: dict, tmp_path: Path, **kw):
    return run_experiment(doc, results=tmp_path / "results.json", workdir=tmp_path / "trials",
                          progress=False, **kw)


def _cli(tmp_path: Path, doc: dict, *extra: str, **popen) -> subprocess.Popen[str]:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(doc))
    return subprocess.Popen(
        [sys.executable, "-m", "katib.local", "run", str(path), "--results",
         str(tmp_path / "results.json"), *extra],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, **popen)


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for a reaper)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def test_cli_runs_grid_and_prints_result_line(tmp_path: Path) -> None:
    proc = _cli(tmp_path, hpo())
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("RESULT ")
    result = json.loads(last[len("RESULT "):])
    assert result["best_objective"] == 0.4
    assert result["best_assignments"] == {"x": "0.4"}
    assert (result["trials_succeeded"], result["trials_failed"]) == (4, 0)
    assert result["results_file"].endswith("results.json")
    # Progress went to stderr for the person watching, one line per trial event.
    assert "Succeeded accuracy=0.4 (x=0.4)" in err
    assert "Experiment has succeeded because max trial count has reached" in err
    doc = json.loads((tmp_path / "results.json").read_text())
    assert sorted(t["assignments"]["x"] for t in doc["trials"]) == ["0.1", "0.2", "0.3", "0.4"]


def test_failing_trial_is_reported_with_its_output(tmp_path: Path) -> None:
    doc = hpo(args=["--fail-on", "0.2"], maxFailedTrialCount=2)
    result = _run(doc, tmp_path)
    failed = [t for t in result.trials if t.status is TrialStatus.FAILED]
    assert [t.assignments["x"] for t in failed] == ["0.2"]
    assert failed[0].message.startswith("exit code 1; last output:")
    assert "Traceback: boom (simulated failure)" in failed[0].message
    assert result.reason == "ExperimentMaxTrialsReached"  # 1 failure is below 2
    assert result.best.assignments == {"x": "0.4"}


def test_one_failure_reaches_max_failed_trial_count_one(tmp_path: Path) -> None:
    """Katib ends the Experiment when `failed != 0 && failed >= maxFailedTrialCount`
    (kubeflow/katib@v0.19.0 pkg/controller.v1beta1/experiment/util/status_util.go
    UpdateExperimentStatusCondition): with maxFailedTrialCount 1 the first failure ends it."""
    doc = hpo(args=["--fail-on", "0.2"], maxFailedTrialCount=1, parallelTrialCount=1)
    result = _run(doc, tmp_path)
    assert result.reason == "ExperimentFailed"
    # No trial starts after the first failure (parallel 1: it is the last one).
    assert [t.status for t in result.trials].count(TrialStatus.FAILED) == 1
    assert result.trials[-1].status is TrialStatus.FAILED
    assert result.trials[-1].assignments["x"] == "0.2"


def test_too_many_failures_fail_the_experiment(tmp_path: Path) -> None:
    proc = _cli(tmp_path, hpo(args=["--exit", "3"], maxFailedTrialCount=2), "--quiet")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    summary = json.loads(out.strip().splitlines()[-1][len("RESULT "):])
    assert summary["reason"] == "ExperimentFailed"
    assert summary["trials_failed"] == 2 and summary["best_objective"] is None
    doc = json.loads((tmp_path / "results.json").read_text())
    assert [t["status"] for t in doc["trials"]] == ["Failed", "Failed"]
    assert "exit code 3" in doc["trials"][0]["message"]


def test_trial_printing_no_metric_is_metrics_unavailable(tmp_path: Path) -> None:
    doc = hpo(args=["--silent"], maxTrialCount=2, parallelTrialCount=1)
    result = _run(doc, tmp_path)
    assert [t.status for t in result.trials] == [TrialStatus.METRICS_UNAVAILABLE] * 2
    msg = result.trials[0].message
    assert msg.startswith("objective metric 'accuracy' was never printed; print lines such as "
                          "'accuracy=0.97'")
    assert result.trials[0].metrics == {"accuracy": "unavailable"}
    assert result.best is None and result.best_objective is None


def test_goal_reached_stops_early(tmp_path: Path) -> None:
    doc = hpo(maxTrialCount=4)
    doc["spec"]["objective"]["goal"] = 0.1  # every trial reaches it: the first one ends the run
    result = _run(doc, tmp_path)
    assert result.reason == "ExperimentGoalReached"
    assert len(result.trials) == 1
    assert result.message.startswith("Experiment has succeeded because Objective goal has "
                                     "reached (accuracy=")
    assert "goal 0.1" in result.message


def test_parallel_trials_overlap_and_share_threads(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    doc = hpo(args=["--sleep", "1.0", "--marker", str(marker)], parallelTrialCount=2,
              maxTrialCount=2)
    started = time.monotonic()
    result = _run(doc, tmp_path, cores=4)
    wall = time.monotonic() - started
    spans = {}
    for line in marker.read_text().splitlines():
        kind, name, t, *_ = line.split()
        spans.setdefault(name, {})[kind] = float(t)
    (a, b) = spans.values()
    assert a["start"] < b["end"] and b["start"] < a["end"], spans  # the two ran at once
    assert wall < sum(t.seconds for t in result.trials)
    for t in result.trials:  # 4 cores / 2 parallel trials = 2 threads each, cwd = trial dir
        log = (tmp_path / t.log).read_text()
        assert f"cwd={tmp_path / 'trials' / t.name} threads=2" in log


def test_medianstop_stops_a_bad_trial(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    values = ",".join(["0.8"] * 6)
    doc = hpo(args=["--values", values, "--sleep", "0.15", "--marker", str(marker),
                    "--bad-after", "2"], maxTrialCount=3, parallelTrialCount=1)
    doc["spec"]["earlyStopping"] = {"algorithmName": "medianstop", "algorithmSettings": [
        {"name": "min_trials_required", "value": "2"}, {"name": "start_step", "value": "2"}]}
    result = _run(doc, tmp_path)
    statuses = [t.status for t in result.trials]
    assert statuses == [TrialStatus.SUCCEEDED, TrialStatus.SUCCEEDED,
                        TrialStatus.EARLY_STOPPED]
    stopped = result.trials[2]
    assert stopped.message.startswith("medianstop: best accuracy after 2 reports is below the "
                                      "rule value 0.8")
    assert stopped.metrics["accuracy"] == "0.05"
    printed = (tmp_path / stopped.log).read_text().count("accuracy=")
    assert printed < 6  # killed before it printed all its values
    assert result.count(TrialStatus.EARLY_STOPPED) == 1


def test_killed_run_resumes_without_rerunning_completed_trials(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    # The third trial hangs, so it is surely running when the runner is killed.
    doc = hpo(args=["--sleep", "0.3", "--marker", str(marker), "--slow-after", "2"],
              maxTrialCount=4)
    proc = _cli(tmp_path, doc, "--quiet")
    results = tmp_path / "results.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        starts = marker.read_text().count("start") if marker.exists() else 0
        if starts >= 3 and len(json.loads(results.read_text())["trials"]) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    first = json.loads(results.read_text())  # intact JSON despite SIGKILL
    done = {t["name"]: t for t in first["trials"]}
    assert len(done) == 2 and all(t["status"] == "Succeeded" for t in done.values())
    # The hanging trial died with the runner (parent-death signal): no orphan keeps running.
    orphans = [int(line.split()[3]) for line in marker.read_text().splitlines()
               if line.startswith("start") and line.split()[1] not in done]
    assert orphans
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in orphans):
        time.sleep(0.05)
    assert not [pid for pid in orphans if _alive(pid)]

    # Resume with the same results file (the template may change: trials no longer hang).
    doc = hpo(args=["--sleep", "0.3", "--marker", str(marker)], maxTrialCount=4)
    proc = _cli(tmp_path, doc)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert f"resuming from {results}: 2 completed trials kept" in err
    final = json.loads(results.read_text())
    assert len(final["trials"]) == 4
    for t in final["trials"]:
        if t["name"] in done:
            assert t == done[t["name"]]  # kept verbatim, not re-run
    starts = [line.split()[1] for line in marker.read_text().splitlines()
              if line.startswith("start")]
    for name in done:
        assert starts.count(name) == 1
    # The history went to the service: the grid finished its remaining points.
    assert sorted(t["assignments"]["x"] for t in final["trials"]) == ["0.1", "0.2", "0.3", "0.4"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_kills_trials_and_leaves_results_consistent(tmp_path: Path, signum: int,
                                                             code: int) -> None:
    """The exit code is 128 + the signal (nac/exit_codes.py), from the run's typed outcome."""
    doc = hpo(args=["--sleep", "30"], maxTrialCount=2, parallelTrialCount=2)
    proc = _cli(tmp_path, doc, "--quiet")
    trials_dir = tmp_path / "results.trials"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(trials_dir.glob("*/trial.log"))) < 2:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == code
    assert json.loads(out.strip().splitlines()[-1][7:])["reason"] == "ExperimentInterrupted"
    doc = json.loads((tmp_path / "results.json").read_text())
    assert [t["status"] for t in doc["trials"]] == ["Killed", "Killed"]
    assert doc["trials"][0]["message"] == "killed: interrupted"


def test_invalid_experiment_cli_message(tmp_path: Path) -> None:
    doc = hpo()
    doc["spec"]["trialTemplate"]["trialParameters"][0]["reference"] = "xx"
    proc = _cli(tmp_path, doc)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert out == ""  # no RESULT line for input that never ran
    assert err.startswith(f"error: {tmp_path / 'exp.yaml'}: Experiment 'fake-hpo' is invalid: "
                          "spec.trialTemplate.trialParameters[0].reference: 'xx' is not a "
                          "parameter (known: x)")
    assert "Traceback" not in err


def test_service_rejects_bad_settings_before_any_trial(tmp_path: Path) -> None:
    doc = hpo(algorithm="tpe")
    doc["spec"]["algorithm"]["algorithmSettings"] = [{"name": "bogus_setting", "value": "1"}]
    with pytest.raises(ExperimentError, match="Experiment 'fake-hpo' is invalid: spec.algorithm: "
                       "the 'tpe' suggestion service rejected the settings: .*bogus_setting"):
        _run(doc, tmp_path)
    assert not (tmp_path / "results.json").exists()
