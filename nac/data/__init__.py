"""Datasets: the canonical artifact format, ingest from sources, and train/val/test preprocessing.

Public API (docs/contracts.md §1, docs/data.md): `Dataset`, `Normalization`, `DataError`,
`write_dataset`, `read_dataset`, `ingest`, `split_dataset`, `fit_normalization`, and
`augmentation_settings` (what the trainer's `nac.batches.augment` applies).
"""

from __future__ import annotations

from nac.data.augment import augmentation_settings
from nac.data.errors import DataError
from nac.data.format import Dataset, Normalization, read_dataset, write_dataset
from nac.data.ingest import DEFAULT_SOURCE, ingest
from nac.data.preprocess import Splits, fit_normalization, split_dataset
from nac.data.report import ingest_report, split_report

__all__ = [
    "DEFAULT_SOURCE",
    "DataError",
    "Dataset",
    "Normalization",
    "Splits",
    "augmentation_settings",
    "fit_normalization",
    "ingest",
    "ingest_report",
    "read_dataset",
    "split_dataset",
    "split_report",
    "write_dataset",
]
