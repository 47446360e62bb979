"""A directory of images in class sub-folders (`root/<class>/<image>.png|jpg|jpeg`).

Grayscale images give one channel and colour ones three (all converted alike); without
`image_shape` every image must have the same size, with it images are resized to H x W.

Why it looks like this: a 50,000-image folder (CIFAR-10's train split) must ingest in seconds
and in about the memory of its result. Every image is decoded straight into one preallocated
float32 (N, C, H, W) array (no per-image list of arrays, no stack, no second copy), by a few
threads (PIL releases the GIL while decoding). The channel count comes from `image_shape`, or
from the first image; a colour image found in a folder that started grayscale triggers one
re-read as RGB (rare: mixed folders), so the result never depends on thread timing.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from nac.data.errors import DataError
from nac.data.format import Dataset
from nac.data.labels import class_sort_key

__all__ = ["IMAGE_SUFFIXES", "read_image_folder"]

#: File suffixes read as images (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: PIL modes read as one grayscale channel when no image_shape is given.
_GRAY_MODES = ("L", "1", "I;16", "I", "F")
#: PIL plugins tried (skips probing every other format's header parser).
_FORMATS = ("JPEG", "PNG")
#: Decoding threads (PIL decodes with the GIL released); more than 4 gains nothing here.
_MAX_THREADS = 4
#: Files per task handed to a thread.
_CHUNK = 512


def _class_folders(root: Path) -> list[tuple[str, list[Path]]]:
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: class_sort_key(p.name))
    if not folders:
        raise DataError(f"{root} has no class sub-folders; put images in one folder per class "
                        "(e.g. root/cat/1.png, root/dog/2.png)")
    result = []
    for folder in folders:
        files = sorted(_image_files(folder))
        if not files:
            raise DataError(f"class folder {folder} holds no PNG or JPEG images; add images or "
                            "remove the folder")
        result.append((folder.name, files))
    return result


def _image_files(folder: Path) -> list[Path]:
    """Image files under `folder`, recursively (os.scandir: one stat-free pass, ~8x rglob)."""
    found: list[Path] = []
    stack = [folder]
    while stack:
        current = stack.pop()
        with os.scandir(current) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    stack.append(Path(entry.path))
                elif entry.is_file() and os.path.splitext(entry.name)[1].lower() \
                        in IMAGE_SUFFIXES:
                    found.append(Path(entry.path))
    return found


def _unreadable(path: Path, e: Exception) -> DataError:
    return DataError(f"{path} is not a readable PNG/JPEG image ({e}); replace or remove it")


def _open_first(path: Path) -> tuple[str, tuple[int, int]]:
    """Mode and (W, H) of the first image: they fix the layout when image_shape is not given."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return img.mode, img.size
    except (UnidentifiedImageError, OSError) as e:
        raise _unreadable(path, e) from None


class _Decoder:
    """Decodes files [start, stop) into `out`; records the first problem by file index."""

    def __init__(self, files: list[Path], out: np.ndarray, size: tuple[int, int],
                 resize: bool, first_file: Path) -> None:
        self.files, self.out, self.size, self.resize = files, out, size, resize
        self.first_file = first_file
        self.mode = "L" if out.shape[1] == 1 else "RGB"
        self.errors: dict[int, DataError] = {}
        self.colour_at: int | None = None  # first colour image seen while reading grayscale

    def __call__(self, start: int, stop: int) -> None:
        from PIL import Image, UnidentifiedImageError

        for i in range(start, stop):
            path = self.files[i]
            try:
                with Image.open(path, formats=_FORMATS) as img:
                    img.load()
                    if self.mode == "L" and not self.resize and img.mode not in _GRAY_MODES:
                        self.colour_at = i if self.colour_at is None else min(self.colour_at, i)
                        continue
                    if img.size != self.size:
                        if not self.resize:
                            w, h = self.size
                            self.errors[i] = DataError(
                                f"{path} is {img.size[0]}x{img.size[1]} pixels but "
                                f"{self.first_file} is {w}x{h}; make all images the same size, "
                                "or set image_shape (e.g. 3x32x32) to resize them")
                            return
                        img = img.convert(self.mode).resize(self.size)
                    arr = np.asarray(img if img.mode == self.mode else img.convert(self.mode))
            except (UnidentifiedImageError, OSError) as e:
                self.errors[i] = _unreadable(path, e)
                return
            if arr.ndim == 2:
                self.out[i, 0] = arr
            else:
                self.out[i] = arr.transpose(2, 0, 1)


def _decode_all(files: list[Path], channels: int, size: tuple[int, int], resize: bool,
                threads: int) -> tuple[np.ndarray | None, int | None]:
    """The (N, C, H, W) float32 array, or (None, index) when a colour image needs C = 3."""
    w, h = size
    out = np.empty((len(files), channels, h, w), dtype=np.float32)
    decoder = _Decoder(files, out, size, resize, files[0])
    bounds = [(s, min(s + _CHUNK, len(files))) for s in range(0, len(files), _CHUNK)]
    if threads <= 1 or len(bounds) == 1:
        for start, stop in bounds:
            decoder(start, stop)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda b: decoder(*b), bounds))
    if decoder.errors:
        raise decoder.errors[min(decoder.errors)]
    if decoder.colour_at is not None:
        return None, decoder.colour_at
    return out, None


def read_image_folder(root: Path, *, source: str,
                      image_shape: tuple[int, int, int] | None = None,
                      threads: int | None = None) -> Dataset:
    """Read every image under `root/<class>/` into a Dataset (raw 0..255 pixel values).

    `threads`: decoding threads (default: the CPU count, at most 4).
    """
    classes_files = _class_folders(root)
    files = [path for _, paths in classes_files for path in paths]
    labels = np.concatenate([np.full(len(paths), label, dtype=np.int64)
                             for label, (_, paths) in enumerate(classes_files)])
    threads = threads or min(_MAX_THREADS, os.cpu_count() or 1)
    if image_shape is not None:
        channels = image_shape[0]
        if channels not in (1, 3):
            raise DataError(f"image_shape must have 1 (grayscale) or 3 (RGB) channels for "
                            f"images, got {channels}")
        x, _ = _decode_all(files, channels, (image_shape[2], image_shape[1]), True, threads)
    else:
        mode, size = _open_first(files[0])
        x, _ = _decode_all(files, 1 if mode in _GRAY_MODES else 3, size, False, threads)
        if x is None:  # a colour image in a folder that started grayscale: read all as RGB
            x, _ = _decode_all(files, 3, size, False, threads)
    assert x is not None
    return Dataset(x=x, y=labels, classes=[name for name, _ in classes_files], source=source)
