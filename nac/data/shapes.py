"""The `image_shape` parameter: "CxHxW" (e.g. 1x8x8), "HxW" (one channel) or "" (not given)."""

from __future__ import annotations

import numpy as np

from nac.data.errors import DataError

__all__ = ["format_shape", "parse_image_shape", "shape_rows"]


def parse_image_shape(text: str | None) -> tuple[int, int, int] | None:
    """Parse "1x8x8" -> (1, 8, 8), "28x28" -> (1, 28, 28), "" -> None."""
    if text is None or not str(text).strip():
        return None
    parts = str(text).strip().lower().replace("×", "x").split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        dims = []
    if len(dims) not in (2, 3) or any(d <= 0 for d in dims):
        raise DataError(
            f"image_shape {text!r} is not valid; write positive sizes as CxHxW (e.g. 1x8x8, "
            "3x32x32) or HxW for one channel, or leave it empty"
        )
    if len(dims) == 2:
        dims.insert(0, 1)
    return dims[0], dims[1], dims[2]


def format_shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def shape_rows(flat: np.ndarray, shape: tuple[int, int, int] | None, where: str) -> np.ndarray:
    """Reshape (N, F) feature rows to (N, C, H, W); flat vectors become (N, F, 1, 1)."""
    n, features = flat.shape
    if shape is None:
        return flat.reshape(n, features, 1, 1)
    c, h, w = shape
    if c * h * w != features:
        raise DataError(
            f"{where} has {features} feature values per row but image_shape "
            f"{format_shape(shape)} needs {c}*{h}*{w} = {c * h * w}; fix image_shape, or leave "
            f"it empty to keep flat vectors (shape {features}x1x1)"
        )
    return flat.reshape(n, c, h, w)
