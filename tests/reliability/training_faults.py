"""Training fault scenarios: SIGKILL `train` / `python -m katib.trial` and resume; corrupt the
newest checkpoint; die halfway through a checkpoint write.

Each scenario compares against an uninterrupted run with the same seed on CPU (1 thread): the
resumed run must end with bitwise identical weights, resume from the newest complete
checkpoint (no epoch lost beyond it) and leave no partial file under a checkpoint name.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from katib.trial.metric_lines import strip_timestamp
from tests.reliability.faults import (
    PYTHON,
    ROOT,
    Finished,
    Outcome,
    run,
    run_and_kill,
    weights_hash,
)

DRIVER = str(Path(__file__).with_name("train_driver.py"))
CATEGORY = "training"
_CKPT = re.compile(r"ckpt-(\d+)\.pt")


@dataclass(frozen=True)
class Job:
    """A training command (the driver or the trial CLI) and how it reports."""

    kind: str  # "train": the driver subprocess; "inproc": the same in this process (fast);
    # "trial": the katib.trial CLI subprocess
    epochs: int
    seed: int

    def argv(self, ckpt: Path, arch: Path) -> list[str]:
        if self.kind in ("train", "inproc"):
            return [PYTHON, "-u", DRIVER, "--checkpoint-dir", str(ckpt),
                    "--epochs", str(self.epochs), "--seed", str(self.seed)]
        return [PYTHON, "-u", "-m", "katib.trial", "--data", "builtin:digits",
                "--architecture", f"@{arch}", "--epochs", str(self.epochs),
                "--seed", str(self.seed), "--threads", "1", "--batch-size", "64",
                "--checkpoint-dir", str(ckpt)]


def tiny_architecture(path: Path) -> Path:
    """Write the driver's tiny spec as JSON (what `--architecture @path` reads)."""
    from tests.reliability.train_driver import tiny_spec

    path.write_text(tiny_spec().dumps())
    return path


def checkpoints(ckpt: Path) -> dict[int, Path]:
    return {int(m.group(1)): p for p in ckpt.glob("ckpt-*.pt")
            if (m := _CKPT.fullmatch(p.name))}


def load_checkpoint(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def final_hash(ckpt: Path) -> str:
    """Weights hash of the newest checkpoint (the trial CLI prints no weights)."""
    newest = max(checkpoints(ckpt))
    return weights_hash(load_checkpoint(checkpoints(ckpt)[newest])["model"])


def check_visible_checkpoints(ckpt: Path, outcome: Outcome) -> int:
    """Every file under a final checkpoint name must be complete; returns the newest epoch."""
    found = checkpoints(ckpt)
    for epoch, path in found.items():
        try:
            state = load_checkpoint(path)
        except Exception as e:  # noqa: BLE001 - any failure is the finding
            outcome.fail(f"{path.name} is visible but does not load ({type(e).__name__}: {e})")
            outcome.lost += 1
            continue
        if state.get("epoch") != epoch or "model" not in state:
            outcome.fail(f"{path.name} is visible but incomplete")
            outcome.lost += 1
    return max(found, default=0)


def _epochs(lines: list[str]) -> list[int]:
    lines = [strip_timestamp(ln) for ln in lines]  # trial CLI lines carry a time
    return [int(ln.split("=", 1)[1]) for ln in lines if ln.startswith("epoch=")]


def _accuracy(lines: list[str]) -> list[str]:
    return [ln for ln in map(strip_timestamp, lines) if ln.startswith("accuracy=")]


def baseline(job: Job, work: Path) -> tuple[str, list[str], Path]:
    """Uninterrupted run: (weights hash, stdout lines, its checkpoint dir)."""
    ckpt = work / f"base-{job.kind}-{job.seed}"
    shutil.rmtree(ckpt, ignore_errors=True)
    arch = tiny_architecture(work / "tiny-arch.json")
    done = _restart(job, ckpt, arch)
    if done.code != 0:
        raise RuntimeError(f"baseline {job} failed ({done.code}): {done.stderr[-2000:]}")
    return final_hash(ckpt), done.lines, ckpt


def _run_in_process(job: Job, ckpt: Path) -> Finished:
    """The driver's run without a new interpreter (for restarts that need no kill)."""
    from nac.training import TrainConfig, train
    from tests.reliability.train_driver import digits_splits, tiny_spec

    lines: list[str] = []
    splits = digits_splits()
    config = TrainConfig(epochs=job.epochs, batch_size=64, seed=job.seed, threads=1,
                         stats=True, checkpoint_dir=str(ckpt))
    try:
        result = train(tiny_spec(), splits.train, splits.val, config,
                       on_epoch=lambda r: lines.append(f"epoch={r.epoch}"))
    except Exception as e:  # noqa: BLE001 - reported like a failed subprocess
        return Finished(1, lines, f"{type(e).__name__}: {e}")
    lines += [f"resumed_from={result.resumed_from}",
              f"weights={weights_hash(result.model.state_dict())}"]
    return Finished(0, lines, "")


def _restart(job: Job, ckpt: Path, arch: Path) -> Finished:
    if job.kind == "inproc":
        return _run_in_process(job, ckpt)
    return run(job.argv(ckpt, arch), ROOT)


def _resume_and_check(job: Job, ckpt: Path, arch: Path, newest: int, base_hash: str,
                      base_lines: list[str], outcome: Outcome, label: str) -> None:
    kept = {e: hashlib.sha256(p.read_bytes()).hexdigest()
            for e, p in checkpoints(ckpt).items() if e <= newest}
    done = _restart(job, ckpt, arch)
    if done.code != 0:
        outcome.fail(f"{label}: restart exited {done.code}: {done.stderr[-800:]}")
        return
    for e, digest in kept.items():  # a completed epoch is never trained (or written) again
        path = checkpoints(ckpt).get(e)
        if path is not None and hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            outcome.fail(f"{label}: checkpoint {e} was rewritten by the restart")
    epochs = _epochs(done.lines)
    expected = list(range(newest + 1, job.epochs + 1))
    if job.kind == "trial" and newest == job.epochs:
        expected = [job.epochs]  # the CLI re-reports the finished run's last epoch for Katib
    if epochs != expected:
        outcome.fail(f"{label}: restart ran epochs {epochs}, expected {expected} (resume from "
                     f"checkpoint {newest})")
        outcome.lost += max(0, len(epochs) - len(expected))
        return
    got = final_hash(ckpt)
    if got != base_hash:
        outcome.fail(f"{label}: final weights differ from the uninterrupted run")
        outcome.lost += 1
        return
    if _accuracy(done.lines) != _accuracy(base_lines)[len(_accuracy(base_lines))
                                                       - len(expected):]:
        outcome.fail(f"{label}: resumed metrics differ from the uninterrupted run")
        return
    leftovers = sorted(p.name for p in ckpt.iterdir() if not _CKPT.fullmatch(p.name))
    if leftovers:
        outcome.fail(f"{label}: temporary files left in the checkpoint dir: {leftovers}")
        return
    outcome.recovered += 1


def random_kill(job: Job, work: Path, base_hash: str, base_lines: list[str], *,
                rng: random.Random, tag: str) -> Outcome:
    """SIGKILL at a random moment after a random epoch, then restart with the same dir."""
    after = rng.randint(1, job.epochs - 1)
    delay = rng.uniform(0.0, 0.4)
    outcome = Outcome(CATEGORY, f"{job.kind}: SIGKILL after epoch {after} + {delay:.2f}s")
    ckpt = work / f"kill-{job.kind}-{tag}"
    shutil.rmtree(ckpt, ignore_errors=True)
    arch = work / "tiny-arch.json"
    killed = run_and_kill(job.argv(ckpt, arch), ROOT, after_lines=after, prefix="epoch=",
                          delay=delay)
    printed = _epochs(killed.lines)
    if killed.code != -9:
        outcome.what += " (ended before the kill)"
        return outcome
    outcome.faults += 1
    newest = check_visible_checkpoints(ckpt, outcome)
    if printed and newest < max(printed):
        outcome.fail(f"epoch {max(printed)} was reported but the newest checkpoint is {newest}")
        outcome.lost += max(printed) - newest
    outcome.extra["killed_after_epoch"] = max(printed, default=0)
    outcome.extra["resumed_from"] = newest
    _resume_and_check(job, ckpt, arch, newest, base_hash, base_lines, outcome, outcome.what)
    return outcome


def kill_in_save(job: Job, work: Path, base_hash: str, base_lines: list[str], *,
                 nth: int) -> Outcome:
    """The driver SIGKILLs itself with half of checkpoint `nth` written: no torn file may
    appear under a checkpoint name, and the restart resumes from checkpoint nth-1."""
    outcome = Outcome(CATEGORY, f"train: SIGKILL halfway through writing checkpoint {nth}")
    ckpt = work / f"torn-{job.seed}-{nth}"
    shutil.rmtree(ckpt, ignore_errors=True)
    arch = work / "tiny-arch.json"
    died = run(job.argv(ckpt, arch), ROOT, env={"RELIABILITY_KILL_IN_SAVE": str(nth)})
    if died.code != -9 or f"dying-in-save={nth}" not in died.lines:
        outcome.fail(f"the driver did not die in save {nth} (exit {died.code})")
        return outcome
    outcome.faults += 1
    newest = check_visible_checkpoints(ckpt, outcome)
    if newest != nth - 1:
        outcome.fail(f"newest visible checkpoint is {newest}, expected {nth - 1}")
    _resume_and_check(job, ckpt, arch, newest, base_hash, base_lines, outcome, outcome.what)
    return outcome


def corrupt_newest(job: Job, work: Path, base_dir: Path, base_hash: str,
                   base_lines: list[str], *, mode: str, rng: random.Random) -> Outcome:
    """Corrupt the newest checkpoint of a finished run; the restart must skip it, resume from
    the previous one, redo the last epoch and end with identical weights."""
    outcome = Outcome(CATEGORY, f"{job.kind}: newest checkpoint {mode}")
    ckpt = work / f"corrupt-{job.kind}-{mode}-{job.seed}"
    shutil.rmtree(ckpt, ignore_errors=True)
    shutil.copytree(base_dir, ckpt)
    found = checkpoints(ckpt)
    newest = max(found)
    data = bytearray(found[newest].read_bytes())
    if mode == "truncated":
        data = data[: rng.randint(1, len(data) - 1)]
    elif mode == "garbled":
        start = rng.randint(0, len(data) // 2)
        for i in range(start, min(len(data), start + 4096)):
            data[i] = rng.randrange(256)
    elif mode == "empty":
        data = bytearray()
    elif mode == "foreign":  # a valid torch file that is not a checkpoint
        import io

        import torch

        buf = io.BytesIO()
        torch.save({"weights": torch.zeros(3)}, buf)
        data = bytearray(buf.getvalue())
    else:
        raise ValueError(mode)
    found[newest].write_bytes(bytes(data))
    outcome.faults += 1
    outcome.extra["corrupted"] = found[newest].name
    _resume_and_check(job, ckpt, work / "tiny-arch.json", newest - 1, base_hash, base_lines,
                      outcome, outcome.what)
    return outcome


def scenarios(work: Path, *, seeds: list[int], kills_per_seed: int, trial_kills: int,
              corruptions: tuple[str, ...], torn_writes: tuple[int, ...],
              epochs: int = 5) -> list[Outcome]:
    """The training part of the reliability table."""
    work.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    for i, seed in enumerate(seeds):
        job = Job("inproc", epochs, seed)  # killed runs are subprocesses; restarts run here
        base_hash, base_lines, base_dir = baseline(job, work)
        rng = random.Random(seed)
        for k in range(kills_per_seed):
            outcomes.append(random_kill(job, work, base_hash, base_lines, rng=rng,
                                        tag=f"{seed}-{k}"))
        if i:
            continue  # torn writes and corruptions once, on the first seed
        for nth in torn_writes:
            outcomes.append(kill_in_save(job, work, base_hash, base_lines, nth=nth))
        for mode in corruptions:
            outcomes.append(corrupt_newest(job, work, base_dir, base_hash, base_lines,
                                           mode=mode, rng=rng))
    if trial_kills:
        job = Job("trial", epochs, seeds[0])
        base_hash, base_lines, base_dir = baseline(job, work)
        rng = random.Random(1000 + seeds[0])
        for k in range(trial_kills):
            outcomes.append(random_kill(job, work, base_hash, base_lines, rng=rng,
                                        tag=f"trial-{k}"))
        outcomes.append(corrupt_newest(job, work, base_dir, base_hash, base_lines,
                                       mode="truncated", rng=rng))
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    return json.dumps([(o.what, o.ok, o.problems) for o in outcomes], indent=1)
