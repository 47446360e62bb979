"""The ingest and preprocess steps over output locations: what components and the CLI call.

Outputs are anything with a `.path` (and optionally a `.metadata` dict), e.g. KFP artifacts;
this module never imports kfp. Nothing is written until all inputs are validated, and a
failure while writing removes what this step already wrote, so a failed step leaves no
artifact.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Protocol

from nac.atomic import write_text_atomic
from nac.data.format import FORMAT, VERSION, Dataset, read_dataset, write_dataset
from nac.data.ingest import DEFAULT_SOURCE, ingest
from nac.data.preprocess import split_dataset, validate_fractions
from nac.data.report import ingest_report, split_report
from nac.metadata import update_metadata

__all__ = ["ArtifactLike", "artifact_metadata", "run_ingest", "run_preprocess"]


class ArtifactLike(Protocol):
    path: str


def artifact_metadata(ds: Dataset) -> dict[str, Any]:
    """The metadata a KFP UI shows beside a dataset artifact.

    `split` is None for an un-split dataset; `_set_metadata` drops it (nac.metadata: the KFP
    launcher cannot store a null), so an ingested dataset simply has no `split` key.
    """
    return {
        "format": FORMAT,
        "version": VERSION,
        "rows": ds.rows,
        "shape": list(ds.shape),
        "num_classes": ds.num_classes,
        "classes": list(ds.classes),
        "source": ds.source,
        "split": ds.split,
        "sha256": ds.sha256,
    }


def _set_metadata(artifact: object, ds: Dataset) -> None:
    update_metadata(artifact, artifact_metadata(ds))


def _remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _write_all(datasets: list[tuple[Dataset, ArtifactLike]], report: str,
               report_out: ArtifactLike | None) -> None:
    written: list[Path] = []
    try:
        for ds, out in datasets:
            write_dataset(ds, out.path)
            written.append(Path(out.path))
        if report_out is not None:
            write_text_atomic(report_out.path, report)
            written.append(Path(report_out.path))
    except BaseException:
        _remove(written)
        raise
    for ds, out in datasets:
        _set_metadata(out, ds)


def run_ingest(dataset: ArtifactLike, report: ArtifactLike | None = None, *,
               source: str = DEFAULT_SOURCE, label_column: str = "label",
               image_shape: str = "", source_format: str = "") -> Dataset:
    """Ingest `source` into the `dataset` directory and a Markdown summary at `report`."""
    ds = ingest(source, label_column=label_column, image_shape=image_shape,
                format=source_format)
    _write_all([(ds, dataset)], ingest_report(ds), report)
    return ds


def run_preprocess(dataset: ArtifactLike, train: ArtifactLike, val: ArtifactLike,
                   test: ArtifactLike, report: ArtifactLike | None = None, *,
                   val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0,
                   augment_shift: int = 0, augment_hflip: bool = False) -> tuple[Dataset, ...]:
    """Split the `dataset` artifact into train/val/test artifacts plus a Markdown report."""
    validate_fractions(val_fraction, test_fraction)  # fail before reading the input
    source = read_dataset(dataset.path)
    splits = split_dataset(source, val_fraction=val_fraction, test_fraction=test_fraction,
                           seed=seed, augment_shift=augment_shift, augment_hflip=augment_hflip)
    _write_all([(splits.train, train), (splits.val, val), (splits.test, test)],
               split_report(source, *splits, seed=seed), report)
    return tuple(splits)
