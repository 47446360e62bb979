"""Stratified, seeded train/val/test split; per-channel normalisation fitted on train only.

The normalisation is stored on all three splits (x stays raw), so training, evaluation and
serving apply one transform (`Dataset.normalized_x()`); augmentation settings are recorded on
the train split only, for the trainer to apply (`nac.data.augment`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from nac.data.augment import augmentation_settings
from nac.data.errors import DataError
from nac.data.format import Dataset, Normalization

__all__ = ["MIN_STD", "Splits", "fit_normalization", "split_dataset", "validate_fractions"]

#: A channel whose std is below this (a constant channel) gets std 1.0: centred, not scaled.
MIN_STD = 1e-6


class Splits(NamedTuple):
    train: Dataset
    val: Dataset
    test: Dataset


def _fraction(name: str, value: object) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    number = float(value) if ok else math.nan  # type: ignore[arg-type]
    if not (0.0 < number < 1.0):
        raise DataError(f"{name} must be a number above 0 and below 1 (e.g. 0.1), "
                        f"got {value!r}")
    return number


def validate_fractions(val_fraction: float, test_fraction: float) -> tuple[float, float]:
    """Both in (0, 1) and summing below 1, so every split gets rows."""
    val = _fraction("val_fraction", val_fraction)
    test = _fraction("test_fraction", test_fraction)
    if val + test >= 1.0:
        raise DataError(
            f"val_fraction + test_fraction = {val:g} + {test:g} = {val + test:g}, but it must "
            "be below 1 so rows are left for training; lower them (e.g. val_fraction=0.1, "
            "test_fraction=0.2)"
        )
    return val, test


def _round(x: float) -> int:
    return int(math.floor(x + 0.5))


def _class_counts(n: int, val: float, test: float) -> tuple[int, int, int]:
    """(train, val, test) rows for a class of n >= 3 rows: each split gets at least one."""
    n_val, n_test = max(1, _round(n * val)), max(1, _round(n * test))
    while n - n_val - n_test < 1:
        if n_val >= n_test:
            n_val -= 1
        else:
            n_test -= 1
    return n - n_val - n_test, n_val, n_test


def fit_normalization(ds: Dataset) -> Normalization:
    """Per-channel mean and std (population) of `ds.x`; constant channels get std 1."""
    if ds.rows == 0:
        raise DataError("cannot fit normalisation on an empty dataset; give it rows")
    x = ds.x.astype(np.float64)
    mean = x.mean(axis=(0, 2, 3))
    std = x.std(axis=(0, 2, 3))
    std = np.where(std < MIN_STD, 1.0, std)
    return Normalization(mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std))


def split_dataset(ds: Dataset, *, val_fraction: float = 0.1, test_fraction: float = 0.2,
                  seed: int = 0, normalize: bool = True, augment_shift: int = 0,
                  augment_hflip: bool = False) -> Splits:
    """Split `ds` into stratified train/val/test sets (same seed, same split).

    Each class is shuffled with `seed` and cut by the fractions (rounded, at least one row per
    split), so every split holds every class in about the source proportions. With
    `normalize`, per-channel statistics are fitted on train and stored on all three.
    """
    val, test = validate_fractions(val_fraction, test_fraction)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    augmentation = augmentation_settings(ds.shape, augment_shift, augment_hflip)
    counts = ds.class_counts()
    present = [(c, n) for c, n in zip(ds.classes, counts, strict=True) if n]
    if len(present) < 2:
        name = present[0][0] if present else None
        raise DataError(f"the dataset has only one class ({name!r}) among {ds.rows} rows; a "
                        "stratified split and a classifier need at least two classes; ingest "
                        "data with more labels")
    small = [(c, n) for c, n in present if n < 3]
    if small:
        listed = ", ".join(f"{c!r} ({n} row{'s' if n > 1 else ''})" for c, n in small[:5])
        if len(small) > 5:
            listed += f" and {len(small) - 5} more"
        which = f"class {listed} has" if len(small) == 1 else f"classes {listed} have"
        raise DataError(
            f"too few rows to stratify: {which} fewer than 3 rows, but each class needs at "
            "least one row in each of train, val and test; add rows or remove the class"
        )
    rng = np.random.default_rng(int(seed))
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for label, n in enumerate(counts):
        if not n:
            continue
        idx = rng.permutation(np.flatnonzero(ds.y == label))
        n_train, n_val, _ = _class_counts(n, val, test)
        parts["train"].append(idx[:n_train])
        parts["val"].append(idx[n_train:n_train + n_val])
        parts["test"].append(idx[n_train + n_val:])
    subsets = {}
    for split, chunks in parts.items():
        order = rng.permutation(np.concatenate(chunks))  # interleave the classes
        subsets[split] = ds.subset(order, split=split).with_normalization(None) \
            .with_augmentation(None)
    norm = fit_normalization(subsets["train"]) if normalize else None
    return Splits(
        train=subsets["train"].with_normalization(norm).with_augmentation(augmentation),
        val=subsets["val"].with_normalization(norm),
        test=subsets["test"].with_normalization(norm),
    )
