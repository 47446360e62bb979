"""Real torchrun jobs (c10d rendezvous, gloo, subprocess workers) on 127.0.0.1.

What is checked: 1, 2 and 3 workers rendezvous and train; 1 and 2 workers give bit-identical
weights; a checkpoint written by 1 worker resumes on 2; a SIGKILLed worker is restarted by the
elastic agent and the job resumes its last checkpoint with the same final weights; killing the
node that hosts the c10d store ends the job for the survivors with torch's
RendezvousConnectionError (refused, not survived: docs/distributed.md).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nac.data import ingest, read_dataset, split_dataset, write_dataset
from nac.distributed import ElasticConfig, World, train_ddp
from nac.distributed.ddp import Preempted
from nac.distributed.launch import LocalNode, RendezvousSpec, free_port, torchrun_argv
from nac.distributed.worker import EVENT_PREFIX
from nac.spec import initial_envelopenet
from nac.training import TrainConfig

pytestmark = pytest.mark.slow
EPOCHS, BATCH = 1, 32  # 192 rows: 6 global steps per epoch


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    root = tmp_path_factory.mktemp("elastic")
    s = split_dataset(ingest("builtin:digits"), val_fraction=0.1, test_fraction=0.2, seed=0)
    write_dataset(s.train.subset(np.arange(192), split="train"), root / "train")
    write_dataset(s.val, root / "val")
    spec = initial_envelopenet((1, 8, 8), 10, stages=2, layers_per_stage=(1, 1),
                               stem_channels=8, lrn=False)
    (root / "spec.json").write_text(json.dumps(spec.to_json()))
    args = ["--data", str(root / "train"), "--val-data", str(root / "val"),
            "--architecture", f"@{root / 'spec.json'}", "--epochs", str(EPOCHS),
            "--batch-size", str(BATCH), "--lr", "0.05", "--seed", "1"]
    return {"root": root, "args": args, "spec": spec}


def _argv(nproc: int, args: list[str], *, max_restarts: int = 0) -> list[str]:
    rdzv = RendezvousSpec(min_nodes=1, max_nodes=1, nproc_per_node=nproc,
                          endpoint=f"127.0.0.1:{free_port()}", run_id=f"t{time.time_ns()}",
                          max_restarts=max_restarts)
    return torchrun_argv(rdzv, "nac.distributed", ["worker", *args])


def _events(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        if line.startswith(EVENT_PREFIX + " "):
            _, event, payload = line.split(" ", 2)
            out.append({"event": event, **json.loads(payload)})
    return out


def _run(nproc: int, args: list[str], out: Path, extra: list[str] = ()) -> list[dict]:
    proc = subprocess.run(_argv(nproc, [*args, "--out", str(out), *extra]), capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return _events(proc.stdout)


@pytest.fixture(scope="module")
def two_workers(job):
    out = job["root"] / "w2"
    events = _run(2, [*job["args"], "--checkpoint-dir", str(out / "ck")], out)
    return events, json.loads((out / "result.json").read_text())


def test_one_two_three_workers(job, two_workers, monkeypatch):
    events, two = two_workers
    starts = [e for e in events if e["event"] == "start"]
    assert sorted(e["rank"] for e in starts) == [0, 1] and {e["world_size"] for e in starts} == {2}
    assert all(c["once"] == c["rows"] == 192 and c["more"] == 0 for c in two["coverage"])
    assert two["global_step"] == EPOCHS * 192 // BATCH
    # One worker in this process computes the same function: identical weights.
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    root = job["root"]
    one = train_ddp(job["spec"], read_dataset(root / "train"), read_dataset(root / "val"),
                    TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=0.05, seed=1),
                    ElasticConfig(), world=World(0, 1, 0, 0, "one"))
    assert one.extra["weights_sha256"] == two["weights_sha256"]
    # Three workers need micro_batches divisible by 3; they train and see every row once.
    out = root / "w3"
    events3 = _run(3, [*job["args"], "--checkpoint-dir", str(out / "ck"), "--micro-batches",
                       "6", "--batch-size", "48"], out)
    assert {e["world_size"] for e in events3 if e["event"] == "start"} == {3}
    three = json.loads((out / "result.json").read_text())
    assert three["coverage"][0]["once"] == 192 and three["val_accuracy"] is not None


def test_checkpoint_of_one_worker_resumes_on_two(job, two_workers, monkeypatch):
    _, two = two_workers
    root, ck = job["root"], job["root"] / "resize" / "ck"
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    steps: list[int] = []
    with pytest.raises(Preempted):
        train_ddp(job["spec"], read_dataset(root / "train"), read_dataset(root / "val"),
                  TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=0.05, seed=1,
                              checkpoint_dir=str(ck)),
                  ElasticConfig(), world=World(0, 1, 0, 0, "one"),
                  on_step=lambda r: steps.append(r.global_step),
                  stop_requested=lambda: len(steps) >= 4)  # mid-epoch (6 steps per epoch)
    events = _run(2, [*job["args"], "--checkpoint-dir", str(ck)], root / "resize")
    resume = next(e for e in events if e["event"] == "resume")
    assert (resume["global_step"], resume["saved_world_size"], resume["world_size"]) == (4, 1, 2)
    done = next(e for e in events if e["event"] == "done")
    assert done["weights_sha256"] == two["weights_sha256"]


def test_killed_worker_is_restarted_and_resumes(job, two_workers, tmp_path):
    _, two = two_workers
    out = tmp_path / "kill"
    argv = _argv(2, [*job["args"], "--checkpoint-dir", str(out / "ck"), "--out", str(out),
                     "--checkpoint-every", "2", "--step-delay", "0.5"], max_restarts=2)
    node = LocalNode("node", argv, tmp_path / "node.log")
    deadline = time.time() + 240
    killed = None
    while node.poll() is None and time.time() < deadline:
        events = _events(node.log_path.read_text())
        if killed is None and any(e["event"] == "step" and e["global_step"] >= 3
                                  for e in events):  # after the step-2 checkpoint
            killed = node.workers()[-1]  # the newest worker process (not the agent)
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    assert node.wait(timeout=5) == 0, node.log_path.read_text()[-3000:]
    events = _events(node.log_path.read_text())
    assert killed is not None
    assert {e["restart"] for e in events if e["event"] == "start"} == {0, 1}
    resume = next(e for e in events if e["event"] == "resume")
    assert resume["global_step"] in (2, 4)  # the last checkpoint before the kill
    done = next(e for e in events if e["event"] == "done")
    assert done["weights_sha256"] == two["weights_sha256"]  # the lost steps were redone
    assert all(c["once"] == c["rows"] for c in done["coverage"])


def test_killed_rendezvous_host_is_refused_with_a_clear_error(job, tmp_path):
    """The c10d store lives in the first node's agent: without it the survivors cannot agree
    on a new membership, and torch's agent stops with RendezvousConnectionError."""
    port = free_port()
    nodes = []
    for name, host in (("host", 1), ("peer", 0)):
        rdzv = RendezvousSpec(min_nodes=1, max_nodes=2, endpoint=f"127.0.0.1:{port}",
                              run_id="host-kill", max_restarts=2,
                              conf={"join_timeout": 60, "last_call_timeout": 2,
                                    "is_host": host, "read_timeout": 20})
        argv = torchrun_argv(rdzv, "nac.distributed",
                             ["worker", *job["args"], "--checkpoint-dir", str(tmp_path / "ck"),
                              "--step-delay", "0.3", "--epochs", "3"])
        nodes.append(LocalNode(name, argv, tmp_path / f"{name}.log"))
    host, peer = nodes
    deadline = time.time() + 240
    while time.time() < deadline and not any(
            e["event"] == "step" for n in nodes for e in _events(n.log_path.read_text())):
        time.sleep(0.2)
    host.kill()
    code = peer.wait(timeout=180)
    log = peer.log_path.read_text()
    assert code != 0
    assert "RendezvousConnectionError" in log or "connection to the C10d store" in log, log[-3000:]


def test_trial_cli_with_two_workers_reports_once(job):
    """`katib.trial --workers 2` relaunches itself under torchrun; only rank 0 prints."""
    proc = subprocess.run(
        [sys.executable, "-m", "katib.trial", "--data", str(job["root"] / "train"),
         "--val-data", str(job["root"] / "val"), "--architecture",
         f"@{job['root'] / 'spec.json'}", "--epochs", "1", "--batch-size", "32", "--workers",
         "2"], capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Metric lines may carry Katib's timestamp prefix: "<RFC 3339> accuracy=0.91".
    values = re.findall(r"(?:^|\s)accuracy=([0-9.eE+-]+)$", proc.stdout, flags=re.M)
    assert len(values) == 1 and 0 < float(values[0]) <= 1, proc.stdout
    bad = subprocess.run([sys.executable, "-m", "katib.trial", "--data", "builtin:digits",
                          "--workers", "2", "--stats"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "--stats" in bad.stderr


def test_hung_peer_fails_fast_instead_of_hanging(job, tmp_path):
    """A SIGSTOPped worker neither answers nor closes its sockets: the collective timeout
    (here 5 s) must turn that into an error on the other rank, not an endless wait."""
    argv = _argv(2, [*job["args"], "--checkpoint-dir", str(tmp_path / "ck"), "--step-delay",
                     "0.3", "--collective-timeout", "5"])
    node = LocalNode("node", argv, tmp_path / "node.log")
    deadline = time.time() + 240
    stopped = None
    try:
        while node.poll() is None and time.time() < deadline:
            log = node.log_path.read_text()
            if stopped is None and any(e["event"] == "step" for e in _events(log)):
                stopped = node.workers()[-1]
                os.kill(stopped, signal.SIGSTOP)
                t_stop = time.time()
            if stopped is not None and "error: training failed" in log:
                waited = time.time() - t_stop
                break
            time.sleep(0.2)
        assert stopped is not None and "error: training failed" in log, log[-3000:]
        assert waited < 60, waited  # the 5 s timeout plus process overheads, not a hang
    finally:
        if stopped is not None:
            os.kill(stopped, signal.SIGKILL)
        node.kill()
