"""Datasets: the canonical artifact format, ingest from sources, and train/val/test preprocessing.

Public API (docs/contracts.md §1): `Dataset`, `Normalization`, `DataError`, `write_dataset`,
`read_dataset`, `ingest`, `split_dataset`, `fit_normalization`.
"""

from __future__ import annotations

from nac.data.errors import DataError
from nac.data.format import Dataset, Normalization, read_dataset, write_dataset

__all__ = [
    "DataError",
    "Dataset",
    "Normalization",
    "read_dataset",
    "write_dataset",
]
