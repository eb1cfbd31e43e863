"""Readers for CIFAR-10: the binary version and the python (pickle) version.

Binary version (``cifar-10-batches-bin``): each batch file is a run of 3,073-byte records,
one label byte followed by 3,072 pixel bytes (1,024 red, then green, then blue, each a 32x32
image in row order). ``batches.meta.txt`` lists the class names, one per line.

Python version (``cifar-10-batches-py``): each batch is a dict pickled by Python 2 with keys
``data`` (uint8 array of shape (10000, 3072), same pixel order), ``labels`` (list of ints),
``batch_label`` and ``filenames``; ``batches.meta`` holds ``label_names``. Unpickling a file
from the internet with plain ``pickle.load`` would let it run any code it likes, so these are
read with ``SafeUnpickler``, which can build only dicts, lists, strings, bytes, numbers and
numpy arrays. Anything else in the file is refused before it is created.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path

import numpy as np
import torch

from vizlab.data import sources
from vizlab.data.dataset import Dataset, DatasetError, Split
from vizlab.data.splits import carve_validation

__all__ = [
    "SafeUnpickler",
    "safe_load_pickle",
    "read_binary_batch",
    "read_pickle_batch",
    "locate_cifar",
    "missing_cifar",
    "load_cifar10",
]

_RECORD = 1 + 3 * 32 * 32
_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
_TEST = "test_batch"


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """What ``_codecs.encode`` is needed for: Python 3 writes bytes into protocol-2 pickles
    as ``_codecs.encode(text, "latin1")``. Other codecs (zlib, base64, ...) are not needed."""
    if encoding.replace("-", "").replace("_", "").lower() not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"disallowed codec {encoding!r} in _codecs.encode")
    return codecs.encode(text, "latin1")


def _allowed() -> dict[tuple[str, str], object]:
    # numpy has moved its array rebuilder between modules (numpy.core -> numpy._core); old
    # and new pickles name either. Take the function from numpy itself instead of importing
    # it by a name that may be deprecated.
    rebuild = np.ndarray((0,)).__reduce__()[0]
    table: dict[tuple[str, str], object] = {("_codecs", "encode"): _latin1_encode}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[module, "_reconstruct"] = rebuild
    for module in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray"):
        table[module, "ndarray"] = np.ndarray
        table[module, "dtype"] = np.dtype
    return table


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that can only rebuild plain containers and numpy arrays.

    Pickle builds objects by calling whatever callable the file names; ``find_class`` is
    where such names are resolved, so refusing every name outside a short allow-list stops
    a malicious file (say one naming ``os.system``) before anything runs.
    """

    _table = _allowed()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._table[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"disallowed object {module}.{name}") from None


def safe_load_pickle(path: Path, hint: str = "") -> object:
    """Unpickle ``path`` with ``SafeUnpickler`` (Python 2 strings become bytes).

    Raises:
        DatasetError: the file is missing, is not a pickle, or names a disallowed object.
    """
    try:
        with open(path, "rb") as f:
            return SafeUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist. {hint}") from None
    except pickle.UnpicklingError as err:
        if "disallowed" in str(err):
            raise DatasetError(
                f"{path} contains {err}; refusing to load it (a CIFAR batch holds only a dict "
                f"of lists, bytes and a numpy array). {hint}"
            ) from None
        raise DatasetError(f"{path} is not a valid pickle ({err}). {hint}") from None
    except Exception as err:  # a malformed pickle can fail in many ways; all mean "corrupt"
        raise DatasetError(f"{path} could not be unpickled ({err!r}). {hint}") from None


def _text_keys(obj: object, path: Path, hint: str) -> dict:
    if not isinstance(obj, dict):
        raise DatasetError(f"{path} holds a {type(obj).__name__}, expected a dict. {hint}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_pickle_batch(path: Path, hint: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Read one python-version batch and check its types and shapes.

    Real batches hold 10,000 images; any positive count is accepted as long as the data and
    labels agree, which lets tests use small files.

    Shape:
        returns images (N, 3, 32, 32) uint8, labels (N,) int64
    """
    batch = _text_keys(safe_load_pickle(path, hint), path, hint)
    data, labels = batch.get("data"), batch.get("labels")
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2):
        got = f"{type(data).__name__} {getattr(data, 'dtype', '')} {getattr(data, 'shape', '')}"
        raise DatasetError(f"{path}: 'data' should be a uint8 array (N, 3072), got {got}. {hint}")
    if data.shape[1] != _RECORD - 1 or data.shape[0] == 0:
        raise DatasetError(f"{path}: 'data' has shape {data.shape}, expected (N, 3072). {hint}")
    if not isinstance(labels, list | np.ndarray) or len(labels) != data.shape[0]:
        size = len(labels) if hasattr(labels, "__len__") else "?"
        raise DatasetError(
            f"{path}: 'labels' should be a list of {data.shape[0]} ints, got "
            f"{type(labels).__name__} of length {size}. {hint}"
        )
    if not all(isinstance(v, int | np.integer) and 0 <= v < 10 for v in labels):
        raise DatasetError(f"{path}: 'labels' must be ints in 0..9. {hint}")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def read_binary_batch(path: Path, hint: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Read one binary-version batch of 3,073-byte records.

    Shape:
        returns images (N, 3, 32, 32) uint8, labels (N,) int64
    """
    if not path.is_file():
        raise DatasetError(f"{path} does not exist. {hint}")
    size = path.stat().st_size
    if size == 0 or size % _RECORD:
        raise DatasetError(
            f"{path} is {size} bytes, not a whole number of 3073-byte CIFAR records "
            f"(1 label byte + 3072 pixel bytes); it is truncated or not a CIFAR batch. {hint}"
        )
    records = np.fromfile(path, dtype=np.uint8).reshape(-1, _RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= 10:
        raise DatasetError(f"{path} has label byte {labels.max()}, expected 0..9. {hint}")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def _class_names(folder: Path, binary: bool, hint: str) -> list[str]:
    if binary and (folder / "batches.meta.txt").is_file():
        names = [line.strip() for line in (folder / "batches.meta.txt").read_text().splitlines()]
    elif not binary and (folder / "batches.meta").is_file():
        meta = _text_keys(safe_load_pickle(folder / "batches.meta", hint), folder, hint)
        raw = meta.get("label_names", [])
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in raw]
    else:
        return list(sources.CLASSES["cifar10"])
    names = [name for name in names if name]
    if len(names) != 10:
        raise DatasetError(f"{folder}: the class-name file lists {len(names)} names, not 10.")
    return names


def missing_cifar(folder: Path) -> list[str]:
    """The batch files ``folder`` lacks, for whichever version (binary or python) it holds
    more of; an empty list means the folder is complete."""
    lists = [[f"{stem}{suffix}" for stem in [*_TRAIN, _TEST]] for suffix in (".bin", "")]
    missing = [[name for name in names if not (folder / name).is_file()] for names in lists]
    return min(missing, key=len)


def locate_cifar(root: Path) -> tuple[Path, bool] | None:
    """``(folder, is_binary)`` of the first complete CIFAR-10 copy under ``root``, or None."""
    for rel in sources.FOLDERS["cifar10"]:
        folder = root / rel
        for suffix, binary in ((".bin", True), ("", False)):
            if all((folder / f"{stem}{suffix}").is_file() for stem in [*_TRAIN, _TEST]):
                return folder, binary
    return None


def load_cifar10(
    folder: Path, binary: bool, *, n: int | None, val_fraction: float, seed: int, hint: str
) -> Dataset:
    """Build CIFAR-10 from ``folder``; ``n`` keeps the first ``n`` training images.

    Training batches are read only until ``n`` images are in hand. The test split is the
    full test batch.

    Shape:
        x: (N, 3, 32, 32) float32 in [0, 1]; y: (N,) int64 in 0..9
    """
    suffix = ".bin" if binary else ""
    read = read_binary_batch if binary else read_pickle_batch

    def to_split(parts: list[tuple[np.ndarray, np.ndarray]], limit: int | None) -> Split:
        images = np.concatenate([p[0] for p in parts])[:limit]
        labels = np.concatenate([p[1] for p in parts])[:limit]
        return Split(torch.from_numpy(images).float().div_(255.0), torch.from_numpy(labels))

    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for stem in _TRAIN:
        parts.append(read(folder / f"{stem}{suffix}", hint))
        if n is not None and sum(len(p[1]) for p in parts) >= n:
            break
    pool = to_split(parts, n)
    test = to_split([read(folder / f"{_TEST}{suffix}", hint)], None)
    train, val = carve_validation(pool, val_fraction, seed)
    classes = _class_names(folder, binary, hint)
    info = {"source": str(folder), "format": "binary" if binary else "python", "seed": seed}
    return Dataset("cifar10", classes, train, val, test, info)
