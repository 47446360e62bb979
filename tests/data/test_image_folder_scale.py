"""The image-folder reader at scale: one preallocated array, threads, mixed grayscale/colour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nac.data.errors import DataError
from nac.data.readers.image_folder import read_image_folder


def _folder(root: Path, n_per_class: int, colour_at: int | None = None) -> Path:
    rng = np.random.default_rng(0)
    for c in ("b", "a", "c"):
        (root / c / "sub").mkdir(parents=True)
        for i in range(n_per_class):
            if colour_at is not None and c == "c" and i == colour_at:
                img = Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8))
            else:
                img = Image.fromarray(rng.integers(0, 256, (6, 5), dtype=np.uint8))
            # nested sub-folder and hidden files are part of the contract
            img.save(root / c / ("sub" if i % 2 else ".") / f"{i:03d}.png")
        (root / c / ".hidden.png").write_bytes(b"not an image")
    return root


def test_threads_give_identical_arrays(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", 200)  # 600 files: two 512-file thread-pool tasks
    one = read_image_folder(root, source="x", threads=1)
    four = read_image_folder(root, source="x", threads=4)
    assert one.x.shape == (600, 1, 6, 5) and one.x.dtype == np.float32
    assert np.array_equal(one.x, four.x) and np.array_equal(one.y, four.y)
    assert one.classes == ["a", "b", "c"] and np.bincount(one.y).tolist() == [200] * 3
    first = sorted((root / "a").rglob("*.png"), key=str)
    first = [p for p in first if not p.name.startswith(".")]
    with Image.open(sorted(first)[0]) as img:
        assert np.array_equal(one.x[0, 0], np.asarray(img, dtype=np.float32))


def test_colour_image_late_in_a_grayscale_folder_makes_everything_rgb(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", 4, colour_at=3)
    ds = read_image_folder(root, source="x")
    assert ds.x.shape == (12, 3, 6, 5)
    gray = ds.x[0]
    assert np.array_equal(gray[0], gray[1]) and np.array_equal(gray[1], gray[2])


def test_size_mismatch_names_both_files(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", 3)
    Image.fromarray(np.zeros((7, 7), dtype=np.uint8)).save(root / "b" / "zzz.png")
    with pytest.raises(DataError, match=r"zzz\.png is 7x7 pixels but .* is 5x6"):
        read_image_folder(root, source="x", threads=2)
    resized = read_image_folder(root, source="x", image_shape=(1, 4, 4))
    assert resized.x.shape == (10, 1, 4, 4)
