"""The comparison benchmarks' shared summary (benchmarks/nac_compare.py): medians, cost ratios,
the Pareto page and the RESULT keys the issue names, on rows shaped like run_seed's."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import nac_compare  # noqa: E402

REQUIRED = {"nac_test_error", "initial_test_error", "random_test_error_median",
            "random_equal_params_test_error_median", "handdesigned_test_error", "nac_params",
            "random_params_median", "search_core_seconds", "final_train_core_seconds",
            "inherit_search_core_seconds", "inherit_test_error", "wall_seconds"}


def _rows():
    rows = []
    for seed in range(3):
        for i, arm in enumerate(nac_compare.ARMS):
            rows.append({"kind": "final", "arm": arm, "seed": seed, "error": 0.3 + 0.01 * i
                         + 0.001 * seed, "parameters": 1000 * (i + 1), "macs": 10 * (i + 1),
                         "latency_ms": 0.5 + i, "core_seconds": 10.0 + seed,
                         "sample_epochs": 400, "describe": "d", "cells": [2, 2, 1]})
        for arm, core in (("nac", 12.0), ("nac_inherit", 6.0)):
            rows.append({"kind": "search", "arm": arm, "seed": seed, "core_seconds": core + seed,
                         "sample_epochs": 600, "trace": [
                             {"iteration": 0, "parameters": 900, "val_error": 0.5,
                              "epochs": 2, "describe": "d", "inherited_fraction": None}]})
    return rows


def test_summary_has_the_issue_keys_and_medians(tmp_path, capsys):
    result = nac_compare.summarise(_rows(), tmp_path, "t", "n", {"x": 1}, time.perf_counter())
    assert REQUIRED <= set(result)
    assert result["nac_test_error"] == 0.301 and result["handdesigned_test_error"] == 0.351
    assert result["search_core_seconds"] == 13.0 and result["final_train_core_seconds"] == 11.0
    assert result["inherit_search_over_final"] == 7.0 / 11.0
    json.dumps(result)  # the RESULT line must serialise
    page = (tmp_path / "pareto.html").read_text()
    assert page.count("<svg") == 2 and "search nac (val error, truncated)" in page
    assert len(json.loads((tmp_path / "runs.json").read_text())) == 24
    assert "handdesigned" in capsys.readouterr().out


def test_stratified_and_downscale():
    y = np.repeat(np.arange(3), 10)
    idx = nac_compare.stratified(y, 4, 0)
    assert np.bincount(y[idx]).tolist() == [4, 4, 4]
    assert np.array_equal(np.sort(idx), np.sort(nac_compare.stratified(y, 4, 0)))
    from nac.data import Dataset

    ds = Dataset(x=np.arange(2 * 16, dtype=np.float32).reshape(2, 1, 4, 4), y=np.array([0, 1]),
                 classes=["a", "b"], source="x")
    small = nac_compare.downscale(ds, 2)
    assert small.x.shape == (2, 1, 2, 2) and small.x[0, 0, 0, 0] == (0 + 1 + 4 + 5) / 4
