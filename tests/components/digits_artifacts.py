"""The digits splits written as KFP Dataset artifacts: the inputs step-level tests hand a step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kfp import dsl

from nac.data import ingest, split_dataset, write_dataset


def digits_artifacts(root: Path) -> tuple[dict[str, dsl.Dataset], Any]:
    """train/val/test of builtin:digits (seed 0) under `root`, as artifacts, and the splits."""
    s = split_dataset(ingest("builtin:digits"), val_fraction=0.1, test_fraction=0.2, seed=0)
    paths = {}
    for name in ("train", "val", "test"):
        write_dataset(getattr(s, name), root / name)
        paths[name] = dsl.Dataset(uri=str(root / name))
    return paths, s
