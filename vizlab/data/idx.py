"""Reader for the IDX files of MNIST and Fashion-MNIST, raw or gzipped.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the values in C order. MNIST uses
type 0x08 (unsigned bytes): images have magic 0x00000803 and dimensions (count, 28, 28),
labels have magic 0x00000801 and dimension (count,).

Files come from the internet, so the reader trusts nothing: it checks the magic and the
dimensions, and that the data is exactly as long as the header says, before it allocates the
array. A header that claims 2**31 images in a 100-byte file is refused, not obeyed.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np
import torch

from vizlab.data import sources
from vizlab.data.dataset import Dataset, DatasetError, Split
from vizlab.data.splits import carve_validation

__all__ = [
    "IMAGES_MAGIC",
    "LABELS_MAGIC",
    "IDX_FILES",
    "read_idx_images",
    "read_idx_labels",
    "find_idx",
    "locate_idx",
    "missing_idx",
    "load_idx_dataset",
]

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
# Deflate never expands data by more than about 1032:1; a gzipped file whose header claims
# more than this many bytes per compressed byte cannot be telling the truth.
_MAX_GZIP_RATIO = 1100
_CHUNK = 1 << 20

#: The four files of an MNIST-style dataset: (images, labels) per split, without ``.gz``.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def find_idx(folder: Path, stem: str) -> Path | None:
    """The IDX file ``stem`` in ``folder``, raw preferred over ``.gz``; None if neither."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_header(f, path: Path, magic: int, ndim: int, what: str, hint: str) -> tuple[int, ...]:
    # The magic number first: a wrong one is the most useful thing to report.
    head = f.read(4)
    found = int.from_bytes(head, "big") if len(head) == 4 else None
    if found != magic:
        shown = "none (file too short)" if found is None else f"0x{found:08x}"
        raise DatasetError(
            f"{path} is not an IDX {what} file: magic number {shown}, expected "
            f"0x{magic:08x}. {hint}"
        )
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DatasetError(f"{path} ends inside its IDX {what} header; it is truncated. {hint}")
    return tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))


def _read_idx(
    path: Path, magic: int, ndim: int, what: str, hint: str, tail: tuple[int, ...] = ()
) -> np.ndarray:
    """Read an IDX file of unsigned bytes and return the values shaped as its header says.

    ``tail`` (if given) is the required size of every dimension after the first, checked
    right after the header, before anything large is allocated.
    """
    if not path.is_file():
        raise DatasetError(f"{path} does not exist. {hint}")
    gz = path.suffix == ".gz"
    try:
        disk_size = path.stat().st_size
        with (gzip.open if gz else open)(path, "rb") as f:
            dims = _read_header(f, path, magic, ndim, what, hint)
            if tail and dims[1:] != tail:
                raise DatasetError(
                    f"{path} holds {what}s of shape {dims[1:]}, expected {tail}. {hint}"
                )
            header = 4 + 4 * ndim
            payload = math.prod(dims)  # exact: Python ints do not overflow
            if gz and payload > _MAX_GZIP_RATIO * disk_size:
                raise DatasetError(
                    f"{path}: its header claims {dims} values, more than a {disk_size}-byte "
                    f"gzip file can hold; the file is corrupt. {hint}"
                )
            if not gz and disk_size != header + payload:
                raise DatasetError(
                    f"{path} holds {disk_size - header} data bytes but its header {dims} "
                    f"needs {payload}; the file is truncated or corrupt. {hint}"
                )
            data = np.empty(payload, dtype=np.uint8)
            view, got = memoryview(data), 0
            while got < payload:  # readinto fills the array above and allocates nothing
                k = f.readinto(view[got : min(payload, got + _CHUNK)])
                if not k:
                    break
                got += k
            extra = f.read(1)
    except DatasetError:
        raise
    except (OSError, EOFError, zlib.error) as err:
        msg = f"{path} could not be read as an IDX {what} file ({err}). {hint}"
        raise DatasetError(msg) from None
    if got != payload:
        raise DatasetError(
            f"{path} ends after {got} of the {payload} data bytes its header {dims} announces; "
            f"the file is truncated. {hint}"
        )
    if extra:
        raise DatasetError(
            f"{path} is longer than its header {dims} says; it is not a valid IDX file. {hint}"
        )
    return data.reshape(dims)


def read_idx_images(path: Path, *, rows: int = 28, cols: int = 28, hint: str = "") -> np.ndarray:
    """Read an IDX image file (magic 0x00000803) whose images are ``rows`` x ``cols``.

    Shape:
        returns (N, rows, cols) uint8

    Raises:
        DatasetError: missing, truncated, oversized or wrong-format file; the message names
            the file and ends with ``hint`` (where to get the data).
    """
    return _read_idx(Path(path), IMAGES_MAGIC, 3, "image", hint, tail=(rows, cols))


def read_idx_labels(path: Path, *, num_classes: int = 10, hint: str = "") -> np.ndarray:
    """Read an IDX label file (magic 0x00000801) and check every label is a class index.

    Shape:
        returns (N,) uint8 with values in [0, num_classes)
    """
    path = Path(path)
    labels = _read_idx(path, LABELS_MAGIC, 1, "label", hint)
    if labels.size and int(labels.max()) >= num_classes:
        raise DatasetError(
            f"{path} contains label {int(labels.max())}, but there are only {num_classes} "
            f"classes (0..{num_classes - 1}); the file is corrupt. {hint}"
        )
    return labels


def missing_idx(folder: Path) -> list[str]:
    """The IDX files (by stem) that ``folder`` lacks, in neither raw nor gzipped form."""
    stems = [stem for pair in IDX_FILES.values() for stem in pair]
    return [stem for stem in stems if find_idx(folder, stem) is None]


def locate_idx(name: str, root: Path) -> Path | None:
    """The first of ``sources.FOLDERS[name]`` under ``root`` that holds all four files."""
    for rel in sources.FOLDERS[name]:
        if not missing_idx(root / rel):
            return root / rel
    return None


def _read_split(folder: Path, split: str, hint: str, limit: int | None) -> Split:
    images_stem, labels_stem = IDX_FILES[split]
    images_path, labels_path = find_idx(folder, images_stem), find_idx(folder, labels_stem)
    if images_path is None or labels_path is None:
        missing = images_stem if images_path is None else labels_stem
        raise DatasetError(f"{folder / missing} (or {missing}.gz) does not exist. {hint}")
    images = read_idx_images(images_path, hint=hint)
    labels = read_idx_labels(labels_path, hint=hint)
    if len(images) != len(labels):
        raise DatasetError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
            f"labels; the two files do not belong together. {hint}"
        )
    images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images).unsqueeze(1).float().div_(255.0)  # (N, 1, 28, 28)
    return Split(x, torch.from_numpy(labels.astype(np.int64)))


def load_idx_dataset(
    name: str, folder: Path, *, n: int | None, val_fraction: float, seed: int, hint: str
) -> Dataset:
    """Build ``mnist`` or ``fashion_mnist`` from the IDX files in ``folder``.

    ``n`` keeps the first ``n`` training images (the pool split into train and val); the
    test split is always the full official test set.

    Shape:
        x: (N, 1, 28, 28) float32 in [0, 1]; y: (N,) int64 in 0..9
    """
    pool = _read_split(folder, "train", hint, n)
    test = _read_split(folder, "test", hint, None)
    train, val = carve_validation(pool, val_fraction, seed)
    info = {"source": str(folder), "seed": seed, "homepage": sources.HOMEPAGES[name]}
    return Dataset(name, list(sources.CLASSES[name]), train, val, test, info)
