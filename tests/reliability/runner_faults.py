"""Local runner faults: SIGKILL `python -m katib.local run` mid-experiment, then resume.

The tiny trials log every execution to a marker file, so re-runs are counted, not guessed.
A reader thread parses the results file continuously while the runner writes it: with an
atomic writer it always parses.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from tests.reliability.faults import PYTHON, Outcome, child_env, run

CATEGORY = "local runner"
TINY_TRIAL = str(Path(__file__).with_name("tiny_trial.py"))
VALUES = [f"0.{i}" for i in range(1, 9)]


def experiment(name: str, marker: Path, *, sleep: float, parallel: int) -> dict[str, Any]:
    """A grid over 8 values of x; each trial prints accuracy=x after `sleep` seconds."""
    return {
        "apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "metadata": {"name": name},
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": "accuracy"},
            "algorithm": {"algorithmName": "grid"},
            "parallelTrialCount": parallel, "maxTrialCount": len(VALUES),
            "maxFailedTrialCount": 0,
            "parameters": [{"name": "x", "parameterType": "discrete",
                            "feasibleSpace": {"list": VALUES}}],
            "trialTemplate": {
                "primaryContainerName": "training",
                "trialParameters": [{"name": "x", "reference": "x"},
                                    {"name": "trialName", "reference": "${trialSpec.Name}"}],
                "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {
                    "spec": {"restartPolicy": "Never", "containers": [{
                        "name": "training", "image": "unused-locally",
                        "command": [PYTHON, "-u", TINY_TRIAL],
                        "args": ["--x", "${trialParameters.x}",
                                 "--name", "${trialParameters.trialName}",
                                 "--marker", str(marker), "--sleep", str(sleep)]}]}}}},
            },
        },
    }


def _completed(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in doc.get("trials", []) if t["status"] == "Succeeded"}


class _Reader(threading.Thread):
    """Parses the results file as fast as it can; counts reads and failures."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.reads, self.broken = path, 0, []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                text = self.path.read_text()
            except FileNotFoundError:
                time.sleep(0.005)
                continue
            self.reads += 1
            try:
                json.loads(text)
            except json.JSONDecodeError as e:
                self.broken.append(f"{e} ({len(text)} bytes)")
            time.sleep(0.002)


def _starts(marker: Path) -> list[tuple[str, int]]:
    if not marker.exists():
        return []
    out = []
    for line in marker.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "start":
            out.append((parts[1], int(parts[2])))
    return out


def kill_and_resume(work: Path, *, seed: int, parallel: int = 2, sleep: float = 0.4) -> Outcome:
    """SIGKILL the runner after a random number (1..5) of completed trials; resume; compare."""
    rng = random.Random(seed)
    kill_after = rng.randint(1, 5)
    outcome = Outcome(CATEGORY, f"SIGKILL runner after {kill_after} completed trials, resume")
    work.mkdir(parents=True, exist_ok=True)
    marker, results = work / "runs.log", work / "results.json"
    exp_file = work / "experiment.yaml"
    exp_file.write_text(yaml.safe_dump(experiment(f"rel-{seed}", marker, sleep=sleep,
                                                  parallel=parallel)))
    argv = [PYTHON, "-u", "-m", "katib.local", "run", str(exp_file), "--results", str(results),
            "--quiet"]
    reader = _Reader(results)
    reader.start()
    proc = subprocess.Popen(argv, cwd=work, env=child_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    before: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                before = _completed(json.loads(results.read_text()))
            except (FileNotFoundError, json.JSONDecodeError):
                pass
            if len(before) >= kill_after:
                break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL) if proc.poll() is None else None
        _, err = proc.communicate(timeout=30)
    if proc.returncode != -9:
        outcome.fail(f"runner was not killed mid-experiment (exit {proc.returncode}): "
                     f"{err[-500:]}")
        reader.stop.set()
        return outcome
    outcome.faults += 1
    # The file as the kill left it: it must parse and hold every trial seen completed.
    after_kill = _completed(json.loads(results.read_text()))
    for name, trial in before.items():
        if after_kill.get(name) != trial:
            outcome.fail(f"{name} was in the results file before the kill but changed/vanished")
            outcome.lost += 1
    time.sleep(0.5)  # let trials spawned just before the kill log their start
    for name, pid in _starts(marker):  # orphaned trials of the killed runner
        if name not in after_kill:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    starts_before = _starts(marker)
    resumed = run(argv, work, timeout=180)
    reader.stop.set()
    reader.join(timeout=5)
    if resumed.code != 0:
        outcome.fail(f"resumed runner exited {resumed.code}: {resumed.stderr[-800:]}")
        return outcome
    final = json.loads(results.read_text())
    done = _completed(final)
    for name, trial in after_kill.items():
        if done.get(name) != trial:
            outcome.fail(f"completed trial {name} lost or changed by the resume")
            outcome.lost += 1
    runs = [n for n, _ in _starts(marker)[len(starts_before):]]
    rerun = sorted(set(runs) & set(after_kill))
    if rerun:
        outcome.fail(f"completed trials re-run after the resume: {rerun}")
    xs = sorted(t["assignments"]["x"] for t in done.values())
    if xs != VALUES:
        outcome.fail(f"final grid {xs} is not every value once ({VALUES})")
        outcome.lost += len(set(VALUES) - set(xs))
    if reader.broken:
        outcome.fail(f"results file seen half-written {len(reader.broken)} times: "
                     f"{reader.broken[:2]}")
    outcome.extra.update(completed_before_kill=len(after_kill), trials_after_resume=len(runs),
                         results_reads=reader.reads)
    if not outcome.problems:
        outcome.recovered += 1
    return outcome
