"""KFP component `ingest`: a data source -> a canonical Dataset artifact + Markdown summary."""

# No `from __future__ import annotations`: KFP reads the real annotation objects.

from kfp.dsl import Dataset, Markdown, Output

from components._common import component


@component
def ingest(
    dataset: Output[Dataset],
    report: Output[Markdown],
    source: str = "builtin:digits",
    label_column: str = "label",
    image_shape: str = "",
    source_format: str = "",
):
    """Read a data source into a `nac-dataset` artifact (docs/data.md, contracts §1).

    Args:
        dataset: Output directory: data.npz (x float32 N,C,H,W raw; y int64) + meta.json.
            Metadata: rows, shape, classes, num_classes, source, sha256.
        report: Markdown summary (rows, shape, classes, class balance, sha256).
        source: `builtin:digits` (default), a path or file:// URI to a .csv/.npz file or an
            image folder (one sub-folder per class), or an http(s):// URL to a .csv/.npz.
        label_column: CSV column holding the labels.
        image_shape: CxHxW (e.g. 1x8x8) for flat CSV/NPZ rows; empty keeps flat vectors as
            Fx1x1; for image folders, resizes to HxW.
        source_format: `csv` or `npz` when the name does not end in one.

    Bad input fails the step with a DataError naming the problem and the fix, and leaves
    no artifact.
    """
    from components._impl.runtime import check_image_version
    from nac.data.steps import run_ingest

    check_image_version()
    run_ingest(dataset, report, source=source, label_column=label_column,
               image_shape=image_shape, source_format=source_format)
