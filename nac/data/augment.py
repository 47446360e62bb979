"""Training-time augmentation: settings recorded on the train split, applied by the trainer.

Settings (meta.json "augmentation"): {"random_shift": k, "hflip": bool}. `random_shift`
translates each image by up to k pixels in H and W (zero padding in normalised space, i.e.
the channel mean); `hflip` mirrors half the images left-right. None means no augmentation.
"""

from __future__ import annotations

import numpy as np

from nac.data.errors import DataError

__all__ = ["augment_batch", "augmentation_settings"]


def augmentation_settings(shape: tuple[int, int, int], random_shift: int = 0,
                          hflip: bool = False) -> dict | None:
    """Validated settings for images of `shape` (C, H, W); None when nothing is enabled."""
    if isinstance(random_shift, bool) or not isinstance(random_shift, int | np.integer):
        raise DataError(f"augment_shift must be a whole number of pixels, got {random_shift!r}")
    if not isinstance(hflip, bool | np.bool_):
        raise DataError(f"augment_hflip must be true or false, got {hflip!r}")
    _, h, w = shape
    limit = min(h, w) // 2
    if random_shift < 0 or random_shift > limit:
        kind = " (flat vectors: shifting needs image data; ingest with image_shape)" \
            if limit == 0 else ""
        raise DataError(f"augment_shift={random_shift} is out of range for {h}x{w} images"
                        f"{kind}; use 0..{limit}")
    if random_shift == 0 and not hflip:
        return None
    return {"random_shift": int(random_shift), "hflip": bool(hflip)}


def augment_batch(x: np.ndarray, settings: dict | None, rng: np.random.Generator) -> np.ndarray:
    """A randomly augmented copy of an (N, C, H, W) batch (x itself when settings is None)."""
    if not settings:
        return x
    out = np.array(x, copy=True)
    n, _, h, w = out.shape
    if settings.get("hflip"):
        flip = rng.random(n) < 0.5
        out[flip] = out[flip][..., ::-1]
    k = int(settings.get("random_shift", 0))
    if k:
        padded = np.pad(out, ((0, 0), (0, 0), (k, k), (k, k)))
        dy = rng.integers(0, 2 * k + 1, size=n)
        dx = rng.integers(0, 2 * k + 1, size=n)
        for i in range(n):
            out[i] = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
    return out
