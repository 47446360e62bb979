"""NPZ: arrays `x` (N,F | N,H,W | N,C,H,W) and `y` (N,), optional `classes` (names by index).

Loaded with allow_pickle=False: an NPZ from an untrusted URL cannot run code.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from nac.data.errors import DataError
from nac.data.format import Dataset
from nac.data.labels import encode_labels
from nac.data.readers._text import describe_start, looks_like_html
from nac.data.shapes import format_shape, shape_rows

__all__ = ["read_npz"]


def _load(data: bytes, where: str) -> dict[str, np.ndarray]:
    if looks_like_html(data):
        raise DataError(f"{where} is an HTML page, not an NPZ file; point the source at the "
                        "raw .npz file (not a web page about it)")
    if not data.startswith(b"PK"):
        raise DataError(
            f"{where} is not an NPZ file (it starts with {describe_start(data)}, not a zip "
            "header); save it with numpy.savez(path, x=..., y=...) or declare the right format "
            "(e.g. format=csv)"
        )
    arrays: dict[str, np.ndarray] = {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            for key in npz.files:
                if key in ("x", "y", "classes"):
                    arrays[key] = npz[key]
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise DataError(f"{where} stores an array as Python objects (pickled), which is not "
                            "loaded for safety; save numbers as numeric arrays and labels or "
                            "class names as strings (np.array(names, dtype=str))") from None
        raise DataError(f"{where} is not a readable NPZ file ({e}); re-save it with "
                        "numpy.savez") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{where} is not a readable NPZ file ({e}); re-save it with "
                        "numpy.savez") from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise DataError(f"{where} has no array {' or '.join(repr(k) for k in missing)}; "
                        "save features as x and labels as y: numpy.savez(path, x=..., y=...)")
    return arrays


def _features(x: np.ndarray, where: str,
              image_shape: tuple[int, int, int] | None) -> np.ndarray:
    if x.dtype == bool:
        x = x.astype(np.float32)
    if not np.issubdtype(x.dtype, np.integer) and not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{where}: x has dtype {x.dtype}; it must hold numbers")
    if x.ndim == 2:
        return shape_rows(x, image_shape, f"{where} (x)")
    if x.ndim == 3:
        x = x[:, None, :, :]
    elif x.ndim != 4:
        raise DataError(f"{where}: x has shape {x.shape}; use (N, features), (N, H, W) or "
                        "(N, C, H, W)")
    if image_shape is not None and tuple(x.shape[1:]) != image_shape:
        if int(np.prod(x.shape[1:])) != int(np.prod(image_shape)):
            raise DataError(
                f"{where}: x rows have shape {format_shape(x.shape[1:])} "
                f"({int(np.prod(x.shape[1:]))} values) but image_shape "
                f"{format_shape(image_shape)} needs {int(np.prod(image_shape))}; fix "
                "image_shape or leave it empty to keep the stored shape")
        x = x.reshape(x.shape[0], *image_shape)
    return x


def _check_finite(x: np.ndarray, where: str) -> None:
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))
        first = tuple(int(i) for i in bad[0])
        rows = np.unique(bad[:, 0])
        raise DataError(
            f"{where}: x holds {len(bad)} NaN or infinite value(s) in {len(rows)} row(s), "
            f"first at row {first[0] + 1} (x[{', '.join(map(str, first))}] = {x[first]}); "
            "replace them with finite numbers or drop those rows"
        )


def read_npz(data: bytes, *, where: str, source: str,
             image_shape: tuple[int, int, int] | None = None) -> Dataset:
    """Parse NPZ bytes into a Dataset."""
    if not data:
        raise DataError(f"{where} is empty; give an NPZ file written by numpy.savez(x=..., "
                        "y=...)")
    arrays = _load(data, where)
    x, y = arrays["x"], arrays["y"]
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if x.ndim == 0 or y.ndim != 1:
        raise DataError(f"{where}: y has shape {y.shape}; it must be one label per row (N,)")
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{where}: x has {x.shape[0]} rows but y has {y.shape[0]} labels; "
                        "they must have the same length (one label per row of x)")
    if x.shape[0] == 0:
        raise DataError(f"{where} holds no rows (x and y are empty); add data")
    _check_finite(x, where)  # before reshaping, so the index is the one the user stored
    x = _features(x, where, image_shape)
    if np.abs(x).max(initial=0) > np.finfo(np.float32).max:
        raise DataError(f"{where}: x holds values too large for float32 (above 3.4e38); "
                        "rescale the features")
    if "classes" in arrays:
        y, classes = _with_classes(y, arrays["classes"], where)
    else:
        y, classes = encode_labels(y.tolist(), what=where)
    return Dataset(x=x.astype(np.float32), y=y, classes=classes, source=source)


def _with_classes(y: np.ndarray, classes_arr: np.ndarray,
                  where: str) -> tuple[np.ndarray, list[str]]:
    classes = [str(c) for c in np.atleast_1d(classes_arr).tolist()]
    if len(set(classes)) != len(classes) or not classes:
        raise DataError(f"{where}: classes must be distinct names, got {classes[:10]}")
    if np.issubdtype(y.dtype, np.integer):
        if y.min() < 0 or y.max() >= len(classes):
            raise DataError(f"{where}: y holds labels {int(y.min())}..{int(y.max())} but "
                            f"classes names only {len(classes)} (0..{len(classes) - 1}); "
                            "give one class name per label index")
        return y.astype(np.int64), classes
    index = {c: i for i, c in enumerate(classes)}
    names = [str(v) for v in y.tolist()]
    unknown = sorted({n for n in names if n not in index})
    if unknown:
        raise DataError(f"{where}: y holds labels not in classes: {unknown[:10]}; "
                        "list every label in classes")
    return np.fromiter((index[n] for n in names), dtype=np.int64, count=len(names)), classes
