"""Every ingest source, read for real: builtin, CSV, NPZ, file://, http://, image folders."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nac.data import Dataset, ingest, write_dataset
from nac.data.labels import encode_labels


def _digits_csv(path: Path, rows: int = 40, label: str = "label") -> np.ndarray:
    from sklearn.datasets import load_digits

    digits = load_digits()
    header = [label] + [f"p{i}" for i in range(64)]
    lines = [",".join(header)]
    for features, target in zip(digits.data[:rows], digits.target[:rows], strict=True):
        lines.append(",".join([str(int(target))] + [f"{v:g}" for v in features]))
    path.write_text("\n".join(lines) + "\n")
    return digits.data[:rows].reshape(-1, 1, 8, 8)


def test_builtin_digits_is_the_default() -> None:
    ds = ingest()
    assert (ds.rows, ds.shape, ds.source) == (1797, (1, 8, 8), "builtin:digits")
    assert ds.classes == [str(i) for i in range(10)]
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    assert 0.0 == ds.x.min() and ds.x.max() == 16.0
    assert min(ds.class_counts()) >= 170


def test_csv_with_image_shape_matches_digits(tmp_path: Path) -> None:
    expected = _digits_csv(tmp_path / "d.csv")
    ds = ingest(str(tmp_path / "d.csv"), image_shape="1x8x8")
    assert ds.shape == (1, 8, 8) and ds.rows == 40
    np.testing.assert_array_equal(ds.x, expected.astype(np.float32))
    assert ds.classes == [str(i) for i in range(10)]
    assert ds.source == str(tmp_path / "d.csv")


def test_csv_flat_vectors_and_file_uri_and_named_label(tmp_path: Path) -> None:
    _digits_csv(tmp_path / "d.csv", label="digit")
    ds = ingest((tmp_path / "d.csv").as_uri(), label_column="digit")
    assert ds.shape == (64, 1, 1)
    hw = ingest(str(tmp_path / "d.csv"), label_column="digit", image_shape="8x8")
    assert hw.shape == (1, 8, 8)
    np.testing.assert_array_equal(hw.x.reshape(40, 64), ds.x.reshape(40, 64))


def test_csv_string_labels_sorted_naturally_and_label_column_anywhere(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text(
        "f1,kind,f2\n1,class10,2\n3,class2,4\n5,Class1,6\n7,class2,8\n\n"
    )
    ds = ingest(str(tmp_path / "s.csv"), label_column="kind")
    assert ds.classes == ["Class1", "class2", "class10"]
    assert ds.y.tolist() == [2, 1, 0, 1]
    np.testing.assert_array_equal(ds.x[:, :, 0, 0], [[1, 2], [3, 4], [5, 6], [7, 8]])


def test_label_encoding_rules() -> None:
    y, classes = encode_labels([10, "2", 2.0, "10.0", 7])
    assert classes == ["2", "7", "10"] and y.tolist() == [2, 0, 0, 2, 1]
    y, classes = encode_labels(["b", "a10", "a9", "b"])
    assert classes == ["a9", "a10", "b"] and y.tolist() == [2, 1, 0, 2]


@pytest.mark.parametrize("layout", ["flat", "hw", "chw"])
def test_npz_layouts(tmp_path: Path, layout: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.random((12, 1, 4, 4)).astype(np.float64)
    y = np.array([3, 5] * 6)
    stored = {"flat": x.reshape(12, 16), "hw": x[:, 0], "chw": x}[layout]
    np.savez(tmp_path / "d.npz", x=stored, y=y)
    ds = ingest(str(tmp_path / "d.npz"), image_shape="1x4x4" if layout == "flat" else "")
    assert ds.shape == (1, 4, 4)
    np.testing.assert_allclose(ds.x, x.astype(np.float32))
    assert ds.classes == ["3", "5"] and ds.y.tolist() == [0, 1] * 6


def test_npz_with_class_names(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.ones((4, 3)), y=np.array([0, 1, 1, 0]),
             classes=np.array(["cat", "dog"]))
    ds = ingest(str(tmp_path / "d.npz"))
    assert ds.classes == ["cat", "dog"] and ds.y.tolist() == [0, 1, 1, 0]
    np.savez(tmp_path / "s.npz", x=np.ones((3, 3)), y=np.array(["dog", "cat", "dog"]),
             classes=np.array(["dog", "cat"]))
    assert ingest(str(tmp_path / "s.npz")).y.tolist() == [0, 1, 0]


def test_existing_artifact_directory_is_read_back(tmp_path: Path) -> None:
    ds = ingest()
    write_dataset(ds, tmp_path / "art")
    again = ingest(str(tmp_path / "art"))
    assert again.sha256 == ds.sha256 and again.source == "builtin:digits"


def test_http_csv_and_npz(http_root: tuple[Path, str]) -> None:
    root, base = http_root
    expected = _digits_csv(root / "digits.csv", rows=30)
    ds = ingest(f"{base}/digits.csv", image_shape="1x8x8")
    np.testing.assert_array_equal(ds.x, expected.astype(np.float32))
    assert ds.source == f"{base}/digits.csv"
    with open(root / "blob.bin", "wb") as fh:  # np.savez would append .npz to a path
        np.savez(fh, x=expected, y=np.arange(30) % 3)
    by_fragment = ingest(f"{base}/blob.bin#format=npz")
    by_param = ingest(f"{base}/blob.bin", format="npz")
    assert by_fragment.sha256 == by_param.sha256 and by_param.num_classes == 3


def _write_image(path: Path, array: np.ndarray, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    path.write_bytes(buf.getvalue())


def test_image_folder_grayscale_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    arrays = {}
    for cls in ("zero", "one"):
        for i in range(3):
            arr = rng.integers(0, 256, size=(5, 6), dtype=np.uint8)
            arrays[(cls, i)] = arr
            _write_image(tmp_path / "imgs" / cls / f"{i}.png", arr, "PNG")
    ds = ingest(str(tmp_path / "imgs"))
    assert ds.classes == ["one", "zero"] and ds.shape == (1, 5, 6) and ds.rows == 6
    np.testing.assert_array_equal(ds.x[0, 0], arrays[("one", 0)].astype(np.float32))
    assert ds.y.tolist() == [0, 0, 0, 1, 1, 1]


def test_image_folder_rgb_jpeg_resized(tmp_path: Path) -> None:
    for cls, size in (("a", (10, 12)), ("b", (7, 9))):
        for i in range(2):
            arr = np.full((*size, 3), 40 * (i + 1), dtype=np.uint8)
            _write_image(tmp_path / "imgs" / cls / f"{i}.JPG", arr, "JPEG")
    ds = ingest(str(tmp_path / "imgs"), image_shape="3x4x4")
    assert ds.shape == (3, 4, 4) and ds.classes == ["a", "b"]
    assert abs(float(ds.x[1].mean()) - 80.0) < 3.0  # JPEG is lossy
    with pytest.raises(ValueError, match="make all images the same size"):
        ingest(str(tmp_path / "imgs"))


def test_ingested_dataset_is_a_dataset(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 1)), y=np.array(["x", "y"]))
    assert isinstance(ingest(str(tmp_path / "d.npz")), Dataset)


def test_image_shape_cannot_reshape_builtin_data() -> None:
    assert ingest("builtin:digits", image_shape="1x8x8").shape == (1, 8, 8)
    with pytest.raises(ValueError) as info:
        ingest("builtin:digits", image_shape="1x4x16")
    assert str(info.value) == (
        "builtin:digits has shape 1x8x8; image_shape 1x4x16 cannot reshape it (image_shape "
        "applies to flat CSV/NPZ rows and image folders); leave image_shape empty")


def test_a_csv_without_its_label_column_says_so_as_data(tmp_path: Path) -> None:
    """Callers (batch prediction) tell this case apart by `kind`, not by the message text."""
    from nac.data import DataError
    from nac.data.errors import NO_LABEL_COLUMN

    src = tmp_path / "bare.csv"
    src.write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    with pytest.raises(DataError) as missing:
        ingest(str(src))
    assert missing.value.kind == NO_LABEL_COLUMN and "no label column 'label'" in str(missing.value)
    src.write_text("label,a\n1,x\n", encoding="utf-8")
    with pytest.raises(DataError) as other:
        ingest(str(src))
    assert other.value.kind == ""
