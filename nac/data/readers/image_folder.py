"""A directory of images in class sub-folders (`root/<class>/<image>.png|jpg|jpeg`).

Grayscale images give one channel and colour ones three (all converted alike); without
`image_shape` every image must have the same size, with it images are resized to H x W.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nac.data.errors import DataError
from nac.data.format import Dataset
from nac.data.labels import class_sort_key

__all__ = ["IMAGE_SUFFIXES", "read_image_folder"]

#: File suffixes read as images (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _class_folders(root: Path) -> list[tuple[str, list[Path]]]:
    folders = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: class_sort_key(p.name))
    if not folders:
        raise DataError(f"{root} has no class sub-folders; put images in one folder per class "
                        "(e.g. root/cat/1.png, root/dog/2.png)")
    result = []
    for folder in folders:
        files = sorted(p for p in folder.rglob("*")
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                       and not p.name.startswith("."))
        if not files:
            raise DataError(f"class folder {folder} holds no PNG or JPEG images; add images or "
                            "remove the folder")
        result.append((folder.name, files))
    return result


def read_image_folder(root: Path, *, source: str,
                      image_shape: tuple[int, int, int] | None = None) -> Dataset:
    """Read every image under `root/<class>/` into a Dataset (raw 0..255 pixel values)."""
    from PIL import Image, UnidentifiedImageError

    classes_files = _class_folders(root)
    if image_shape is not None:
        channels = image_shape[0]
        if channels not in (1, 3):
            raise DataError(f"image_shape must have 1 (grayscale) or 3 (RGB) channels for "
                            f"images, got {channels}")
    else:
        channels = 1
    images: list[np.ndarray] = []
    labels: list[int] = []
    size: tuple[int, int] | None = None if image_shape is None else (image_shape[2],
                                                                      image_shape[1])
    first_file: Path | None = None
    decoded = []
    for label, (_, files) in enumerate(classes_files):
        for path in files:
            try:
                with Image.open(path) as img:
                    img.load()
                    decoded.append((path, label, img.copy()))
            except (UnidentifiedImageError, OSError) as e:
                raise DataError(f"{path} is not a readable PNG/JPEG image ({e}); replace or "
                                "remove it") from None
    if image_shape is None and any(img.mode not in ("L", "1", "I;16", "I", "F")
                                   for _, _, img in decoded):
        channels = 3
    mode = "L" if channels == 1 else "RGB"
    for path, label, img in decoded:
        img = img.convert(mode)
        if size is None:
            size, first_file = img.size, path
        elif img.size != size and image_shape is None:
            raise DataError(
                f"{path} is {img.size[0]}x{img.size[1]} pixels but {first_file} is "
                f"{size[0]}x{size[1]}; make all images the same size, or set image_shape "
                "(e.g. 3x32x32) to resize them"
            )
        if img.size != size:
            img = img.resize(size)
        arr = np.asarray(img, dtype=np.float32)
        images.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
        labels.append(label)
    x = np.stack(images).astype(np.float32)
    return Dataset(x=x, y=np.asarray(labels, dtype=np.int64),
                   classes=[name for name, _ in classes_files], source=source)
