"""SIGKILL the local Katib runner mid-experiment and resume with the same results file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import runner_faults as rf


def _check(outcome: rf.Outcome) -> None:
    assert outcome.problems == []
    assert outcome.faults == outcome.recovered == 1 and outcome.lost == 0
    assert outcome.extra["completed_before_kill"] >= 1
    assert outcome.extra["results_reads"] > 0  # the file was parsed while it was written


def test_runner_killed_mid_experiment_resumes_without_rerun_or_loss(tmp_path: Path) -> None:
    _check(rf.kill_and_resume(tmp_path, seed=1))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3])
def test_runner_kill_resume_more_points(tmp_path: Path, seed: int) -> None:
    _check(rf.kill_and_resume(tmp_path, seed=seed, parallel=3, sleep=0.3))
