"""CSV: a header row, one label column (by name), every other column a numeric feature.

Features of a row are flattened pixel values in C, H, W order when `image_shape` is given;
without it each row is a flat vector stored as shape (F, 1, 1). Errors name the line and
column the way a person counts them in an editor (header = line 1, first column = 1).
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np

from nac.data.errors import NO_LABEL_COLUMN, DataError
from nac.data.format import Dataset
from nac.data.labels import encode_labels
from nac.data.readers._text import describe_start, looks_like_html
from nac.data.shapes import shape_rows

__all__ = ["read_csv"]


def _decode(data: bytes, where: str) -> str:
    if looks_like_html(data):
        raise DataError(
            f"{where} is an HTML page, not CSV; point the source at the raw CSV file "
            "(not a web page about it)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{where} is not CSV text: byte {e.start} is not UTF-8 (starts with "
            f"{describe_start(data)}); give a UTF-8 CSV file, or declare the right format "
            "(e.g. format=npz)"
        ) from None


def _header(reader: csv.reader, where: str, label_column: str) -> tuple[list[str], int]:
    header: list[str] = []
    for row in reader:
        if row and any(cell.strip() for cell in row):
            header = [cell.strip() for cell in row]
            break
    if not header:
        raise DataError(f"{where} holds no CSV header or rows; give a file with a header line "
                        f"(including the label column {label_column!r}) and data rows")
    if "\x00" in "".join(header):
        raise DataError(f"{where} is not CSV text (it holds NUL bytes); give a UTF-8 CSV file, "
                        "or declare the right format (e.g. format=npz)")
    matches = [i for i, name in enumerate(header) if name == label_column]
    if not matches:
        shown = ", ".join(repr(h) for h in header[:8]) + (", ..." if len(header) > 8 else "")
        near = [h for h in header if h.lower() == label_column.lower()]
        hint = f"; did you mean label_column={near[0]!r}?" if near else (
            "; set label_column to the name of the column that holds the class labels")
        raise DataError(f"{where} has no label column {label_column!r} (columns: {shown}){hint}",
                        kind=NO_LABEL_COLUMN)
    if len(matches) > 1:
        raise DataError(f"{where} has {len(matches)} columns named {label_column!r}; "
                        "rename the duplicates so the label column is unambiguous")
    if len(header) < 2:
        raise DataError(f"{where} has only the label column {label_column!r}; "
                        "add feature columns")
    return header, matches[0]


def read_csv(data: bytes, *, where: str, source: str, label_column: str = "label",
             image_shape: tuple[int, int, int] | None = None) -> Dataset:
    """Parse CSV bytes into a Dataset (labels encoded by `encode_labels`)."""
    if not data.strip():
        raise DataError(f"{where} is empty; give a CSV file with a header line and data rows")
    text = _decode(data, where)
    reader = csv.reader(io.StringIO(text, newline=""))
    header, label_index = _header(reader, where, label_column)
    feature_columns = [i for i in range(len(header)) if i != label_index]
    labels: list[str] = []
    rows: list[np.ndarray] = []
    for record in reader:
        if not record or not any(cell.strip() for cell in record):
            continue  # blank lines
        line = reader.line_num
        if len(record) != len(header):
            raise DataError(f"{where}: line {line} has {len(record)} fields but the header has "
                            f"{len(header)}; every row needs one value per column")
        labels.append(record[label_index])
        try:  # numpy parses a row of strings ~3x faster than float() per cell
            values = np.array(record[:label_index] + record[label_index + 1:], dtype=np.float64)
            ok = bool(np.isfinite(values).all())
        except ValueError:
            ok = False
        if not ok:  # the slow path names the bad cell, or accepts what float() accepts
            values = np.array(_parse_row(record, header, feature_columns, line, len(rows) + 1,
                                         where, label_column), dtype=np.float64)
        rows.append(values)
    if not rows:
        raise DataError(f"{where} has a header but no data rows; add rows below the header")
    for n, value in enumerate(labels):
        if not value.strip():
            raise DataError(f"{where}: data row {n + 1}, column {label_index + 1} "
                            f"({label_column!r}) is empty; every row needs a label")
    y, classes = encode_labels(labels, what=where)
    flat = np.stack(rows)
    if np.abs(flat).max(initial=0.0) > np.finfo(np.float32).max:
        raise DataError(f"{where} holds values too large for float32 (above 3.4e38); "
                        "rescale the features")
    x = shape_rows(flat.astype(np.float32), image_shape, where)
    return Dataset(x=x, y=y, classes=classes, source=source)


def _parse_row(record: list[str], header: list[str], feature_columns: list[int],
               line: int, row: int, where: str, label_column: str) -> list[float]:
    values = []
    for i in feature_columns:
        cell = record[i]
        place = f"{where}: line {line} (data row {row}), column {i + 1} ({header[i]!r})"
        try:
            value = float(cell)
        except ValueError:
            if not cell.strip():
                raise DataError(f"{place} is empty; fill in a number or drop the row") from None
            raise DataError(
                f"{place} holds {cell.strip()!r}, which is not a number; every column except "
                f"the label column {label_column!r} must be numeric"
            ) from None
        if not math.isfinite(value):
            raise DataError(f"{place} holds {cell.strip()!r} (NaN or infinite); "
                            "replace it with a finite number or drop the row")
        values.append(value)
    return values
