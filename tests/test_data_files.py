"""File-backed datasets: tiny MNIST / Fashion-MNIST / CIFAR-10 files in the real formats."""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import torch
from data_fixtures import (
    CIFAR_NAMES,
    cifar_arrays,
    cifar_binary_bytes,
    cifar_pickle_bytes,
    idx_bytes,
    make_cifar,
    make_mnist,
    py2_cifar_pickle,
    write,
)

from vizlab.data import DatasetError, available, load
from vizlab.data.cifar import read_binary_batch, read_pickle_batch, safe_load_pickle
from vizlab.data.idx import read_idx_images, read_idx_labels


def _as_bytes(x: torch.Tensor) -> np.ndarray:
    return (x * 255).round().to(torch.uint8).numpy()


# --- MNIST / Fashion-MNIST ---------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    ("name", "folder"),
    [("mnist", "mnist"), ("mnist", "MNIST/raw"), ("fashion_mnist", "FashionMNIST/raw")],
)
def test_idx_round_trip(tmp_path, name, folder, gz):
    arrays = make_mnist(tmp_path / folder, gz=gz)
    data = load(name, root=tmp_path, val_fraction=0.0)
    assert data.shape == (1, 28, 28) and data.num_classes == 10
    assert np.array_equal(_as_bytes(data.train.x[:, 0]), arrays["train-images-idx3-ubyte"])
    assert np.array_equal(data.train.y.numpy(), arrays["train-labels-idx1-ubyte"])
    assert np.array_equal(_as_bytes(data.test.x[:, 0]), arrays["t10k-images-idx3-ubyte"])
    assert np.array_equal(data.test.y.numpy(), arrays["t10k-labels-idx1-ubyte"])
    assert data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.int64


def test_fashion_class_names(tmp_path):
    make_mnist(tmp_path / "fashion_mnist")
    assert load("fashion_mnist", root=tmp_path).classes[-1] == "Ankle boot"


def test_idx_n_takes_the_first_images_and_val_is_carved(tmp_path):
    arrays = make_mnist(tmp_path / "mnist", n_train=40)
    data = load("mnist", root=tmp_path, n=20, val_fraction=0.25, seed=1)
    assert len(data.train) + len(data.val) == 20
    pool = np.concatenate([_as_bytes(data.train.x[:, 0]), _as_bytes(data.val.x[:, 0])])
    first = arrays["train-images-idx3-ubyte"][:20]
    assert sorted(map(bytes, pool)) == sorted(map(bytes, first))
    again = load("mnist", root=tmp_path, n=20, val_fraction=0.25, seed=1)
    assert torch.equal(again.val.x, data.val.x)


def test_data_root_from_environment(tmp_path, monkeypatch):
    make_mnist(tmp_path / "mnist")
    monkeypatch.setenv("VIZLAB_DATA", str(tmp_path))
    assert len(load("mnist").test) == 10
    assert available()["mnist"] is True


def test_missing_files_say_where_to_get_them(tmp_path):
    with pytest.raises(DatasetError, match=r"mnist was not found.*yann\.lecun\.com.*root=") as e:
        load("mnist", root=tmp_path)
    assert "download=True" in str(e.value) and "VIZLAB_DATA" in str(e.value)


def test_incomplete_folder_names_the_missing_file(tmp_path):
    make_mnist(tmp_path / "mnist", gz=True)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"mnist exists but lacks t10k-labels-idx1-ubyte\."):
        load("mnist", root=tmp_path)
    make_cifar(tmp_path / "cifar-10-batches-bin", binary=True)
    (tmp_path / "cifar-10-batches-bin" / "data_batch_3.bin").unlink()
    with pytest.raises(
        DatasetError, match=r"cifar-10-batches-bin exists but lacks data_batch_3\.bin"
    ):
        load("cifar10", root=tmp_path)


def test_idx_wrong_magic(tmp_path):
    labels = np.zeros(5, dtype=np.uint8)
    path = write(tmp_path / "train-images-idx3-ubyte", idx_bytes(labels))
    with pytest.raises(
        DatasetError, match=r"train-images-idx3-ubyte is not an IDX image.*0x00000801"
    ):
        read_idx_images(path)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated(tmp_path, gz):
    full = idx_bytes(np.zeros((10, 28, 28), dtype=np.uint8))
    path = write(tmp_path / "t10k-images-idx3-ubyte", full[:-100], gz=gz)
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte(\.gz)? .*truncated"):
        read_idx_images(path)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_absurd_header_is_refused_before_allocating(tmp_path, gz):
    header = struct.pack(">IIII", 0x803, 2**31, 28, 28)
    path = write(tmp_path / "train-images-idx3-ubyte", header + bytes(84), gz=gz)
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte"):
        read_idx_images(path)


def test_idx_broken_gzip(tmp_path):
    data = gzip.compress(idx_bytes(np.zeros((10, 28, 28), dtype=np.uint8)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz"):
        read_idx_images(path)


def test_idx_trailing_bytes_and_wrong_size(tmp_path):
    body = idx_bytes(np.zeros((3, 28, 28), dtype=np.uint8))
    path = write(tmp_path / "long-images", body + b"extra", gz=True)
    with pytest.raises(DatasetError, match="long-images.*longer than its header"):
        read_idx_images(path)
    small = write(tmp_path / "small-images", idx_bytes(np.zeros((3, 32, 32), dtype=np.uint8)))
    with pytest.raises(DatasetError, match=r"small-images holds images of shape \(32, 32\)"):
        read_idx_images(small)


def test_idx_label_range_and_count(tmp_path):
    bad = write(tmp_path / "bad-labels", idx_bytes(np.array([1, 2, 12], dtype=np.uint8)))
    with pytest.raises(DatasetError, match="bad-labels contains label 12"):
        read_idx_labels(bad)
    make_mnist(tmp_path / "mnist", n_train=30)
    write(tmp_path / "mnist" / "train-labels-idx1-ubyte", idx_bytes(np.zeros(29, np.uint8)))
    with pytest.raises(DatasetError, match="30 images but .*train-labels-idx1-ubyte holds 29"):
        load("mnist", root=tmp_path)


# --- CIFAR-10 ------------------------------------------------------------------------------
@pytest.mark.parametrize("binary", [True, False])
def test_cifar_round_trip(tmp_path, binary):
    folder = tmp_path / ("cifar-10-batches-bin" if binary else "cifar-10-batches-py")
    x_train, y_train, x_test, y_test = make_cifar(folder, binary=binary)
    data = load("cifar10", root=tmp_path, val_fraction=0.0)
    assert data.shape == (3, 32, 32) and data.classes == CIFAR_NAMES
    assert data.info["format"] == ("binary" if binary else "python")
    assert np.array_equal(_as_bytes(data.train.x).reshape(-1, 3072), x_train)
    assert np.array_equal(data.train.y.numpy(), y_train)
    assert np.array_equal(_as_bytes(data.test.x).reshape(-1, 3072), x_test)
    assert np.array_equal(data.test.y.numpy(), y_test)
    # Channel order: the first 1024 bytes of a record are the red plane.
    assert np.array_equal(_as_bytes(data.train.x[0, 0]).ravel(), x_train[0, :1024])


def test_cifar_n_reads_only_what_it_needs(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    make_cifar(folder, binary=True, per_batch=8)
    (folder / "data_batch_5.bin").write_bytes(b"not read when n is small")
    data = load("cifar10", root=tmp_path, n=12, val_fraction=0.0)
    assert len(data.train) == 12


def test_py2_written_pickle_is_read(tmp_path):
    data, labels = cifar_arrays(5, seed=3)
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_cifar_pickle(data, labels))
    images, read_labels = read_pickle_batch(path)
    assert np.array_equal(images.reshape(5, 3072), data)
    assert read_labels.tolist() == labels.tolist()


def test_old_numpy_module_name_is_accepted(tmp_path):
    data, labels = cifar_arrays(4, seed=4)
    raw = cifar_pickle_bytes(data, labels)
    assert b"numpy._core.multiarray" in raw
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    assert np.array_equal(read_pickle_batch(path)[0].reshape(4, 3072), data)


class _Shell:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Eval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "marker"
    payload = {b"data": _Shell(f"touch {marker}"), b"labels": [0]}
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(
        DatasetError, match=r"data_batch_1 contains disallowed object (posix|nt)\.system"
    ):
        read_pickle_batch(path)
    assert not marker.exists()


def test_pickle_with_eval_is_refused(tmp_path):
    path = tmp_path / "batches.meta"
    path.write_bytes(pickle.dumps({b"label_names": _Eval()}, protocol=2))
    with pytest.raises(
        DatasetError, match=r"batches.meta contains disallowed object (__builtin__|builtins)\.eval"
    ):
        safe_load_pickle(path)


def test_malicious_pickle_inside_a_dataset_folder(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar(folder, binary=False)
    marker = tmp_path / "marker"
    (folder / "data_batch_1").write_bytes(pickle.dumps(_Shell(f"touch {marker}"), protocol=2))
    with pytest.raises(DatasetError, match="data_batch_1 contains disallowed object"):
        load("cifar10", root=tmp_path)
    assert not marker.exists()


def test_pickle_with_wrong_contents(tmp_path):
    path = tmp_path / "data_batch_2"
    floats = {b"data": np.zeros((4, 3072), np.float32), b"labels": [0, 1, 2, 3]}
    path.write_bytes(pickle.dumps(floats, protocol=2))
    with pytest.raises(DatasetError, match=r"data_batch_2: 'data' should be a uint8 array"):
        read_pickle_batch(path)
    data, _ = cifar_arrays(4, seed=0)
    path.write_bytes(pickle.dumps({b"data": data, b"labels": [0, 1, 2, 11]}, protocol=2))
    with pytest.raises(DatasetError, match="data_batch_2: 'labels' must be ints in 0..9"):
        read_pickle_batch(path)
    path.write_bytes(pickle.dumps({b"data": data, b"labels": [0, 1]}, protocol=2))
    with pytest.raises(DatasetError, match="'labels' should be a list of 4 ints"):
        read_pickle_batch(path)
    path.write_bytes(b"\x80\x02}q\x00(")  # cut short
    with pytest.raises(DatasetError, match="data_batch_2"):
        read_pickle_batch(path)


def test_cifar_binary_truncated_and_bad_label(tmp_path):
    data, labels = cifar_arrays(3, seed=0)
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(cifar_binary_bytes(data, labels)[:-10])
    with pytest.raises(DatasetError, match=r"data_batch_1\.bin is 9209 bytes.*3073-byte"):
        read_binary_batch(path)
    labels[1] = 200
    path.write_bytes(cifar_binary_bytes(data, labels))
    with pytest.raises(DatasetError, match=r"data_batch_1\.bin has label byte 200"):
        read_binary_batch(path)


def test_available_sees_file_datasets(tmp_path):
    make_mnist(tmp_path / "MNIST" / "raw", gz=True)
    make_cifar(tmp_path / "cifar-10-batches-py", binary=False)
    status = available(tmp_path)
    assert status["mnist"] is True and status["cifar10"] is True
    assert not status["fashion_mnist"]
