"""The local elastic demo: 2 nodes train, one is SIGKILLed mid-epoch, a new one joins, done.

    python -m nac.distributed demo --workdir /tmp/elastic-demo          # elastic story
    python -m nac.distributed demo --no-kill                            # uninterrupted run

Each node is one torchrun agent with one worker (`launch.LocalNode`); they meet through the c10d
rendezvous hosted by the first node's agent (so the demo kills the second node: killing the
rendezvous host ends the job for everyone, see docs/distributed.md). Every membership change
(a node killed, a node added, each new worker group with its world size) and the training
progress are printed; `run_scenario` returns the parsed timeline for `benchmarks/elastic_digits.py`.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nac import exit_codes
from nac.cli_help import HelpFormatter
from nac.distributed.launch import LocalNode, RendezvousSpec, free_port, torchrun_argv
from nac.distributed.worker import EVENT_PREFIX

#: torchrun agent log lines worth showing (membership decisions of the elastic agent).
AGENT_MARKERS = ("will restart worker group", "Detected", "Rendezvous complete",
                 "hosts the TCP store", "worker group successfully finished",
                 "The node '", "has joined", "closed")


@dataclass
class Timeline:
    """What happened in one scenario run (times are time.time())."""

    events: list[dict[str, Any]] = field(default_factory=list)  # worker events, node-tagged
    changes: list[dict[str, Any]] = field(default_factory=list)  # kill / join actions
    done: dict[str, Any] | None = None
    seconds: float = 0.0
    returncodes: dict[str, int | None] = field(default_factory=dict)

    def groups(self) -> list[int]:
        """World size of each worker group that started, in order."""
        return [e["world_size"] for e in self.events if e["event"] == "start" and e["rank"] == 0]

    def recoveries(self) -> list[float]:
        """Per change: seconds training stood still, from the kill (or, for a join, the old
        group's last step) to the first step of the group that resumed after it."""
        out = []
        for change in self.changes:
            resume = next((e for e in self.events if e["event"] == "resume"
                           and e["after_change"] >= change["index"]), None)
            if resume is None:
                continue
            before = [e["time"] for e in self.events if e["event"] == "step"
                      and e["time"] < resume["time"]]
            after = [e["time"] for e in self.events if e["event"] == "step"
                     and e["time"] > resume["time"]]
            if after:
                stopped = max([change["time"], *before])
                out.append(min(after) - stopped)
        return out

    def lost_steps(self) -> list[int]:
        """Per change: steps trained before the group that resumed after it, minus the step
        it resumed from (work redone)."""
        out = []
        for change in self.changes:
            resume = next((e for e in self.events if e["event"] == "resume"
                           and e["after_change"] >= change["index"]), None)
            if resume is None:
                continue
            before = [e["global_step"] for e in self.events if e["event"] == "step"
                      and e["time"] < resume["time"]]
            out.append(max(0, max(before, default=0) - resume["global_step"]))
        return out


class _Follower:
    """Incrementally reads a node's log, parsing worker events and agent membership lines."""

    def __init__(self, node: LocalNode) -> None:
        self.node, self.offset, self.partial = node, 0, b""

    def lines(self) -> list[str]:
        try:
            with open(self.node.log_path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        data = self.partial + data
        *complete, self.partial = data.split(b"\n")
        return [c.decode("utf-8", "replace") for c in complete]


def run_scenario(workdir: Path, worker_args: Sequence[str], *, kill_at_step: int | None,
                 rejoin_after_steps: int = 5, max_nodes: int = 2, min_nodes: int = 1,
                 timeout: float = 900,
                 show: Callable[[str], None] = print) -> Timeline:
    """Run one job of `max_nodes` local nodes; with `kill_at_step`, kill one and add one back.

    `min_nodes=max_nodes` is a fixed-size job: its group forms only when every node has
    joined (on a loaded machine one node may boot seconds after the other, and an elastic
    job would start without it and restart when it arrives)."""
    workdir.mkdir(parents=True, exist_ok=True)
    rdzv = RendezvousSpec(min_nodes=min_nodes, max_nodes=max_nodes,
                          endpoint=f"127.0.0.1:{free_port()}", run_id=f"demo-{int(time.time())}")
    t0 = time.time()
    timeline = Timeline()
    nodes: dict[str, LocalNode] = {}
    followers: dict[str, _Follower] = {}

    def start(name: str) -> None:
        # node-a hosts the c10d store (is_host), so the demo knows which node not to kill;
        # LOGLEVEL=INFO makes the elastic agent log its rendezvous and restart decisions.
        conf = {**rdzv.conf, "is_host": int(name == "node-a")}
        argv = torchrun_argv(replace(rdzv, conf=conf), "nac.distributed", ["worker", *worker_args])
        nodes[name] = LocalNode(name, argv, workdir / f"{name}.log", env={"LOGLEVEL": "INFO"})
        followers[name] = _Follower(nodes[name])
        show(f"[{time.time() - t0:6.1f}s] membership: started {name} (pid {nodes[name].pid})")

    def change(kind: str, name: str) -> None:
        timeline.changes.append({"kind": kind, "node": name, "time": time.time(),
                                 "index": len(timeline.changes)})

    def on_term(*_: object) -> None:  # run `finally` (kill the nodes) once, undisturbed
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.exit(exit_codes.SIGTERM)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
    for i in range(max_nodes):
        start(f"node-{chr(ord('a') + i)}")
    killed = joined = False
    spare = chr(ord("a") + max_nodes)
    try:
        while time.time() - t0 < timeout:
            for name, fol in followers.items():
                for line in fol.lines():
                    _handle(line, name, timeline, t0, show)
            last = timeline.events[-1] if timeline.events else None
            if kill_at_step is not None and not killed and last and last["event"] == "step" \
                    and last["global_step"] >= kill_at_step:
                victim = f"node-{chr(ord('a') + max_nodes - 1)}"
                change("kill", victim)
                nodes[victim].kill()
                killed = True
                show(f"[{time.time() - t0:6.1f}s] membership: SIGKILL {victim} (agent and "
                     f"worker) after global step {last['global_step']}")
            elif killed and not joined and sum(
                    1 for e in timeline.events
                    if e["event"] == "step" and e["after_change"] >= 0) >= rejoin_after_steps:
                change("join", f"node-{spare}")
                start(f"node-{spare}")
                joined = True
            if all(n.poll() is not None for n in nodes.values()):
                for name, fol in followers.items():
                    for line in fol.lines():
                        _handle(line, name, timeline, t0, show)
                break
            time.sleep(0.1)
    finally:
        for name, node in nodes.items():
            if node.poll() is None:
                node.kill()
            timeline.returncodes[name] = node.poll()
    timeline.seconds = time.time() - t0
    return timeline


def _handle(line: str, node: str, timeline: Timeline, t0: float,
            show: Callable[[str], None]) -> None:
    if line.startswith(EVENT_PREFIX + " "):
        _, event, payload = line.split(" ", 2)
        doc = {"event": event, "node": node, **json.loads(payload)}
        doc["after_change"] = len(timeline.changes) - 1
        timeline.events.append(doc)
        when = f"[{doc.get('time', time.time()) - t0:6.1f}s]"
        if event == "start":
            show(f"{when} membership: {node} worker rank {doc['rank']} of world size "
                 f"{doc['world_size']} (restart {doc['restart']})")
        elif event == "resume":
            show(f"{when} resume: global step {doc['global_step']} (epoch {doc['epoch'] + 1}, "
                 f"after step {doc['step']}), saved by {doc['saved_world_size']} worker(s), now "
                 f"{doc['world_size']}")
        elif event == "step" and doc["step"] % 5 == 0:
            show(f"{when} train: epoch {doc['epoch'] + 1} step {doc['step']} (global "
                 f"{doc['global_step']}) world {doc['world_size']} loss {doc['loss']:.4f}")
        elif event == "epoch":
            show(f"{when} epoch {doc['epoch']}/{doc['epochs']} done: train loss "
                 f"{doc['train_loss']:.4f} val accuracy {doc['val_accuracy']}")
        elif event == "done":
            timeline.done = doc
            show(f"{when} done: test accuracy {doc['test_accuracy']} weights "
                 f"{doc['weights_sha256'][:12]}")
    elif any(m in line for m in AGENT_MARKERS):
        show(f"[{time.time() - t0:6.1f}s] {node} agent: {line.strip()[-160:]}")


def small_architecture(workdir: Path, source: str) -> str:
    """`@path` of a small EnvelopeNet for `source` (2 stages of 1 cell, 16 stem channels):
    big enough to learn digits, small enough that a 2-vCPU demo takes a minute or two."""
    from nac.atomic import write_text_atomic
    from nac.data import ingest
    from nac.spec import initial_envelopenet

    ds = ingest(source)
    spec = initial_envelopenet(ds.shape, len(ds.classes), stages=2, layers_per_stage=(1, 1),
                               stem_channels=16)
    path = workdir / "architecture.json"
    write_text_atomic(path, json.dumps(spec.to_json()))
    return f"@{path}"


def parser() -> argparse.ArgumentParser:
    """The demo's parser (tests/test_cli_conventions.py walks it); other flags go to the worker."""
    p = argparse.ArgumentParser(prog="python -m nac.distributed demo", description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("--workdir", default="elastic-demo", help="logs, checkpoints, result")
    p.add_argument("--source", "--data", dest="data", metavar="SOURCE", default="builtin:digits",
                   help="ingest source the workers train on")
    p.add_argument("--epochs", type=int, default=4, help="training epochs")
    p.add_argument("--kill-at-step", type=int, default=30,
                   help="global step at which one worker is SIGKILLed")
    p.add_argument("--no-kill", action="store_true", help="run uninterrupted")
    p.add_argument("--rejoin-after-steps", type=int, default=5,
                   help="steps after the kill at which a new worker joins")
    p.add_argument("--checkpoint-every", type=int, default=10, help="steps between checkpoints")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = parser().parse_known_args(argv)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if (workdir / "checkpoints").exists() and any((workdir / "checkpoints").iterdir()):
        print(f"error: --workdir: {workdir}/checkpoints is not empty; the demo would resume "
              "an earlier run. Use a new --workdir", file=sys.stderr)
        return exit_codes.BAD_INPUT
    worker_args = ["--source", args.data, "--architecture", small_architecture(workdir, args.data),
                   "--epochs", str(args.epochs), "--trim",
                   "--checkpoint-every", str(args.checkpoint_every),
                   "--checkpoint-dir", str(workdir / "checkpoints"),
                   "--output-dir", str(workdir / "out"),
                   *extra]
    timeline = run_scenario(workdir, worker_args,
                            kill_at_step=None if args.no_kill else args.kill_at_step,
                            rejoin_after_steps=args.rejoin_after_steps)
    summary = {"worker_groups": timeline.groups(), "lost_steps": timeline.lost_steps(),
               "recovery_seconds": [round(s, 2) for s in timeline.recoveries()],
               "test_accuracy": (timeline.done or {}).get("test_accuracy"),
               "seconds": round(timeline.seconds, 1)}
    print(f"RESULT {json.dumps(summary)}", flush=True)
    return exit_codes.OK if timeline.done is not None else exit_codes.FAILED
