"""SIGKILL training (nac.training.train and the trial CLI) and resume; corrupt checkpoints.

Bitwise identity is the bar: same seed, CPU, one thread, so a resumed run that lost or
repeated anything would end with different weights.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.reliability import training_faults as tf

EPOCHS = 4


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("training-faults")


@pytest.fixture(scope="module")
def train_base(work: Path) -> tuple[tf.Job, str, list[str], Path]:
    job = tf.Job("inproc", EPOCHS, seed=3)  # kills hit a subprocess; restarts run here
    return (job, *tf.baseline(job, work))


def _assert_recovered(outcome: tf.Outcome) -> None:
    assert outcome.faults == 1, outcome.what
    assert outcome.problems == [], outcome.problems
    assert outcome.recovered == 1 and outcome.lost == 0


def test_baseline_checkpoints_are_complete(train_base, work: Path) -> None:
    job, base_hash, lines, base_dir = train_base
    assert [ln for ln in lines if ln.startswith("epoch=")] == [
        f"epoch={i}" for i in range(1, EPOCHS + 1)]
    assert sorted(tf.checkpoints(base_dir)) == [EPOCHS - 1, EPOCHS]  # the two newest kept
    assert f"weights={base_hash}" in lines  # the newest checkpoint holds the final weights


@pytest.mark.parametrize("seed", [11, pytest.param(12, marks=pytest.mark.slow)])
def test_sigkill_at_a_random_point_resumes_to_identical_weights(train_base, work: Path,
                                                                seed: int) -> None:
    job, base_hash, lines, _ = train_base
    outcome = tf.random_kill(job, work, base_hash, lines, rng=random.Random(seed),
                             tag=f"t{seed}")
    if outcome.faults == 0:  # the run finished before the kill landed: nothing to resume
        pytest.fail(f"kill did not land: {outcome.what}")
    _assert_recovered(outcome)
    assert outcome.extra["resumed_from"] >= outcome.extra["killed_after_epoch"]


def test_kill_halfway_through_a_checkpoint_write_leaves_no_torn_file(train_base,
                                                                     work: Path) -> None:
    job, base_hash, lines, _ = train_base
    _assert_recovered(tf.kill_in_save(job, work, base_hash, lines, nth=2))


@pytest.mark.parametrize("mode", ["truncated", "garbled", "foreign"])
def test_corrupt_newest_checkpoint_is_skipped_for_the_previous(train_base, work: Path,
                                                                mode: str) -> None:
    job, base_hash, lines, base_dir = train_base
    outcome = tf.corrupt_newest(job, work, base_dir, base_hash, lines, mode=mode,
                                rng=random.Random(5))
    _assert_recovered(outcome)


@pytest.mark.slow
def test_trial_cli_sigkill_and_corruption_resume(work: Path) -> None:
    job = tf.Job("trial", EPOCHS, seed=4)
    base_hash, lines, base_dir = tf.baseline(job, work)
    assert len(tf._accuracy(lines)) == EPOCHS
    killed = tf.random_kill(job, work, base_hash, lines, rng=random.Random(8), tag="cli")
    _assert_recovered(killed)
    _assert_recovered(tf.corrupt_newest(job, work, base_dir, base_hash, lines, mode="empty",
                                        rng=random.Random(9)))
