"""The canonical dataset artifact (`nac-dataset`, version 1; docs/contracts.md §1).

A dataset is a directory holding `data.npz` (x float32 N,C,H,W raw values; y int64 N) and
`meta.json` (classes, shape, source, sha256, split, normalisation, augmentation). Writes are
atomic (temporary sibling directory, then `os.replace`), so a failed step leaves no artifact;
reads validate everything and refuse unknown versions with a message naming the field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nac.atomic import atomic_directory
from nac.data.errors import DataError
from nac.documents import check_header

__all__ = [
    "DATA_FILE",
    "FORMAT",
    "META_FILE",
    "SPLITS",
    "VERSION",
    "Dataset",
    "Normalization",
    "content_sha256",
    "read_dataset",
    "write_dataset",
]

#: Value of meta.json "format".
FORMAT = "nac-dataset"
#: Value of meta.json "version"; readers refuse any other.
VERSION = 1
#: Array file inside the artifact directory.
DATA_FILE = "data.npz"
#: Metadata file inside the artifact directory.
META_FILE = "meta.json"
#: Allowed values of `Dataset.split` (besides None: not split yet).
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean and standard deviation, fitted on the train split only."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean:
            raise DataError(
                f"normalization: mean has {len(self.mean)} values and std {len(self.std)}; "
                "give one mean and one std per channel"
            )
        for name, values in (("mean", self.mean), ("std", self.std)):
            if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
                raise DataError(f"normalization.{name} must be finite numbers, got {values!r}")
        if any(s <= 0 for s in self.std):
            raise DataError(f"normalization.std must be positive per channel, got {self.std!r}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @property
    def channels(self) -> int:
        return len(self.mean)

    def to_json(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_json(cls, doc: Any) -> Normalization:
        if not isinstance(doc, dict) or set(doc) != {"mean", "std"}:
            raise DataError(
                f'meta.json "normalization" must be {{"mean": [...], "std": [...]}} or null, '
                f"got {doc!r}"
            )
        if not isinstance(doc["mean"], list) or not isinstance(doc["std"], list):
            raise DataError('meta.json "normalization" mean and std must be lists')
        return cls(mean=tuple(doc["mean"]), std=tuple(doc["std"]))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """`(x - mean) / std` per channel of an (N, C, H, W) array, as float32."""
        mean = np.asarray(self.mean, dtype=np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(self.std, dtype=np.float32).reshape(1, -1, 1, 1)
        return ((x - mean) / std).astype(np.float32, copy=False)


def content_sha256(x: np.ndarray, y: np.ndarray) -> str:
    """Hex sha256 of x's bytes then y's bytes (C order, little-endian float32 / int64)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(x, dtype="<f4").tobytes())
    digest.update(np.ascontiguousarray(y, dtype="<i8").tobytes())
    return digest.hexdigest()


@dataclass(eq=False)
class Dataset:
    """Arrays plus what a later step needs to use them the same way.

    Compared by identity (arrays have no single truth value); compare `sha256` for content.

    `x` holds raw values (never normalised in storage); `normalized_x()` applies the stored
    per-channel normalisation so training, evaluation and serving share one transform.
    """

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    source: str
    split: str | None = None
    normalization: Normalization | None = None
    augmentation: dict | None = None
    _sha256: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x)
        self.y = np.asarray(self.y)
        self.classes = [str(c) for c in self.classes]
        self.validate()
        self.x = np.ascontiguousarray(self.x, dtype=np.float32)
        self.y = np.ascontiguousarray(self.y, dtype=np.int64)

    def validate(self) -> None:
        """Raise DataError naming the first field that breaks the contract."""
        x, y = self.x, self.y
        if x.ndim != 4:
            raise DataError(f"x must have 4 dimensions (N, C, H, W), got shape {x.shape}")
        if y.ndim != 1:
            raise DataError(f"y must have 1 dimension (N,), got shape {y.shape}")
        if x.shape[0] != y.shape[0]:
            raise DataError(
                f"x has {x.shape[0]} rows but y has {y.shape[0]} labels; they must match"
            )
        if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise DataError(f"x must be real numbers, got dtype {x.dtype}")
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"y must be integer class indices, got dtype {y.dtype}")
        if x.size and not np.isfinite(x).all():
            first = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
            raise DataError(f"x holds NaN or infinite values (first at index {first}); "
                            "clean or drop those rows")
        if not self.classes:
            raise DataError("classes is empty; a dataset needs at least one class name")
        if len(set(self.classes)) != len(self.classes):
            raise DataError(f"classes has duplicate names: {self.classes}")
        if y.size and (y.min() < 0 or y.max() >= len(self.classes)):
            raise DataError(
                f"y holds labels outside 0..{len(self.classes) - 1} "
                f"(min {int(y.min())}, max {int(y.max())}); one class name per label index"
            )
        if self.split is not None and self.split not in SPLITS:
            raise DataError(f"split must be one of {SPLITS} or None, got {self.split!r}")
        if self.normalization is not None and self.normalization.channels != x.shape[1]:
            raise DataError(
                f"normalization has {self.normalization.channels} channels but x has "
                f"{x.shape[1]}; fit it on data of the same shape"
            )
        if self.augmentation is not None and not isinstance(self.augmentation, dict):
            raise DataError(f"augmentation must be a dict or None, got {self.augmentation!r}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one example."""
        c, h, w = self.x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def rows(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def sha256(self) -> str:
        """Content hash of x and y (cached; the arrays are treated as immutable)."""
        if self._sha256 is None:
            self._sha256 = content_sha256(self.x, self.y)
        return self._sha256

    def class_counts(self) -> list[int]:
        """Rows per class, indexed like `classes`."""
        return [int(n) for n in np.bincount(self.y, minlength=self.num_classes)]

    def normalized_x(self) -> np.ndarray:
        """x with the stored per-channel normalisation applied (x itself when there is none)."""
        if self.normalization is None:
            return self.x
        return self.normalization.apply(self.x)

    def with_normalization(self, normalization: Normalization | None) -> Dataset:
        return dataclasses.replace(self, normalization=normalization)

    def with_augmentation(self, augmentation: dict | None) -> Dataset:
        return dataclasses.replace(self, augmentation=augmentation)

    def subset(self, indices: np.ndarray, *, split: str | None = None) -> Dataset:
        """Rows `indices` (same classes, source, normalisation, augmentation)."""
        return dataclasses.replace(self, x=self.x[indices], y=self.y[indices], split=split)

    def meta(self) -> dict[str, Any]:
        """The meta.json document for this dataset."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "rows": self.rows,
            "shape": list(self.shape),
            "classes": list(self.classes),
            "source": self.source,
            "sha256": self.sha256,
            "split": self.split,
            "normalization": None if self.normalization is None else self.normalization.to_json(),
            "augmentation": self.augmentation,
        }


def write_dataset(ds: Dataset, path: str | os.PathLike[str]) -> None:
    """Write `ds` as an artifact directory at `path`, atomically.

    Files go into a temporary sibling directory that is `os.replace`d onto `path`; an existing
    empty directory at `path` (what KFP pre-creates) or an earlier artifact is replaced.
    """
    meta = ds.meta()
    with atomic_directory(path) as tmp:
        with open(tmp / DATA_FILE, "wb") as fh:
            np.savez(fh, x=ds.x, y=ds.y)
            fh.flush()
            os.fsync(fh.fileno())
        with open(tmp / META_FILE, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())


def _load_meta(path: Path) -> dict[str, Any]:
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise DataError(f"{path} is not a dataset artifact: {META_FILE} is missing; "
                        "write it with nac.data.write_dataset or the ingest component")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{meta_path} is not valid JSON ({e}); rewrite the artifact") from e
    check_header(meta, FORMAT, VERSION, where=str(meta_path), error=DataError,
                 hint="upgrade the nac package or re-run ingest")
    for key, kind in (("rows", int), ("shape", list), ("classes", list), ("source", str),
                      ("sha256", str)):
        if not isinstance(meta.get(key), kind):
            raise DataError(f'{meta_path}: "{key}" must be a {kind.__name__}, '
                            f"got {meta.get(key)!r}")
    return meta


def read_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Read and validate an artifact directory written by `write_dataset`."""
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"dataset artifact {root} does not exist or is not a directory")
    meta = _load_meta(root)
    data_path = root / DATA_FILE
    if not data_path.is_file():
        raise DataError(f"{root} is not a complete dataset artifact: {DATA_FILE} is missing")
    try:
        with np.load(data_path, allow_pickle=False) as npz:
            if "x" not in npz.files or "y" not in npz.files:
                raise DataError(f"{data_path} must hold arrays x and y, has {npz.files}")
            x, y = npz["x"], npz["y"]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{data_path} is not a readable .npz file ({e}); rewrite the artifact") \
            from e
    if x.dtype != np.float32 or y.dtype != np.int64:
        raise DataError(f"{data_path}: x must be float32 and y int64, got {x.dtype} / {y.dtype}")
    norm = meta.get("normalization")
    ds = Dataset(
        x=x,
        y=y,
        classes=meta["classes"],
        source=meta["source"],
        split=meta.get("split"),
        normalization=None if norm is None else Normalization.from_json(norm),
        augmentation=meta.get("augmentation"),
    )
    if meta["rows"] != ds.rows:
        raise DataError(f'{root / META_FILE}: "rows" is {meta["rows"]} but {DATA_FILE} '
                        f"holds {ds.rows}; the artifact is inconsistent, re-run the step")
    if list(meta["shape"]) != list(ds.shape):
        raise DataError(f'{root / META_FILE}: "shape" is {meta["shape"]} but x has shape '
                        f"{list(ds.shape)}; the artifact is inconsistent, re-run the step")
    if meta["sha256"] != ds.sha256:
        raise DataError(f'{root / META_FILE}: "sha256" does not match the content of '
                        f"{DATA_FILE}; the artifact is corrupt or was edited, re-run the step")
    return ds
