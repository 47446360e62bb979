"""The nac-dataset artifact: round trip, atomic writes, validation on read (contracts §1)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from nac.data import DataError, Dataset, Normalization, read_dataset, write_dataset
from nac.data.format import DATA_FILE, META_FILE


def _small(split: str | None = None) -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset(x=rng.normal(size=(6, 2, 3, 3)) * 5 + 1, y=np.array([0, 1, 2, 0, 1, 2]),
                   classes=["a", "b", "c"], source="test:small", split=split)


def test_round_trip_keeps_arrays_and_meta(tmp_path: Path) -> None:
    ds = _small("train").with_normalization(Normalization((1.0, 2.0), (3.0, 4.0))) \
        .with_augmentation({"random_shift": 1, "hflip": False})
    write_dataset(ds, tmp_path / "ds")
    back = read_dataset(tmp_path / "ds")
    assert back.x.dtype == np.float32 and back.y.dtype == np.int64
    np.testing.assert_array_equal(back.x, ds.x)
    np.testing.assert_array_equal(back.y, ds.y)
    assert (back.classes, back.source, back.split) == (["a", "b", "c"], "test:small", "train")
    assert back.normalization == Normalization((1.0, 2.0), (3.0, 4.0))
    assert back.augmentation == {"random_shift": 1, "hflip": False}
    assert back.shape == (2, 3, 3) and back.rows == 6 and back.num_classes == 3


def test_meta_json_matches_the_contract(tmp_path: Path) -> None:
    ds = _small()
    write_dataset(ds, tmp_path / "ds")
    meta = json.loads((tmp_path / "ds" / META_FILE).read_text())
    expected_sha = hashlib.sha256(ds.x.astype("<f4").tobytes() + ds.y.astype("<i8").tobytes())
    assert meta == {
        "format": "nac-dataset", "version": 1, "rows": 6, "shape": [2, 3, 3],
        "classes": ["a", "b", "c"], "source": "test:small",
        "sha256": expected_sha.hexdigest(), "split": None, "normalization": None,
        "augmentation": None,
    }
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == [DATA_FILE, META_FILE]


def test_normalized_x_applies_per_channel_statistics() -> None:
    ds = _small()
    assert ds.normalized_x() is ds.x
    norm = Normalization(mean=(1.0, -2.0), std=(2.0, 4.0))
    out = ds.with_normalization(norm).normalized_x()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0], (ds.x[:, 0] - 1.0) / 2.0, rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], (ds.x[:, 1] + 2.0) / 4.0, rtol=1e-6)


def test_write_replaces_existing_artifact_and_leaves_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "ds"
    target.mkdir()  # KFP may pre-create the output directory
    write_dataset(_small(), target)
    write_dataset(_small("test"), target)
    assert read_dataset(target).split == "test"
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_dump(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(_small(), tmp_path / "ds")
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_previous_artifact(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    write_dataset(_small("val"), tmp_path / "ds")
    monkeypatch.setattr(json, "dump", lambda *a, **k: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        write_dataset(_small("test"), tmp_path / "ds")
    assert read_dataset(tmp_path / "ds").split == "val"
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda m: m.update(version=2), '"version" 2 of \'nac-dataset\' is not supported; this reader '
     'knows version 1'),
    (lambda m: m.update(format="other"), '"format" is \'other\', expected \'nac-dataset\''),
    (lambda m: m.update(rows=7), '"rows" is 7 but data.npz holds 6'),
    (lambda m: m.update(shape=[1, 3, 3]), '"shape" is [1, 3, 3] but x has shape [2, 3, 3]'),
    (lambda m: m.update(sha256="0" * 64), '"sha256" does not match the content of data.npz'),
    (lambda m: m.update(split="holdout"), "split must be one of ('train', 'val', 'test')"),
    (lambda m: m.update(normalization={"mean": [0.0], "std": [1.0]}),
     "normalization has 1 channels but x has 2"),
    (lambda m: m.update(classes=["a", "b"]), "y holds labels outside 0..1"),
])
def test_read_refuses_inconsistent_meta(tmp_path: Path, edit, message: str) -> None:
    write_dataset(_small(), tmp_path / "ds")
    meta_path = tmp_path / "ds" / META_FILE
    meta = json.loads(meta_path.read_text())
    edit(meta)
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DataError) as info:
        read_dataset(tmp_path / "ds")
    assert message in str(info.value)


def test_read_refuses_missing_parts(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist or is not a directory"):
        read_dataset(tmp_path / "nothing")
    write_dataset(_small(), tmp_path / "ds")
    (tmp_path / "ds" / DATA_FILE).unlink()
    with pytest.raises(DataError, match="data.npz is missing"):
        read_dataset(tmp_path / "ds")
    (tmp_path / "ds" / META_FILE).unlink()
    with pytest.raises(DataError, match="meta.json is missing"):
        read_dataset(tmp_path / "ds")


def test_dataset_rejects_bad_arrays() -> None:
    with pytest.raises(DataError, match=r"x has 3 rows but y has 2 labels"):
        Dataset(x=np.zeros((3, 1, 2, 2)), y=np.zeros(2, dtype=int), classes=["a"], source="t")
    with pytest.raises(DataError, match=r"x must have 4 dimensions"):
        Dataset(x=np.zeros((3, 4)), y=np.zeros(3, dtype=int), classes=["a"], source="t")
    with pytest.raises(DataError, match=r"NaN or infinite values \(first at index \(1, 0, 0, 1\)"):
        x = np.zeros((3, 1, 2, 2))
        x[1, 0, 0, 1] = np.inf
        Dataset(x=x, y=np.zeros(3, dtype=int), classes=["a"], source="t")
    with pytest.raises(DataError, match="std must be positive"):
        Normalization(mean=(0.0,), std=(0.0,))
