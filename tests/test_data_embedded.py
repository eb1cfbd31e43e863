"""The embedded datasets (digits, shapes, photos) and the argument checks of ``load``."""

from __future__ import annotations

import pytest
import torch

from vizlab.data import Dataset, Split, available, load, names
from vizlab.data.shapes import SHAPE_CLASSES, generate_shapes


def _check_split(split: Split, shape: tuple[int, int, int], num_classes: int) -> None:
    assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
    assert tuple(split.x.shape[1:]) == shape
    if len(split):
        assert split.x.min() >= 0 and split.x.max() <= 1
        assert split.y.min() >= 0 and split.y.max() < num_classes


@pytest.fixture(scope="module")
def shapes() -> Dataset:
    return load("shapes", n=500, val_fraction=0.2, seed=3)


def test_digits_are_the_real_sklearn_digits():
    from sklearn.datasets import load_digits

    data = load("digits")
    assert data.name == "digits" and data.shape == (1, 8, 8)
    assert data.classes == [str(d) for d in range(10)]
    for split in (data.train, data.val, data.test):
        _check_split(split, (1, 8, 8), 10)
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    # Every image is one of sklearn's, scaled by 1/16.
    reference = torch.from_numpy(load_digits().data).float().div(16).reshape(-1, 1, 8, 8)
    matches = (data.test.x[:5, None] == reference[None]).flatten(2).all(2).any(1)
    assert bool(matches.all())


def test_digits_test_split_is_a_stratified_fifth():
    data = load("digits", seed=0)
    pool = torch.cat([data.train.y, data.val.y, data.test.y])
    fraction = torch.bincount(data.test.y, minlength=10) / torch.bincount(pool, minlength=10)
    assert torch.allclose(fraction, torch.full((10,), 0.2), atol=0.01)


def test_digits_split_depends_on_seed_only():
    a, b, c = load("digits", seed=1), load("digits", seed=1), load("digits", seed=2)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.test.x, c.test.x)


@pytest.mark.parametrize("val_fraction", [0.0, 0.1, 0.25])
def test_digits_val_fraction(val_fraction):
    data = load("digits", val_fraction=val_fraction)
    pool = len(data.train) + len(data.val)
    assert abs(len(data.val) - val_fraction * pool) <= 10  # rounding per class
    assert data.val.x.shape[1:] == (1, 8, 8)


def test_digits_n_caps_the_training_pool():
    data = load("digits", n=200, val_fraction=0.1)
    assert len(data.train) + len(data.val) == 200
    assert len(data.test) == len(load("digits").test)


def test_shapes_shapes_and_ranges(shapes):
    assert shapes.shape == (3, 32, 32) and shapes.classes == SHAPE_CLASSES
    assert len(shapes.train) == 400 and len(shapes.val) == 100 and len(shapes.test) == 100
    for split in (shapes.train, shapes.val, shapes.test):
        _check_split(split, (3, 32, 32), 10)
    # Images are neither blank nor saturated noise.
    std = shapes.train.x.flatten(1).std(1)
    assert bool((std > 0.03).all()) and bool((std < 0.45).all())


def test_shapes_classes_are_balanced(shapes):
    counts = torch.bincount(torch.cat([shapes.train.y, shapes.val.y]), minlength=10)
    assert counts.tolist() == [50] * 10
    assert torch.bincount(shapes.val.y, minlength=10).tolist() == [10] * 10
    assert torch.bincount(shapes.test.y, minlength=10).tolist() == [10] * 10


def test_shapes_deterministic_per_seed(shapes):
    again = load("shapes", n=500, val_fraction=0.2, seed=3)
    assert torch.equal(again.train.x, shapes.train.x) and torch.equal(again.test.y, shapes.test.y)
    other = load("shapes", n=500, val_fraction=0.2, seed=4)
    assert not torch.equal(other.train.x, shapes.train.x)


def test_shapes_test_set_differs_from_train(shapes):
    # The test images are new draws, not copies of training images.
    distance = torch.cdist(shapes.test.x.flatten(1), shapes.train.x.flatten(1))
    assert distance.min() > 1.0


def test_generate_shapes_balanced_and_seeded():
    x, y = generate_shapes(205, seed=0)
    assert x.shape == (205, 3, 32, 32) and torch.bincount(y).tolist() == [21] * 5 + [20] * 5
    assert not torch.equal(generate_shapes(20, seed=0)[0], generate_shapes(20, seed=1)[0])


def test_photos_are_sklearn_sample_images():
    data = load("photos")
    assert data.classes == ["china", "flower"]
    assert data.shape == (3, 128, 192) and len(data.train) == 2
    _check_split(data.train, (3, 128, 192), 2)
    assert data.train.y.tolist() == [0, 1]
    for split in (data.val, data.test):
        assert len(split) == 0 and split.x.shape == (0, 3, 128, 192)
    assert data.train.x.std() > 0.1


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="choose one of digits, shapes, photos, cifar10"):
        load("imagenet")


@pytest.mark.parametrize("val_fraction", [1.0, -0.1, 1.5])
def test_bad_val_fraction(val_fraction):
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\)"):
        load("digits", val_fraction=val_fraction)


@pytest.mark.parametrize("n", [0, -5])
def test_bad_n(n):
    with pytest.raises(ValueError, match="n must be a positive number"):
        load("shapes", n=n)


def test_bad_types():
    with pytest.raises(TypeError, match="n must be a positive integer"):
        load("shapes", n=2.5)
    with pytest.raises(TypeError, match="val_fraction must be a number"):
        load("digits", val_fraction="0.1")


def test_available_for_an_empty_root(tmp_path):
    status = available(tmp_path)
    assert set(status) == set(names())
    assert status["digits"] is True and status["shapes"] is True and status["photos"] is True
    for name in ("cifar10", "mnist", "fashion_mnist"):
        assert not status[name] and "not found" in status[name]
        assert str(tmp_path) in status[name]
