"""Data sets that ship with installed packages: no download, so pipelines run air-gapped."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nac.data.errors import DataError
from nac.data.format import Dataset

__all__ = ["BUILTIN_DATASETS", "load_builtin"]


def _digits() -> Dataset:
    """scikit-learn's 1,797 8x8 handwritten digits (values 0..16), shape 1x8x8, classes 0..9."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float32).reshape(-1, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    return Dataset(x=x, y=y, classes=[str(int(c)) for c in bunch.target_names],
                   source="builtin:digits")


#: Name after "builtin:" -> loader.
BUILTIN_DATASETS: dict[str, Callable[[], Dataset]] = {"digits": _digits}


def load_builtin(name: str) -> Dataset:
    """Load `builtin:<name>`."""
    loader = BUILTIN_DATASETS.get(name.strip().lower())
    if loader is None:
        known = ", ".join(f"builtin:{n}" for n in sorted(BUILTIN_DATASETS))
        raise DataError(f"unknown built-in dataset 'builtin:{name}'; choose one of: {known}")
    return loader()
