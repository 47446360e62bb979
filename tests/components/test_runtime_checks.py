"""Fail-fast checks of the steps: launcher-safe metadata and metrics, the image's package
version, a writable checkpoint directory, and the preflight step's decisions."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from kfp import dsl, local

from components._impl.artifacts import log_metrics, set_metadata
from components._impl.preflight import run_preflight
from components._impl.runtime import (
    PIPELINE_IMAGE_ENV,
    PIPELINE_VERSION_ENV,
    CheckpointDirError,
    ImageVersionError,
    check_image_version,
    ensure_writable_dir,
)
from nac import __version__
from nac.data import ingest
from nac.data.steps import run_ingest
from nac.metadata import clean


def test_clean_drops_null_and_non_finite_at_any_depth_and_names_them():
    doc, dropped = clean({"split": None, "rows": np.int64(7), "shape": (1, 8, 8),
                          "stats": {"mean": [0.5, float("nan"), None], "std": np.float32(2)},
                          "loss": float("inf"), "ok": True})
    assert doc == {"rows": 7, "shape": [1, 8, 8], "stats": {"mean": [0.5], "std": 2.0},
                   "ok": True}
    assert dropped == ["split=None", "stats.mean[1]=nan", "stats.mean[2]=None", "loss=inf"]
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc  # strict JSON now
    with pytest.raises(TypeError, match=r"metadata value path is a PosixPath .*str\(path\)"):
        clean({"path": Path("/x")})


def test_ingest_metadata_has_no_null_split(tmp_path):
    """The defect: an un-split dataset wrote `"split": null`, which the 2.17 launcher rejects."""
    out = dsl.Dataset(uri=str(tmp_path / "dataset"))
    run_ingest(out, source="builtin:digits")
    assert ingest("builtin:digits").split is None  # the value that used to become null
    assert "split" not in out.metadata and out.metadata["rows"] == 1797
    assert all(v is not None for v in out.metadata.values())


def test_a_nan_metric_is_not_logged_and_is_named(tmp_path, capsys):
    metrics = dsl.Metrics(uri=str(tmp_path / "metrics"))
    log_metrics(metrics, {"val_accuracy": 0.9, "val_loss": float("nan"), "seconds": None})
    assert metrics.metadata == {"val_accuracy": 0.9}
    assert json.loads((tmp_path / "metrics").read_text()) == {"val_accuracy": 0.9}
    assert "metrics: not logged val_loss=nan, seconds=None" in capsys.readouterr().out
    model = dsl.Model(uri=str(tmp_path / "model"))
    set_metadata(model, {"format": "nac-model", "val_accuracy": math.inf})
    assert model.metadata == {"format": "nac-model"}


def test_version_check_names_both_versions_and_the_image():
    check_image_version({})  # a step outside our pipeline: nothing to compare
    check_image_version({PIPELINE_VERSION_ENV: __version__})
    with pytest.raises(ImageVersionError) as info:
        check_image_version({PIPELINE_VERSION_ENV: "9.9.9",
                             PIPELINE_IMAGE_ENV: "registry.example/trainer:0.0.1"})
    msg = str(info.value)
    assert "compiled from kubeflow-nac-automl 9.9.9" in msg
    assert f"registry.example/trainer:0.0.1 contains {__version__}" in msg
    assert "make images REGISTRY=" in msg and "--image" in msg


@dsl.pipeline(name="version-skew")
def _skewed_ingest():
    from components.ingest import ingest as ingest_component

    task = ingest_component(source="builtin:digits")
    task.set_env_variable(PIPELINE_VERSION_ENV, "0.0.0-other")


def test_a_step_in_an_image_of_another_version_fails_before_reading_input(tmp_path, capfd):
    """The real ingest component under kfp.local, told it was compiled from another version."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "r"),
               workspace_root=str(workspace), raise_on_error=True)
    with pytest.raises(RuntimeError, match="FAILURE"):
        _skewed_ingest()
    log = capfd.readouterr()
    assert "ImageVersionError: version mismatch: the pipeline was compiled from " \
           f"kubeflow-nac-automl 0.0.0-other, but this step's image contains {__version__}" \
           in log.out + log.err
    assert not list((tmp_path / "r").glob("*/ingest/dataset"))  # nothing was written


@contextlib.contextmanager
def _as_image_user():
    """Run as the trainer image's uid 10001 (gid 0) when the tests run as root, which would
    otherwise bypass permission checks; a non-root test user is already unprivileged."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(10001)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.fixture()
def volume():
    """A fresh block-storage volume root: root-owned 0755 (uid 10001 may enter, not write)."""
    path = Path(tempfile.mkdtemp(prefix="nac-volume-"))  # /tmp: searchable by every user
    path.chmod(0o755 if os.geteuid() == 0 else 0o555)
    yield path
    path.chmod(0o755)
    shutil.rmtree(path)


def test_a_root_owned_checkpoint_volume_fails_with_the_fix(volume, tmp_path):
    with _as_image_user(), pytest.raises(CheckpointDirError) as info:
        ensure_writable_dir(volume / "run-1" / "train")
    msg = str(info.value)
    assert f"checkpoint directory {volume}/run-1/train is not writable by uid" in msg
    assert f"{volume} is owned by " in msg and ("mode 755" in msg or "mode 555" in msg)
    assert "kubeflow/pipelines#3866" in msg and "checkpoint_root=''" in msg
    assert not (volume / "run-1").exists()
    assert ensure_writable_dir(tmp_path / "ok" / "train").is_dir()  # writable: created
    assert list((tmp_path / "ok" / "train").iterdir()) == []  # and the probe removed


def test_preflight_checks_the_directory_and_plans_the_search_and_tune_requests(tmp_path):
    sizes = {"training_cpu": "4", "training_memory": "16Gi", "waiting_cpu": "1",
             "waiting_memory": "4Gi"}
    assert run_preflight(checkpoint_dir=str(tmp_path), run_id="job/1", backend="local",
                         accelerator="nvidia.com/gpu", **sizes) == (
        "nvidia.com/gpu", "4", "16Gi")
    assert (tmp_path / "job_1" / "train").is_dir()
    assert run_preflight(checkpoint_dir="", run_id="", backend="katib",
                         accelerator="nvidia.com/gpu", **sizes) == (
        "", "1", "4Gi")  # steps that only wait for Katib hold no GPU and little memory
    with pytest.raises(ValueError, match="backend 'kubeflow' is not supported"):
        run_preflight(checkpoint_dir="", run_id="", backend="kubeflow", accelerator="")
