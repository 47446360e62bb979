"""Training-time augmentation: settings recorded on the train split, applied by the trainer.

Settings (meta.json "augmentation"): {"random_shift": k, "hflip": bool}. `random_shift`
translates each image by up to k pixels in H and W (zero padding in normalised space, i.e.
the channel mean), then `hflip` mirrors half the images left-right. None means no
augmentation. The one implementation that applies them is `nac.batches.augment` (torch,
vectorised on the training device; tests/nac/test_nac_training.py checks it against a
per-image reference).
"""

from __future__ import annotations

import numpy as np

from nac.data.errors import DataError

__all__ = ["augmentation_settings"]


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
