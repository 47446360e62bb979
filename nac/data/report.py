"""Markdown summaries the KFP UI renders (Markdown artifacts) and the CLI prints."""

from __future__ import annotations

from nac.data.format import Dataset
from nac.data.shapes import format_shape

__all__ = ["ingest_report", "split_report"]

_BAR_WIDTH = 20


def _facts(ds: Dataset) -> list[str]:
    return [
        "| | |",
        "|---|---|",
        f"| source | `{ds.source}` |",
        f"| rows | {ds.rows} |",
        f"| shape (C x H x W) | {format_shape(ds.shape)} |",
        f"| classes | {ds.num_classes} |",
        f"| sha256 | `{ds.sha256}` |",
    ]


def _balance(ds: Dataset) -> list[str]:
    counts = ds.class_counts()
    top = max(counts) or 1
    lines = ["| class | rows | share | |", "|---|---:|---:|---|"]
    for name, n in zip(ds.classes, counts, strict=True):
        bar = "█" * max(1 if n else 0, round(_BAR_WIDTH * n / top))
        lines.append(f"| {name} | {n} | {n / max(ds.rows, 1):.1%} | {bar} |")
    return lines


def ingest_report(ds: Dataset) -> str:
    """Rows, shape, classes, sha256 and the class balance of an ingested dataset."""
    counts = [n for n in ds.class_counts() if n]
    ratio = max(counts) / min(counts) if counts else 0.0
    return "\n".join([
        "# Ingested dataset", "", *_facts(ds), "",
        f"## Class balance (largest / smallest class: {ratio:.2f})", "", *_balance(ds), "",
    ])


def split_report(source: Dataset, train: Dataset, val: Dataset, test: Dataset,
                 *, seed: int) -> str:
    """Split sizes, per-class counts, the normalisation and augmentation."""
    splits = (train, val, test)
    lines = [
        "# Preprocessed dataset", "",
        f"Stratified split of `{source.source}` ({source.rows} rows, sha256 "
        f"`{source.sha256[:12]}`) with seed {seed}.", "",
        "| split | rows | share | sha256 |", "|---|---:|---:|---|",
    ]
    for ds in splits:
        lines.append(f"| {ds.split} | {ds.rows} | {ds.rows / max(source.rows, 1):.1%} | "
                     f"`{ds.sha256[:12]}` |")
    lines += ["", "## Rows per class", "", "| class | train | val | test |",
              "|---|---:|---:|---:|"]
    per_split = [ds.class_counts() for ds in splits]
    for i, name in enumerate(source.classes):
        lines.append(f"| {name} | " + " | ".join(str(c[i]) for c in per_split) + " |")
    norm = train.normalization
    lines += ["", "## Normalisation (fitted on train, stored on all splits)", ""]
    if norm is None:
        lines.append("None: x is used as stored.")
    else:
        lines += ["| channel | mean | std |", "|---:|---:|---:|"]
        for c, (m, s) in enumerate(zip(norm.mean, norm.std, strict=True)):
            lines.append(f"| {c} | {m:.6g} | {s:.6g} |")
    lines += ["", "## Augmentation (train only)", ""]
    aug = train.augmentation
    lines.append("None." if not aug else ", ".join(f"`{k}`: {v}" for k, v in aug.items()))
    lines.append("")
    return "\n".join(lines)


