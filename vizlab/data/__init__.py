"""Datasets for the lectures: ``load(name)`` returns a ``Dataset`` of NCHW float32 images.

Embedded (always available, no download):
    ``"digits"``   the real 8x8 handwritten digits shipped with scikit-learn, (1, 8, 8).
    ``"shapes"``   procedural 32x32 RGB shapes on cluttered backgrounds, (3, 32, 32).
    ``"photos"``   scikit-learn's two sample photographs at 128x192, (3, 128, 192).

From files under the data root (``root=``, else ``$VIZLAB_DATA``, else ``~/.cache/vizlab``):
    ``"cifar10"``  binary (``cifar-10-batches-bin``) or python (``cifar-10-batches-py``)
                   version, (3, 32, 32).
    ``"mnist"``, ``"fashion_mnist"``  IDX files, raw or ``.gz``, (1, 28, 28), looked up in
                   ``mnist/``, ``MNIST/raw/``, ``MNIST/`` (resp. ``fashion_mnist/``,
                   ``fashion-mnist/``, ``FashionMNIST/raw/``, ``FashionMNIST/``).

``download=True`` fetches a missing file dataset from its official site (see ``sources``).
"""

from __future__ import annotations

import importlib.util
import numbers
import os
from pathlib import Path

from vizlab.data import sources
from vizlab.data.cifar import load_cifar10, locate_cifar, missing_cifar
from vizlab.data.dataset import Dataset, DatasetError, Split
from vizlab.data.download import Progress, extract_tar, fetch_from_mirrors, md5sum
from vizlab.data.embedded import load_digits, load_photos
from vizlab.data.idx import load_idx_dataset, locate_idx, missing_idx
from vizlab.data.shapes import load_shapes

__all__ = [
    "load",
    "available",
    "fetch_dataset",
    "names",
    "Dataset",
    "Split",
    "DatasetError",
    "Unavailable",
]

_EMBEDDED = ("digits", "shapes", "photos")


def names() -> list[str]:
    """Every name ``load`` accepts."""
    return [*_EMBEDDED, *sources.FILE_DATASETS]


class Unavailable(str):
    """Why a dataset cannot be loaded. A string that is false in a boolean test, so both
    ``if available()["mnist"]:`` and printing the reason do the right thing."""

    def __bool__(self) -> bool:
        return False


def _check_args(name: object, n: object, val_fraction: object, seed: object) -> None:
    if name not in names():
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(names())}")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(f"n must be a positive integer or None, got {n!r}")
        if n <= 0:
            raise ValueError(f"n must be a positive number of training images, got {n}")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, numbers.Real):
        raise TypeError(f"val_fraction must be a number in [0, 1), got {val_fraction!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(
            f"val_fraction must be in [0, 1) (the share of training images kept for "
            f"validation), got {val_fraction}"
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if name == "shapes" and n is not None:
        _check_shapes_size(int(n))


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # not on every platform
        return None


def _check_shapes_size(n: int) -> None:
    """Refuse a ``shapes`` size whose float32 images would not fit in half the RAM,
    before a single image is drawn (the generator would otherwise allocate and fail)."""
    need = (n + max(n // 5, 1)) * 3 * 32 * 32 * 4  # train + val + test, float32
    ram = _physical_memory()
    limit = ram // 2 if ram else 16 * 2**30
    if need > limit:
        fits = max(1, limit * 5 // (6 * 3 * 32 * 32 * 4))
        raise ValueError(
            f"n={n:,} shapes images would take {need / 2**30:,.1f} GiB as float32, more than "
            f"the {limit / 2**30:,.1f} GiB (half this machine's memory) vizlab allows; use "
            f"n <= {fits:,}"
        )


def _locate(name: str, root: Path) -> tuple[Path, bool] | None:
    if name == "cifar10":
        return locate_cifar(root)
    folder = locate_idx(name, root)
    return None if folder is None else (folder, False)


def _missing_message(name: str, root: Path) -> str:
    looked = ", ".join(str(root / rel) for rel in sources.FOLDERS[name])
    text = f"{name} was not found under {root} (looked in {looked})."
    # A folder that exists but is incomplete deserves a precise message.
    missing = missing_cifar if name == "cifar10" else missing_idx
    for rel in sources.FOLDERS[name]:
        if (root / rel).is_dir():
            files = ", ".join(missing(root / rel))
            text += f" {root / rel} exists but lacks {files}."
            break
    return text


def fetch_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    progress: Progress | None = None,
) -> Path:
    """Download file dataset ``name`` into the data root (checksummed) and return the root.

    Files already present with the right checksum are not downloaded again.
    """
    if name not in sources.FILE_DATASETS:
        raise ValueError(f"only {', '.join(sources.FILE_DATASETS)} are downloaded, not {name!r}")
    root = sources.resolve_root(root)
    folder = root / sources.DOWNLOAD_FOLDERS[name]
    help_text = sources.how_to_get(name, root)
    for filename, md5 in sources.CHECKSUMS[name].items():
        path = folder / filename
        if not (path.is_file() and md5sum(path) == md5):
            fetch_from_mirrors(
                filename, sources.mirrors_for(name), folder, md5=md5,
                help_text=help_text, progress=progress,
            )  # fmt: skip
        if filename.endswith((".tar.gz", ".tgz", ".tar")):
            extract_tar(path, folder)
    return root


def load(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    download: bool = False,
    n: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> Dataset:
    """Load dataset ``name`` with seeded train / val / test splits.

    Args:
        name: one of ``names()``.
        root: folder holding the file datasets (default ``$VIZLAB_DATA`` or
            ``~/.cache/vizlab``); ignored by the embedded ones.
        download: fetch a missing file dataset from its official site into ``root``.
        n: number of training images (train + val). ``shapes`` draws this many (default
            10,000) and a test set of ``n // 5``; file datasets keep the first ``n``
            training images; ``digits`` keeps ``n`` of its shuffled training pool.
        val_fraction: share of the training images held out (per class) for validation.
        seed: the same seed gives the same images and the same split.

    Raises:
        ValueError: unknown name or out-of-range ``n`` / ``val_fraction``.
        DatasetError: files missing or corrupt; the message says where to get them.
    """
    _check_args(name, n, val_fraction, seed)
    if name == "digits":
        return load_digits(n=n, val_fraction=val_fraction, seed=seed)
    if name == "shapes":
        return load_shapes(n=n, val_fraction=val_fraction, seed=seed)
    if name == "photos":
        return load_photos(n=n)

    root_path = sources.resolve_root(root)
    found = _locate(name, root_path)
    if found is None and download:
        fetch_dataset(name, root_path)
        found = _locate(name, root_path)
    if found is None:
        raise DatasetError(
            f"{_missing_message(name, root_path)} {sources.how_to_get(name, root_path)}"
        )
    folder, binary = found
    hint = sources.how_to_get(name, root_path)
    if name == "cifar10":
        return load_cifar10(folder, binary, n=n, val_fraction=val_fraction, seed=seed, hint=hint)
    return load_idx_dataset(name, folder, n=n, val_fraction=val_fraction, seed=seed, hint=hint)


def available(root: str | os.PathLike | None = None) -> dict[str, bool | Unavailable]:
    """Which datasets ``load`` can open here without downloading.

    Returns:
        ``{name: True}`` for a loadable dataset, ``{name: Unavailable(reason)}`` otherwise
        (a falsy string). File datasets are only looked for, not parsed, so a corrupt file
        still shows as available and fails with a clear message in ``load``.
    """
    root_path = sources.resolve_root(root)
    status: dict[str, bool | Unavailable] = {}
    needs = {"digits": ["sklearn"], "shapes": [], "photos": ["sklearn", "PIL"]}
    for name in _EMBEDDED:
        missing = [m for m in needs[name] if importlib.util.find_spec(m) is None]
        status[name] = Unavailable(f"missing dependency: {missing[0]}") if missing else True
    for name in sources.FILE_DATASETS:
        found = _locate(name, root_path) is not None
        status[name] = True if found else Unavailable(_missing_message(name, root_path))
    return status
