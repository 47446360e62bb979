"""Each bad input: the exact message a user sees, exit code 2 from the CLI, and no artifact.

The same messages reach KFP users: the components call the same `nac.data.steps` functions.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from nac.data import DataError, Dataset, write_dataset
from nac.data.__main__ import main


@dataclass(frozen=True)
class Case:
    """argv after `python -m nac.data` (with {out} for the output root) and the message."""

    argv: list[str]
    message: str


def _file(path: Path, text: str | bytes) -> str:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def _npz(path: Path, **arrays: np.ndarray) -> str:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return str(path)


def _artifact(path: Path, y: list[int], classes: list[str]) -> str:
    write_dataset(Dataset(x=np.arange(len(y) * 4, dtype=np.float32).reshape(-1, 1, 2, 2),
                          y=np.array(y), classes=classes, source="test"), path)
    return str(path)


def _ingest(source: str, *extra: str) -> list[str]:
    return ["ingest", source, *extra]


def _pre(dataset: str, *extra: str) -> list[str]:
    return ["preprocess", dataset, *extra]


def missing_file(tmp: Path, base: str) -> Case:
    src = str(tmp / "missing.csv")
    return Case(_ingest(src), f"{src}: no such file or directory ({src}); check the path "
                              f"(relative paths start from {Path.cwd()})")


def empty_file(tmp: Path, base: str) -> Case:
    src = _file(tmp / "empty.csv", "")
    return Case(_ingest(src), f"{src} is empty (0 bytes); point the source at a CSV file that "
                              "holds data")


def csv_without_label_column(tmp: Path, base: str) -> Case:
    src = _file(tmp / "d.csv", "a,b\n1,2\n3,4\n")
    return Case(_ingest(src), f"{src} has no label column 'label' (columns: 'a', 'b'); set "
                              "label_column to the name of the column that holds the class "
                              "labels")


def csv_label_column_in_other_case(tmp: Path, base: str) -> Case:
    src = _file(tmp / "d.csv", "Label,f1\n1,2\n3,4\n")
    return Case(_ingest(src), f"{src} has no label column 'label' (columns: 'Label', 'f1'); "
                              "did you mean label_column='Label'?")


def non_numeric_cell(tmp: Path, base: str) -> Case:
    src = _file(tmp / "d.csv", "label,f1,f2\n0,1,2\n1,3,x7\n")
    return Case(_ingest(src), f"{src}: line 3 (data row 2), column 3 ('f2') holds 'x7', which "
                              "is not a number; every column except the label column 'label' "
                              "must be numeric")


def empty_cell(tmp: Path, base: str) -> Case:
    src = _file(tmp / "d.csv", "f1,label,f2\n1,0,2\n\n3,1,\n")
    return Case(_ingest(src), f"{src}: line 4 (data row 2), column 3 ('f2') is empty; fill in "
                              "a number or drop the row")


def nan_in_csv(tmp: Path, base: str) -> Case:
    src = _file(tmp / "d.csv", "label,f1,f2\n0,1,2\n1,3,4\n0,NaN,1\n")
    return Case(_ingest(src), f"{src}: line 4 (data row 3), column 2 ('f1') holds 'NaN' (NaN "
                              "or infinite); replace it with a finite number or drop the row")


def inf_in_npz(tmp: Path, base: str) -> Case:
    x = np.zeros((4, 3))
    x[2, 1] = np.inf
    src = _npz(tmp / "d.npz", x=x, y=np.array([0, 1, 0, 1]))
    return Case(_ingest(src), f"{src}: x holds 1 NaN or infinite value(s) in 1 row(s), first "
                              "at row 3 (x[2, 1] = inf); replace them with finite numbers or "
                              "drop those rows")


def feature_count_vs_image_shape(tmp: Path, base: str) -> Case:
    src = _file(tmp / "d.csv", "label,a,b,c\n0,1,2,3\n1,4,5,6\n")
    return Case(_ingest(src, "--image-shape", "1x2x2"),
                f"{src} has 3 feature values per row but image_shape 1x2x2 needs 1*2*2 = 4; fix "
                "image_shape, or leave it empty to keep flat vectors (shape 3x1x1)")


def bad_image_shape_text(tmp: Path, base: str) -> Case:
    src = _file(tmp / "d.csv", "label,a\n0,1\n1,2\n")
    return Case(_ingest(src, "--image-shape", "8by8"),
                "image_shape '8by8' is not valid; write positive sizes as CxHxW (e.g. 1x8x8, "
                "3x32x32) or HxW for one channel, or leave it empty")


def one_class_only(tmp: Path, base: str) -> Case:
    src = _file(tmp / "d.csv", "label,f1\n7,1\n7,2\n7,3\n")
    return Case(_ingest(src), f"{src}: all 3 rows have the same label '7'; a classifier needs "
                              "at least two classes (check label_column, or add rows of other "
                              "classes)")


def url_404(tmp: Path, base: str) -> Case:
    return Case(_ingest(f"{base}/missing.csv"),
                f"{base}/missing.csv answered HTTP 404 File not found; check the URL (and that "
                "the file is published there)")


def url_unreachable(tmp: Path, base: str) -> Case:
    return Case(_ingest("http://127.0.0.1:9/d.csv"),
                "http://127.0.0.1:9/d.csv could not be reached ([Errno 111] Connection "
                "refused); check the host name, port and network access")


def http_body_not_npz(tmp: Path, base: str) -> Case:
    _file(tmp / "www" / "data.npz", "label,f1\n0,1\n1,2\n")
    return Case(_ingest(f"{base}/data.npz"),
                f"{base}/data.npz is not an NPZ file (it starts with b'label,f1\\n0,1\\n1,2\\n', "
                "not a zip header); save it with numpy.savez(path, x=..., y=...) or declare the "
                "right format (e.g. format=csv)")


def http_html_not_csv(tmp: Path, base: str) -> Case:
    _file(tmp / "www" / "page.csv", "<!DOCTYPE html>\n<html><body>Sign in</body></html>\n")
    return Case(_ingest(f"{base}/page.csv"),
                f"{base}/page.csv is an HTML page, not CSV; point the source at the raw CSV "
                "file (not a web page about it)")


def http_binary_not_csv(tmp: Path, base: str) -> Case:
    _file(tmp / "www" / "blob.csv", b"\x89PNG\r\n\x1a\n\x00\x00")
    return Case(_ingest(f"{base}/blob.csv"),
                f"{base}/blob.csv is not CSV text: byte 0 is not UTF-8 (starts with "
                "b'\\x89PNG\\r\\n\\x1a\\n\\x00\\x00'); give a UTF-8 CSV file, or declare the "
                "right format (e.g. format=npz)")


def unknown_format(tmp: Path, base: str) -> Case:
    return Case(_ingest(f"{base}/data.parquet"),
                f"{base}/data.parquet: cannot tell the file format from the name; use a .csv "
                "or .npz name, or declare it with format=csv|npz (or a #format=csv URL "
                "fragment)")


def npz_length_mismatch(tmp: Path, base: str) -> Case:
    src = _npz(tmp / "d.npz", x=np.zeros((4, 3)), y=np.array([0, 1, 0]))
    return Case(_ingest(src), f"{src}: x has 4 rows but y has 3 labels; they must have the "
                              "same length (one label per row of x)")


def npz_without_y(tmp: Path, base: str) -> Case:
    src = _npz(tmp / "d.npz", x=np.zeros((4, 3)), labels=np.array([0, 1, 0, 1]))
    return Case(_ingest(src), f"{src} has no array 'y'; save features as x and labels as y: "
                              "numpy.savez(path, x=..., y=...)")


def fractions_not_below_one(tmp: Path, base: str) -> Case:
    ds = _artifact(tmp / "ds", [0, 1] * 10, ["a", "b"])
    return Case(_pre(ds, "--val-fraction", "0.3", "--test-fraction", "0.8"),
                "val_fraction + test_fraction = 0.3 + 0.8 = 1.1, but it must be below 1 so rows "
                "are left for training; lower them (e.g. val_fraction=0.1, test_fraction=0.2)")


def fraction_not_positive(tmp: Path, base: str) -> Case:
    ds = _artifact(tmp / "ds", [0, 1] * 10, ["a", "b"])
    return Case(_pre(ds, "--val-fraction", "0"),
                "val_fraction must be a number above 0 and below 1 (e.g. 0.1), got 0.0")


def too_few_rows_per_class(tmp: Path, base: str) -> Case:
    ds = _artifact(tmp / "ds", [0, 0, 0, 0, 1, 1, 2], ["a", "b", "c"])
    return Case(_pre(ds), "too few rows to stratify: classes 'b' (2 rows), 'c' (1 row) have "
                          "fewer than 3 rows, but each class needs at least one row in each of "
                          "train, val and test; add rows or remove the class")


def one_class_in_split(tmp: Path, base: str) -> Case:
    ds = _artifact(tmp / "ds", [1, 1, 1, 1, 1], ["a", "b"])
    return Case(_pre(ds), "the dataset has only one class ('b') among 5 rows; a stratified "
                          "split and a classifier need at least two classes; ingest data with "
                          "more labels")


def augment_shift_on_flat_vectors(tmp: Path, base: str) -> Case:
    write_dataset(Dataset(x=np.zeros((9, 4, 1, 1)), y=np.array([0, 1, 2] * 3),
                          classes=["a", "b", "c"], source="t"), tmp / "ds")
    return Case(_pre(str(tmp / "ds"), "--augment-shift", "1"),
                "augment_shift=1 is out of range for 1x1 images (flat vectors: shifting needs "
                "image data; ingest with image_shape); use 0..0")


CASES: list[Callable[[Path, str], Case]] = [
    missing_file, empty_file, csv_without_label_column, csv_label_column_in_other_case,
    non_numeric_cell, empty_cell, nan_in_csv, inf_in_npz, feature_count_vs_image_shape,
    bad_image_shape_text, one_class_only, url_404, url_unreachable, http_body_not_npz,
    http_html_not_csv, http_binary_not_csv, unknown_format, npz_length_mismatch, npz_without_y,
    fractions_not_below_one, fraction_not_positive, too_few_rows_per_class, one_class_in_split,
    augment_shift_on_flat_vectors,
]


def _with_outputs(argv: list[str], out: Path) -> list[str]:
    if argv[0] == "ingest":
        return [*argv, "--out", str(out / "dataset"), "--report", str(out / "report.md")]
    return [*argv, "--out", str(out)]


@pytest.mark.parametrize("make_case", CASES, ids=[c.__name__ for c in CASES])
def test_cli_prints_exact_message_exits_2_and_writes_nothing(
        make_case: Callable[[Path, str], Case], tmp_path: Path,
        http_root: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    case = make_case(tmp_path, http_root[1])
    out = tmp_path / "out"
    code = main(_with_outputs(case.argv, out))
    captured = capsys.readouterr()
    assert (code, captured.err) == (2, f"error: {case.message}\n")
    assert captured.out == ""
    assert not out.exists()


def test_library_raises_data_error_with_the_same_message(tmp_path: Path,
                                                         http_root: tuple[Path, str]) -> None:
    from nac.data import ingest

    case = non_numeric_cell(tmp_path, http_root[1])
    with pytest.raises(DataError) as info:
        ingest(case.argv[1])
    assert str(info.value) == case.message
    assert isinstance(info.value, ValueError)


def test_cli_subprocess_exit_code_and_stderr(tmp_path: Path) -> None:
    case = npz_length_mismatch(tmp_path, "")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "nac.data", *_with_outputs(case.argv, out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {case.message}\n"
    assert "Traceback" not in proc.stderr
    assert not out.exists()
