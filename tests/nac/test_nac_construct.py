"""Construction driver, settings presets and random baselines."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from nac.baselines import random_network
from nac.construct import NACSettings, construct
from nac.data import ingest, split_dataset
from nac.restructure import restructure
from nac.spec import RANDOM_OPS, initial_envelopenet
from nac.training import TrainConfig


@pytest.fixture(scope="module")
def splits():
    tr, va, _ = split_dataset(ingest("builtin:digits"), val_fraction=0.1, test_fraction=0.2,
                              seed=0)
    return tr.subset(np.arange(320), split="train"), va


def test_construct_trace(splits):
    tr, va = splits
    settings = NACSettings(
        iterations=2, stages=2, layers_per_stage=(2, 1), max_layers_per_stage=(5, 5),
        construction=(True, False), parameter_limits=(False, False), stem_channels=12,
        stem_kernel=3, lrn=False,
        training=TrainConfig(epochs=1, batch_size=32, lr=0.05, threads=1, stats=False))
    seen = []
    result = construct(tr, va, settings, progress=seen.append)
    assert seen == result.trace and [r.iteration for r in result.trace] == [0, 1]
    assert result.trace[0].spec == result.initial_spec == settings.initial_spec((1, 8, 8), 10)
    assert [r.branch_counts[0] for r in result.trace] == [12, 14]
    assert result.spec.branch_counts() == [16, 6] and result.spec.cells_per_stage() == [4, 1]
    for r in result.trace:
        # statistics are on even though the config said stats=False
        assert set(r.branch_stats) == set(r.spec.branch_keys())
        assert set(r.gate_stats) == set(r.spec.gate_keys())
        assert r.parameters > 0 and r.seconds > 0 and 0 <= r.val_accuracy <= 1
        assert len(r.pruned[0]) == 4 and r.added[0]
    # each step is exactly restructure() on that run's statistics
    again = restructure(result.trace[1].spec, result.trace[1].branch_stats,
                        result.trace[1].gate_stats, settings.restructure_settings())
    assert again == result.spec
    doc = json.loads(json.dumps(result.to_json()))
    assert doc["spec"] == result.spec.to_json() and len(doc["trace"]) == 2


def test_settings_defaults_and_preset():
    ref = NACSettings()
    assert (ref.iterations, ref.layers_per_stage, ref.max_layers_per_stage, ref.construction,
            ref.max_filter_prune, ref.stem_channels, ref.stem_kernel, ref.lrn) == \
        (5, (2, 2, 2), (7, 6, 2), (True, True, False), 6, 64, 1, True)
    assert (ref.training.batch_size, ref.training.lr, ref.training.epochs) == (50, 0.04, 10)
    small = NACSettings.small_images()
    assert small.stem_kernel == 3 and not small.lrn and small.iterations == 3
    assert NACSettings.small_images(iterations=2).iterations == 2
    json.dumps(small.to_json())
    with pytest.raises(ValueError, match="max_layers_per_stage: has 2 entries but stages is 3"):
        dataclasses.replace(ref, max_layers_per_stage=(7, 6))
    with pytest.raises(ValueError, match="iterations: must be an integer >= 1"):
        NACSettings(iterations=0)


def test_random_network_matches_depth_and_branch_counts():
    spec = initial_envelopenet((1, 8, 8), 10)
    stats = {k: float(i % 7) for i, k in enumerate(spec.branch_keys())}
    nac = restructure(spec, stats, {k: 0.5 for k in spec.gate_keys()})
    nets = [random_network(nac, seed) for seed in range(4)]
    for net in nets:
        assert net.cells_per_stage() == nac.cells_per_stage()
        assert net.branch_counts() == nac.branch_counts()
        assert all(op in RANDOM_OPS for c in net.cells() for op in c.ops)
        assert [c.inputs for c in net.cells()] == [c.inputs for c in nac.cells()]
    assert random_network(nac, 0) == nets[0]
    assert len({n.dumps() for n in nets}) == 4
    same = random_network(nac, 5, same_cell_counts=True)
    assert same.branches_per_cell() == nac.branches_per_cell()
