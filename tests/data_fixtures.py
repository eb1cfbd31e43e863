"""Writers for tiny files in the real on-disk formats of MNIST and CIFAR-10, for the data tests.

Each writer follows the published format byte for byte, so a test that reads the file back
checks the reader against the format, not against itself.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file of unsigned bytes: magic, big-endian dims, then the values."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x0800 | array.ndim if magic is None else magic
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.tobytes()


def write(path: Path, data: bytes, *, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def make_mnist(folder: Path, *, n_train=30, n_test=10, gz=False, seed=0):
    """Write the four MNIST files into ``folder``; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for stem, array in arrays.items():
        write(folder / stem, idx_bytes(array), gz=gz)
    return arrays


def cifar_arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n)


def cifar_binary_bytes(data: np.ndarray, labels: np.ndarray) -> bytes:
    records = np.concatenate([labels.astype(np.uint8)[:, None], data], axis=1)
    return records.tobytes()


def cifar_pickle_bytes(data: np.ndarray, labels: np.ndarray) -> bytes:
    """A batch like the real ones: a dict with bytes keys, pickled with protocol 2."""
    batch = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": [int(v) for v in labels],
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    return pickle.dumps(batch, protocol=2)


CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer"] + [
    "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


def make_cifar(folder: Path, *, binary: bool, per_batch=8, n_test=6):
    """Write a complete small CIFAR-10 folder; returns (train_data, train_labels, test...)."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = cifar_binary_bytes if binary else cifar_pickle_bytes
    suffix = ".bin" if binary else ""
    train = [cifar_arrays(per_batch, seed=i) for i in range(1, 6)]
    for i, (data, labels) in enumerate(train, start=1):
        (folder / f"data_batch_{i}{suffix}").write_bytes(writer(data, labels))
    test = cifar_arrays(n_test, seed=99)
    (folder / f"test_batch{suffix}").write_bytes(writer(*test))
    if binary:
        (folder / "batches.meta.txt").write_text("\n".join(CIFAR_NAMES) + "\n\n")
    else:
        meta = {b"label_names": [n.encode() for n in CIFAR_NAMES], b"num_vis": 3072}
        (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    x_train = np.concatenate([d for d, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return x_train, y_train, test[0], test[1]


def py2_cifar_pickle(data: np.ndarray, labels: np.ndarray) -> bytes:
    """The opcodes Python 2's cPickle wrote for a CIFAR batch (protocol 2, str = bytes).

    Built by hand because Python 3 cannot write Python 2 ``str`` objects. This is what the
    official ``cifar-10-batches-py`` files contain: ``numpy.core.multiarray._reconstruct``,
    ``numpy.ndarray`` and ``numpy.dtype`` globals, and 8-bit strings for keys and pixels.
    """

    def s(b: bytes) -> bytes:  # a Python 2 str
        return (
            (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<I", len(b)) + b)
        )

    def i(v: int) -> bytes:
        return b"J" + struct.pack("<i", v)

    array = (
        b"cnumpy.core.multiarray\n_reconstruct\n"
        + b"cnumpy\nndarray\n" + i(0) + b"\x85" + s(b"b") + b"\x87R"
        + b"(" + i(1) + i(data.shape[0]) + i(data.shape[1]) + b"\x86"
        + b"cnumpy\ndtype\n" + s(b"u1") + i(0) + i(1) + b"\x87R"
        + b"(" + i(3) + s(b"|") + b"NNN" + i(-1) + i(-1) + i(0) + b"tb"
        + b"\x89" + s(data.tobytes()) + b"tb"
    )  # fmt: skip
    label_list = b"](" + b"".join(i(int(v)) for v in labels) + b"e"
    return (
        b"\x80\x02}("
        + s(b"data") + array
        + s(b"labels") + label_list
        + s(b"batch_label") + s(b"training batch 1 of 5")
        + b"u."
    )  # fmt: skip


def tar_gz(members: dict[str, bytes]) -> bytes:
    """A .tar.gz archive holding ``members`` (name -> contents) as regular files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
