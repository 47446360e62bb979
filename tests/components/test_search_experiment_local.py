"""The katib-backend NAS Experiment body, executed for real by the local backend.

Same document `nac_search(backend="katib")` sends to a cluster; here `katib.local` runs it with
our `nac` suggestion service and trial-CLI subprocesses, and the constructed spec is read back
from the highest iteration's trial.
"""

from __future__ import annotations

import pytest

from components._impl.search import nac_settings, nas_body, search_with_experiment
from katib.client import ExperimentClient, LocalBackendConfig
from katib.validation import validate_experiment
from nac.data import ingest

TINY = {"iterations": 1, "layers_per_stage": [1, 1, 1], "max_layers_per_stage": [2, 2, 1],
        "stem_channels": 8, "training": {"epochs": 1}}


@pytest.mark.slow
def test_nas_experiment_runs_and_yields_the_constructed_spec(tmp_path):
    ds = ingest("builtin:digits")
    body = nas_body(ds, nac_settings(TINY, seed=0), 0, name="nac-tiny", namespace="",
                    trial_image="", data="builtin:digits")
    validate_experiment(body)
    client = ExperimentClient(LocalBackendConfig(workdir=tmp_path, progress=False))
    spec, rows = search_with_experiment(client, body, timeout_seconds=600)
    assert [r["iteration"] for r in rows] == [0, 1]
    assert rows[0]["stats"], "iteration 0 reported nac-stats"
    assert all(r["val_accuracy"] is not None for r in rows)
    # One restructuring: stage 0 (constructing) gained a cell, the last stage did not.
    assert spec.cells_per_stage() == [2, 2, 1]
    assert spec.input_shape == (1, 8, 8) and spec.num_classes == 10
