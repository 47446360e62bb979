"""A full NAC construction through the gRPC service with real `python -m katib.trial`
subprocesses on digits reaches the same spec as the in-process driver `nac.construct`.

The driver below plays Katib's part: every call carries the whole history and asks for one
assignment; the trial command is what an Experiment's trialTemplate runs; metrics are
collected with the StdOut filters of contracts.md §4 (latest value per metric).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from katib.api import api_pb2, api_pb2_grpc
from katib.suggestion import serve
from katib.suggestion import testing as T
from nac.construct import NACSettings, construct
from nac.data import ingest, split_dataset
from nac.spec import parse_architecture
from nac.training import TrainConfig

ROOT = Path(__file__).resolve().parents[3]
FILTERS = [re.compile(r"([\w-]+)=([+-]?\d+(?:\.\d+)?(?:[Ee][+-]?\d+)?)"),
           re.compile(r"(nac-stats)=(\{\S+\})")]
SEED = 5
SETTINGS = {"iterations": "2", "layers_per_stage": "1,1,1", "max_layers_per_stage": "3,3,1",
            "stem_channels": "6", "seed": str(SEED), "trials_per_iteration": "1"}
TRIAL_ARGS = ["--data", "builtin:digits", "--epochs", "1", "--batch-size", "64", "--lr", "0.05",
              "--threads", "1", "--stats"]


def run_trial(assignments: dict[str, str], workdir: Path) -> dict[str, str]:
    cmd = [sys.executable, "-u", "-m", "katib.trial", *TRIAL_ARGS,
           "--architecture", assignments["architecture"], "--seed", assignments["seed"],
           "--iteration", assignments["iteration"]]
    out = subprocess.run(cmd, cwd=workdir, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    metrics: dict[str, str] = {}
    for line in out.stdout.splitlines():
        for pattern in FILTERS:
            for name, value in pattern.findall(line):
                metrics[name] = value  # metricStrategies: latest
    return metrics


@pytest.mark.slow
def test_grpc_construction_matches_in_process_construct(tmp_path: Path) -> None:
    server, port = serve(0, "127.0.0.1")
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = api_pb2_grpc.SuggestionStub(channel)
    exp = T.nas_experiment(name="nac-e2e", settings=SETTINGS, input_sizes=(8, 8, 1),
                           classes=10, parallel=1)
    try:
        stub.ValidateAlgorithmSettings(api_pb2.ValidateAlgorithmSettingsRequest(experiment=exp),
                                       timeout=60)
        trials: list[api_pb2.Trial] = []
        specs: list[str] = []
        while True:
            reply = stub.GetSuggestions(T.request(exp, trials), timeout=60)
            item = reply.parameter_assignments[0]
            a = T.assignments_of(item)
            assert item.trial_name == f"nac-e2e-i{a['iteration']}-t{len(trials)}"
            specs.append(a["architecture"])
            metrics = run_trial(a, tmp_path)
            assert set(metrics) >= {"epoch", "loss", "accuracy", "nac-stats"}
            trials.append(T.trial(item.trial_name, a, metrics=metrics,
                                  completion_time=T.rfc3339(len(trials))))
            if a["iteration"] == "2":  # the constructed network, trained once
                break
    finally:
        channel.close()
        server.stop(0)

    splits = split_dataset(ingest("builtin:digits"), val_fraction=0.1, test_fraction=0.2, seed=0)
    reference = construct(splits.train, splits.val, NACSettings(
        iterations=2, layers_per_stage=(1, 1, 1), max_layers_per_stage=(3, 3, 1),
        stem_channels=6,
        training=TrainConfig(epochs=1, batch_size=64, lr=0.05, seed=SEED, threads=1,
                             stats=True)))
    got = [parse_architecture(s) for s in specs]
    assert got[0] == reference.initial_spec
    assert got[1] == reference.trace[1].spec
    assert got[2] == reference.spec
    assert got[2] != got[0]  # the construction really restructured
