"""Batch prediction with a trained `nac-model` artifact (`python -m pipelines predict`).

The data goes through the same ingest as training (any source `ingest` accepts); the model's
stored normalisation is applied. A CSV without the label column is read as unlabelled feature
rows. Labels are compared by class name, so a data set whose classes are listed in another
order is still scored correctly.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from nac.atomic import write_text_atomic
from nac.export import ModelError, load_model, predict


def _unlabelled_csv(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """Feature rows of a CSV with a header and no label column, shaped (N, C, H, W)."""
    text = path.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise ModelError(f"{path} has no data rows (a header line and one row per example)")
    width = int(np.prod(shape))
    out = np.empty((len(rows) - 1, width), dtype=np.float32)
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            raise ModelError(f"{path} line {r} has {len(row)} values but the model expects "
                             f"{width} ({'x'.join(map(str, shape))}) per row")
        for c, cell in enumerate(row):
            try:
                out[r - 2, c] = float(cell)
            except ValueError:
                raise ModelError(f"{path} line {r} column {rows[0][c]!r}: {cell!r} is not a "
                                 "number") from None
    return out.reshape((-1, *shape))


def _load_data(source: str, label_column: str, image_shape: str,
               model_shape: tuple[int, int, int]) -> tuple[np.ndarray, list[str] | None]:
    """(x raw, label names or None)."""
    from nac.data import DataError
    from nac.data.errors import NO_LABEL_COLUMN
    from nac.data.ingest import ingest

    shape = image_shape or "x".join(str(v) for v in model_shape)
    try:
        ds = ingest(source, label_column=label_column, image_shape=shape)
    except DataError as e:
        local = Path(source.removeprefix("file://"))
        if e.kind == NO_LABEL_COLUMN and local.suffix.lower() == ".csv" and local.is_file():
            return _unlabelled_csv(local, model_shape), None
        raise
    return ds.x, [ds.classes[i] for i in ds.y]


def predict_to_csv(model_dir: str | os.PathLike[str], source: str, *,
                   output: str | os.PathLike[str] = "predictions.csv",
                   label_column: str = "label", image_shape: str = "") -> dict[str, Any]:
    """Predict every row of `source`, write a CSV, return {"rows", "accuracy" when labelled}."""
    model, meta = load_model(model_dir)
    x, labels = _load_data(source, label_column, image_shape, tuple(meta.input_shape))
    probs = predict(model, meta, x)
    predicted = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["row", "prediction", "probability"] + (["label"] if labels is not None else [])
    writer.writerow(header)
    for i, k in enumerate(predicted):
        row = [i, meta.classes[int(k)], f"{float(probs[i, k]):.6f}"]
        if labels is not None:
            row.append(labels[i])
        writer.writerow(row)
    write_text_atomic(output, buf.getvalue())
    result: dict[str, Any] = {"rows": len(predicted)}
    if labels is not None and len(predicted):
        correct = sum(meta.classes[int(k)] == lab for k, lab in zip(predicted, labels,
                                                                     strict=True))
        result["accuracy"] = round(correct / len(predicted), 6)
    print(f"wrote {len(predicted)} predictions to {Path(output).absolute()}")
    return result
