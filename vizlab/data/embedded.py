"""The two real datasets that ship inside scikit-learn: ``digits`` and ``photos``.

Both are on disk as soon as scikit-learn is installed, so the lectures work offline and in
CI. ``digits`` is small enough (1,797 images of 8x8) that a network trains on it in seconds
on a laptop CPU; ``photos`` gives two natural images on which augmentations are easy to see.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from vizlab.data.dataset import Dataset, Split
from vizlab.data.splits import carve_validation, derive_seed, empty_split, stratified_holdout

__all__ = ["load_digits", "load_photos", "PHOTO_SIZE", "DIGITS_TEST_FRACTION"]

#: Fraction of the digits held out (per class) as the test split.
DIGITS_TEST_FRACTION = 0.2

#: (H, W) of the photos. The originals are 427x640; 128x192 keeps their 2:3 aspect ratio,
#: so nothing is cropped away and the images stay small enough for quick augmentation demos.
PHOTO_SIZE = (128, 192)


@functools.lru_cache(maxsize=1)
def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's digits as (pixels (1797, 64) float64 counts, labels), parsed once per process.

    Parsing the bundled CSV takes a noticeable moment, and notebooks reload often. Callers
    convert (and so copy) before building tensors, so the cached arrays are never shared.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    return bunch.data, bunch.target


def load_digits(*, n: int | None = None, val_fraction: float = 0.1, seed: int = 0) -> Dataset:
    """The 8x8 handwritten digits of scikit-learn (UCI optical recognition data).

    Pixel values are counts 0..16 in the original; they are divided by 16 to land in [0, 1].
    A stratified 20% is held out as the test split, then ``val_fraction`` of the rest becomes
    the validation split. ``n`` caps the training pool (train + val) and leaves the test split
    whole, so small runs are still measured on the same test images.

    Shape:
        x: (N, 1, 8, 8) float32 in [0, 1]; y: (N,) int64 in 0..9
    """
    pixels, targets = _sklearn_digits()
    x = torch.from_numpy(pixels.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = torch.from_numpy(targets.astype(np.int64))

    generator = torch.Generator().manual_seed(derive_seed(seed, "test"))
    pool_idx, test_idx = stratified_holdout(y, DIGITS_TEST_FRACTION, generator)
    # Shuffle the pool once so that ``n`` keeps a random (not writer-ordered) subset.
    pool_idx = pool_idx[torch.randperm(len(pool_idx), generator=generator)]
    if n is not None:
        pool_idx = pool_idx[:n]
    pool = Split(x[pool_idx], y[pool_idx])
    train, val = carve_validation(pool, val_fraction, seed)
    return Dataset(
        "digits",
        [str(d) for d in range(10)],
        train,
        val,
        Split(x[test_idx], y[test_idx]),
        {"source": "sklearn.datasets.load_digits", "seed": seed, "scale": "counts / 16"},
    )


def load_photos(*, n: int | None = None) -> Dataset:
    """The sample photographs of scikit-learn (``china.jpg`` and ``flower.jpg``).

    They are resized with PIL's bicubic filter, which low-passes when shrinking, so the small
    versions do not alias. Everything sits in the training split; validation and test are
    empty (with the right image shape) because the photos are there to look at
    augmentations, not to measure accuracy. ``n`` keeps the first ``n`` photos.

    Shape:
        x: (N, 3, 128, 192) float32 in [0, 1]; y: (N,) int64, the photo's index
    """
    from PIL import Image
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    names = [Path(name).stem for name in bunch.filenames]
    h, w = PHOTO_SIZE
    arrays = [
        np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.BICUBIC))
        for img in bunch.images
    ]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)
    x = x.clamp_(0.0, 1.0).contiguous()  # (N, 3, H, W)
    y = torch.arange(len(names), dtype=torch.long)
    if n is not None:
        x, y, names = x[:n], y[:n], names[:n]
    return Dataset(
        "photos",
        names,
        Split(x, y),
        empty_split(x),
        empty_split(x),
        {"source": "sklearn.datasets.load_sample_images", "size": PHOTO_SIZE},
    )
