"""The `ingest` and `preprocess` components: python_func unit tier and real kfp.local runs."""

# No `from __future__ import annotations`: KFP reads the pipeline's real annotations.

from pathlib import Path

import numpy as np
import pytest
from kfp import dsl, local

from components.ingest import ingest
from components.preprocess import preprocess
from nac.data import DataError, fit_normalization, read_dataset

# The components' pinned base image is irrelevant to SubprocessRunner(use_venv=False).
pytestmark = pytest.mark.filterwarnings("ignore:You may be attemping:RuntimeWarning")


@dsl.pipeline(name="ingest-preprocess")
def ingest_preprocess(source: str = "builtin:digits", seed: int = 7):
    raw = ingest(source=source)
    preprocess(dataset=raw.outputs["dataset"], val_fraction=0.1, test_fraction=0.2, seed=seed,
               augment_shift=1)


def _init(tmp_path: Path) -> Path:
    root = tmp_path / "pipeline_root"
    # kfp.local rmtree's workspace_root after a pipeline run: give it a throw-away directory.
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
               workspace_root=str(tmp_path / "throwaway-workspace"), raise_on_error=True)
    return root


def test_python_func_sets_artifact_metadata(tmp_path: Path) -> None:
    dataset = dsl.Dataset(uri=str(tmp_path / "dataset"))
    report = dsl.Markdown(uri=str(tmp_path / "report.md"))
    ingest.python_func(dataset=dataset, report=report, source="builtin:digits")
    assert dataset.metadata["rows"] == 1797 and dataset.metadata["shape"] == [1, 8, 8]
    assert dataset.metadata["sha256"] == read_dataset(dataset.path).sha256
    assert "# Ingested dataset" in Path(report.path).read_text()

    splits = {s: dsl.Dataset(uri=str(tmp_path / s)) for s in ("train", "val", "test")}
    pre_report = dsl.Markdown(uri=str(tmp_path / "pre.md"))
    preprocess.python_func(dataset=dataset, report=pre_report, val_fraction=0.1,
                           test_fraction=0.2, seed=0, **splits)
    assert {s: a.metadata["split"] for s, a in splits.items()} == \
        {"train": "train", "val": "val", "test": "test"}
    assert sum(a.metadata["rows"] for a in splits.values()) == 1797


def test_python_func_bad_input_raises_and_leaves_no_artifact(tmp_path: Path) -> None:
    dataset = dsl.Dataset(uri=str(tmp_path / "out" / "dataset"))
    report = dsl.Markdown(uri=str(tmp_path / "out" / "report.md"))
    missing = tmp_path / "nope.npz"
    with pytest.raises(DataError, match=r"nope\.npz: no such file or directory"):
        ingest.python_func(dataset=dataset, report=report, source=str(missing))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.slow
def test_pipeline_ingest_then_preprocess_in_kfp_local(tmp_path: Path) -> None:
    root = _init(tmp_path)
    ingest_preprocess(seed=7)
    runs = list(root.glob("ingest-preprocess-*"))
    assert len(runs) == 1
    raw = read_dataset(runs[0] / "ingest" / "dataset")
    splits = {s: read_dataset(runs[0] / "preprocess" / s) for s in ("train", "val", "test")}
    assert raw.rows == 1797 and sum(ds.rows for ds in splits.values()) == raw.rows
    for name, fraction in (("val", 0.1), ("test", 0.2)):
        counts = np.array(splits[name].class_counts())
        assert np.all(np.abs(counts - np.array(raw.class_counts()) * fraction) <= 0.5 + 1e-9)
    train = splits["train"]
    assert train.normalization == fit_normalization(train) != fit_normalization(raw)
    assert splits["val"].normalization == splits["test"].normalization == train.normalization
    assert train.augmentation == {"random_shift": 1, "hflip": False}
    assert splits["val"].augmentation is None
    reports = [(runs[0] / "ingest" / "report").read_text(),
               (runs[0] / "preprocess" / "report").read_text()]
    assert "| rows | 1797 |" in reports[0] and f"| train | {train.rows} |" in reports[1]
    assert not (tmp_path / "throwaway-workspace").exists()


@pytest.mark.slow
def test_kfp_local_bad_source_fails_the_task_without_artifact(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    root = _init(tmp_path)
    source = str(tmp_path / "missing.csv")
    with pytest.raises(RuntimeError, match="ingest"):
        ingest(source=source)
    logs = capfd.readouterr()
    assert (f"nac.data.errors.DataError: {source}: no such file or directory ({source}); "
            "check the path") in logs.out + logs.err
    assert list(root.glob("ingest-*/ingest/*")) == []
