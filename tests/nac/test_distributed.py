"""nac.distributed in one process (world size 1, real gloo group): checkpoints, resume, rules."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from nac.data import ingest, split_dataset
from nac.distributed import ElasticConfig, World, train_ddp, world_from_env
from nac.distributed.checkpoints import load_elastic_checkpoint
from nac.distributed.ddp import Preempted, _check_split
from nac.distributed.launch import RendezvousSpec, free_port, torchrun_argv
from nac.spec import initial_envelopenet
from nac.training import TrainConfig

W1 = World(rank=0, world_size=1, local_rank=0, restart_count=0, run_id="t")


@pytest.fixture(scope="module")
def digits():
    s = split_dataset(ingest("builtin:digits"), val_fraction=0.1, test_fraction=0.2, seed=0)
    return s.train.subset(np.arange(256), split="train"), s.val


@pytest.fixture(scope="module")
def spec():
    return initial_envelopenet((1, 8, 8), 10, stages=2, layers_per_stage=(1, 1),
                               stem_channels=8, lrn=False)


@pytest.fixture()
def group_env(monkeypatch):
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))


CFG = TrainConfig(epochs=2, batch_size=32, lr=0.05, seed=3, threads=1)


def test_config_and_world_rules():
    with pytest.raises(ValueError, match="micro_batches"):
        ElasticConfig(micro_batches=0)
    with pytest.raises(ValueError, match="collective_timeout"):
        ElasticConfig(collective_timeout=0)
    with pytest.raises(ValueError, match="backend"):
        ElasticConfig(backend="mpi")
    assert world_from_env({}) is None
    w = world_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "0",
                        "TORCHELASTIC_RESTART_COUNT": "3", "TORCHELASTIC_RUN_ID": "j"})
    assert w == World(rank=1, world_size=2, local_rank=0, restart_count=3, run_id="j")
    with pytest.raises(ValueError, match="torchrun"):
        world_from_env({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match="multiple of micro_batches=3"):
        _check_split(CFG, ElasticConfig(micro_batches=3), 1, 256)
    with pytest.raises(ValueError, match="world size 3: cannot split micro_batches=2"):
        _check_split(CFG, ElasticConfig(micro_batches=2), 3, 256)


def test_torchrun_command_is_elastic_c10d():
    argv = torchrun_argv(RendezvousSpec(min_nodes=1, max_nodes=3, endpoint="h:1", run_id="r"),
                         "nac.distributed", ["worker"])
    assert argv[1:3] == ["-m", "torch.distributed.run"]
    assert "--nnodes=1:3" in argv and "--rdzv-backend=c10d" in argv
    assert "--rdzv-endpoint=h:1" in argv and argv[-2:] == ["nac.distributed", "worker"]
    with pytest.raises(ValueError, match="nnodes"):
        RendezvousSpec(min_nodes=3, max_nodes=2)


def test_train_ddp_outside_a_launcher_says_how_to_launch(digits, spec, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ValueError, match="torchrun"):
        train_ddp(spec, *digits, CFG)
    with pytest.raises(ValueError, match="stats"):
        train_ddp(spec, *digits, dataclasses.replace(CFG, stats=True), world=W1)


def test_preempted_run_resumes_to_identical_weights(digits, spec, group_env, tmp_path):
    """SIGTERM-style stop after 5 steps checkpoints; the rerun resumes there and ends equal."""
    tr, va = digits
    whole = train_ddp(spec, tr, va, CFG, ElasticConfig(checkpoint_every=3), world=W1)
    cov = whole.extra["coverage"]
    assert [c["once"] for c in cov] == [256, 256] and all(c["more"] == 0 for c in cov)
    assert whole.val_accuracy is not None and whole.history[-1].train_loss < 2.3

    ckpt = tmp_path / "ck"
    cfg = dataclasses.replace(CFG, checkpoint_dir=str(ckpt))
    steps: list[int] = []
    with pytest.raises(Preempted, match="global step 5"):
        train_ddp(spec, tr, va, cfg, ElasticConfig(checkpoint_every=3), world=W1,
                  on_step=lambda r: steps.append(r.global_step),
                  stop_requested=lambda: len(steps) >= 5)
    saved = sorted(p.name for p in ckpt.glob("elastic-*.pt"))
    assert saved == ["elastic-00000003.pt", "elastic-00000005.pt"]  # interval + on stop
    state = torch.load(ckpt / saved[-1], map_location="cpu", weights_only=True)
    assert state["global_step"] == 5 and state["world_size"] == 1
    resumed: list[dict] = []
    again = train_ddp(spec, tr, va, cfg, ElasticConfig(checkpoint_every=3), world=W1,
                      on_resume=resumed.append)
    assert resumed[0]["global_step"] == 5 and again.resumed_from == 5
    assert again.extra["weights_sha256"] == whole.extra["weights_sha256"]
    assert again.extra["coverage"] == cov  # the resumed epoch still saw every row once


def test_foreign_or_torn_checkpoints(digits, spec, group_env, tmp_path):
    tr, va = digits
    ckpt = tmp_path / "ck"
    cfg = dataclasses.replace(CFG, epochs=1, checkpoint_dir=str(ckpt))
    train_ddp(spec, tr, va, cfg, ElasticConfig(checkpoint_every=4), world=W1)
    newest = sorted(ckpt.glob("elastic-*.pt"))[-1]
    assert load_elastic_checkpoint(newest)["epoch"] == 1
    (ckpt / "elastic-99999999.pt").write_bytes(b"torn write")  # skipped, not fatal
    again = train_ddp(spec, tr, va, cfg, ElasticConfig(checkpoint_every=4), world=W1)
    assert again.resumed_from == 8  # 256 rows / 32 = 8 steps: the finished epoch
    with pytest.raises(ValueError, match="checkpoint_dir: .* different run"):
        train_ddp(spec, tr, va, dataclasses.replace(cfg, lr=0.1),
                  ElasticConfig(checkpoint_every=4), world=W1)
    with pytest.raises(ValueError, match="different run"):  # micro_batches changes the math
        train_ddp(spec, tr, va, cfg, ElasticConfig(micro_batches=4), world=W1)
