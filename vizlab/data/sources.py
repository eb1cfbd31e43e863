"""Where the file-backed datasets live: folders under the data root, official URLs, checksums.

This is the one place that knows about the outside world. The readers (``idx``, ``cifar``)
only parse files; the downloader only moves bytes. Tests and offline users can point the
downloader elsewhere by editing ``MIRRORS`` or by setting ``$VIZLAB_MIRROR`` to a base URL
(``http://``, ``https://`` or ``file://``) under which the files sit with their usual names.

The data root is ``root=`` if given, else ``$VIZLAB_DATA``, else ``~/.cache/vizlab`` (or
``$XDG_CACHE_HOME/vizlab`` when that variable is set).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "FILE_DATASETS",
    "MIRRORS",
    "CHECKSUMS",
    "FOLDERS",
    "DOWNLOAD_FOLDERS",
    "CLASSES",
    "HOMEPAGES",
    "resolve_root",
    "mirrors_for",
    "how_to_get",
]

FILE_DATASETS = ("cifar10", "mnist", "fashion_mnist")

#: Base URLs tried in order; a file's URL is the base followed by its file name.
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion_mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
    # The binary version: reading it never involves pickle.
    "cifar10": ["https://www.cs.toronto.edu/~kriz/"],
}

#: MD5 of every downloaded file, as published by the dataset authors.
CHECKSUMS: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "cifar10": {"cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530"},
}

#: Folders (relative to the root) searched in order. They cover the layouts that the
#: official archives and torchvision's downloaders leave behind.
FOLDERS: dict[str, tuple[str, ...]] = {
    "mnist": ("mnist", "MNIST/raw", "MNIST"),
    "fashion_mnist": ("fashion_mnist", "fashion-mnist", "FashionMNIST/raw", "FashionMNIST"),
    "cifar10": (
        "cifar-10-batches-bin",
        "cifar-10-batches-py",
        "cifar10/cifar-10-batches-bin",
        "cifar10/cifar-10-batches-py",
    ),
}

#: Where ``download=True`` puts the files (relative to the root). CIFAR's archive unpacks
#: into ``cifar-10-batches-bin`` by itself, so it goes into the root.
DOWNLOAD_FOLDERS = {"mnist": "mnist", "fashion_mnist": "fashion_mnist", "cifar10": "."}

CLASSES: dict[str, list[str]] = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],  # fmt: skip
    "cifar10": [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ],  # fmt: skip
}

HOMEPAGES = {
    "mnist": "https://yann.lecun.com/exdb/mnist/",
    "fashion_mnist": "https://github.com/zalandoresearch/fashion-mnist",
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar.html",
}


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root``, else ``$VIZLAB_DATA``, else the user's cache folder."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("VIZLAB_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "vizlab"


def mirrors_for(name: str) -> list[str]:
    """Base URLs to try for ``name``: ``$VIZLAB_MIRROR`` first, then ``MIRRORS[name]``."""
    bases = list(MIRRORS[name])
    env = os.environ.get("VIZLAB_MIRROR")
    if env:
        bases.insert(0, env)
    return [b if b.endswith("/") else b + "/" for b in bases]


def how_to_get(name: str, root: Path) -> str:
    """A paragraph telling the user how to obtain ``name`` by hand or automatically."""
    base = mirrors_for(name)[0]
    if name == "cifar10":
        manual = (
            f"download {base}cifar-10-binary.tar.gz (or the python version "
            f"{base}cifar-10-python.tar.gz) from {HOMEPAGES[name]} and unpack it in {root}, "
            f"which creates {root / 'cifar-10-batches-bin'} (or cifar-10-batches-py)"
        )
    else:
        files = ", ".join(base + f for f in CHECKSUMS[name])
        manual = (
            f"download {files} (see {HOMEPAGES[name]}) into {root / DOWNLOAD_FOLDERS[name]}; "
            "gzipped or unpacked files both work"
        )
    return (
        f"To get {name}, {manual}. Or let vizlab fetch and verify it: "
        f"vizlab.data.load({name!r}, root=..., download=True). The data folder is root=... "
        "or else the VIZLAB_DATA environment variable."
    )
