"""`builtin:animal-mnist`: 10,000 28x28 animal silhouettes (Animal-MNIST, MIT licence).

The data ships inside the `animal-mnist==0.4` wheel on PyPI. The package itself is never
installed (it pulls TensorFlow): `make setup` (or the first use) runs `pip download --no-deps`
into a cache directory, and every read checks the wheel's sha256 against the pinned value.

The arrays in the wheel are pickled numpy arrays (gzip). A pickle can run code, so they are not
loaded with `pickle.load`: `_ArrayUnpickler` resolves exactly three globals, each to a stand-in
written here (`numpy.core.multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype`), and refuses
any other global; numeric dtypes only. No numpy or third-party reconstruction code runs, so the
worst a tampered file can do is fail to parse (and it would fail the sha256 check first).

The 284 exact duplicate images (all with the same label as their first copy) are dropped,
keeping the first occurrence, before anything splits the data, so no test image is also a
training image: 9,716 rows, shape 1x28x28, values 0..255. The package documents its ten
classes (Bear, Bird, Cat, Cow, Dog, Elephant, Giraffe, Horse, Sheep, Zebra) but not which label
index is which, so classes are named "0".."9".

    python -m nac.data.readers.animal_mnist     # fetch into the cache (what make setup runs)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nac.data.errors import DataError
from nac.data.format import Dataset

__all__ = ["WHEEL_NAME", "WHEEL_SHA256", "cache_dir", "fetch_wheel", "load_animal_mnist"]

WHEEL_NAME = "animal_mnist-0.4-py3-none-any.whl"
#: sha256 of WHEEL_NAME as published on PyPI (checked on every read).
WHEEL_SHA256 = "aeebf3d9de4552d6fd2d5701424e1a5b9020f8e5115d68df9db252f2f53ce2ce"
_MEMBERS = ("animal_mnist/data/Animal_MNIST/animal_data_version_3.gz",
            "animal_mnist/data/Animal_MNIST/animal_label_version_3.gz")
_NUMERIC = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8"}
#: Rows after dropping exact duplicates (10,000 - 284).
ROWS = 9716


def cache_dir() -> Path:
    """`$NAC_DATA_CACHE`, else `$XDG_CACHE_HOME/nac-data`, else `~/.cache/nac-data`."""
    if os.environ.get("NAC_DATA_CACHE"):
        return Path(os.environ["NAC_DATA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nac-data"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_wheel(directory: Path | None = None) -> Path:
    """The verified wheel in the cache, downloaded with `pip download --no-deps` if missing."""
    directory = directory or cache_dir()
    path = directory / WHEEL_NAME
    if not path.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", str(directory), "animal-mnist==0.4"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise DataError(f"builtin:animal-mnist: could not run pip to download the data "
                            f"({e}); run `make setup` with network access to PyPI, or put "
                            f"{WHEEL_NAME} into {directory}") from None
        if done.returncode != 0 or not path.is_file():
            raise DataError(
                f"builtin:animal-mnist: `pip download animal-mnist==0.4` failed "
                f"({done.stderr.strip()[-300:] or 'no wheel written'}); run `make setup` with "
                f"network access to PyPI, or put {WHEEL_NAME} into {directory} "
                "(set NAC_DATA_CACHE to use another folder)")
    actual = _sha256(path)
    if actual != WHEEL_SHA256:
        raise DataError(f"{path}: sha256 {actual} does not match the pinned {WHEEL_SHA256}; "
                        "delete the file and fetch it again (python -m "
                        "nac.data.readers.animal_mnist)")
    return path


class _NDArrayClass:
    """Stands for `numpy.ndarray` as the first argument of `_reconstruct`."""


class _DType:
    """`numpy.dtype(code, align, copy)` then BUILD state (version, byte order, ...)."""

    def __init__(self, code: Any, _align: Any = False, _copy: Any = True) -> None:
        if code not in _NUMERIC:
            raise DataError(f"builtin:animal-mnist: refusing dtype {code!r}; only numeric arrays "
                            "are read from the pickle")
        self.code, self.order = code, "|"

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in ("|", "<", ">",
                                                                              "="):
            raise DataError("builtin:animal-mnist: malformed dtype state in the pickle")
        self.order = state[1]

    def numpy(self) -> np.dtype:
        return np.dtype(("<" if self.order in ("|", "=") else self.order) + self.code)


class _Array:
    """Result of `_reconstruct(ndarray, (0,), b'b')`; BUILD hands it shape, dtype and bytes."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) != 5:
            raise DataError("builtin:animal-mnist: malformed array state in the pickle")
        _version, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _DType) or not isinstance(raw, bytes | bytearray) \
                or not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0
                                                           for n in shape) or fortran:
            raise DataError("builtin:animal-mnist: unexpected array layout in the pickle")
        dt = dtype.numpy()
        if int(np.prod(shape)) * dt.itemsize != len(raw):
            raise DataError("builtin:animal-mnist: array bytes do not match its shape")
        self.array = np.frombuffer(bytes(raw), dtype=dt).reshape(shape).copy()


def _reconstruct(cls: Any, _shape: Any, _typecode: Any) -> _Array:
    if cls is not _NDArrayClass:
        raise DataError("builtin:animal-mnist: unexpected array class in the pickle")
    return _Array()


class _ArrayUnpickler(pickle.Unpickler):
    """Resolves only the three globals a plain numeric ndarray pickle needs, to stand-ins."""

    _GLOBALS = {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
                ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
                ("numpy", "ndarray"): _NDArrayClass, ("numpy", "dtype"): _DType}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._GLOBALS[(module, name)]
        except KeyError:
            raise DataError(f"builtin:animal-mnist: refusing global {module}.{name} in the "
                            "pickled data (only plain numeric arrays are read)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataError("builtin:animal-mnist: refusing a persistent id in the pickled data")


def _read_array(blob: bytes) -> np.ndarray:
    obj = _ArrayUnpickler(io.BytesIO(gzip.decompress(blob))).load()
    if not isinstance(obj, _Array) or obj.array is None:
        raise DataError("builtin:animal-mnist: the data file does not hold one numeric array")
    return obj.array


def load_animal_mnist(wheel: Path | None = None) -> Dataset:
    """The de-duplicated Animal-MNIST data set (see the module docstring)."""
    path = wheel or fetch_wheel()
    with zipfile.ZipFile(path) as zf:
        x, y = (_read_array(zf.read(name)) for name in _MEMBERS)
    if x.shape != (10000, 28, 28) or y.shape != (10000,) or x.dtype != np.uint8:
        raise DataError(f"builtin:animal-mnist: unexpected arrays {x.shape} {x.dtype} / "
                        f"{y.shape}; the pinned wheel holds (10000, 28, 28) uint8 and (10000,)")
    _, first = np.unique(x.reshape(len(x), -1), axis=0, return_index=True)
    keep = np.sort(first)
    return Dataset(x=x[keep, None].astype(np.float32), y=y[keep].astype(np.int64),
                   classes=[str(i) for i in range(10)], source="builtin:animal-mnist")


if __name__ == "__main__":
    print(fetch_wheel())
