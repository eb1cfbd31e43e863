"""A small real dataset for tests that train: scikit-learn's digits, split by position.

Built directly from scikit-learn rather than through ``vizlab.data.load``, so the training
tests do not depend on the loaders they are not about.
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from vizlab.data.dataset import Dataset, Split

CLASSES = [str(i) for i in range(10)]


def digits_dataset(
    n_train: int = 128, n_val: int = 64, n_test: int = 64, *, random_labels: bool = False
) -> Dataset:
    """The first ``n_train + n_val + n_test`` digits as train, val and test splits.

    Shape:
        x: (N, 1, 8, 8) float32 in [0, 1]; y: (N,) int64
    """
    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    y = torch.tensor(bunch.target, dtype=torch.int64)
    if random_labels:
        y = torch.randint(0, 10, y.shape, generator=torch.Generator().manual_seed(1))
    a, b, c = n_train, n_train + n_val, n_train + n_val + n_test
    return Dataset(
        "digits", CLASSES, Split(x[:a], y[:a]), Split(x[a:b], y[a:b]), Split(x[b:c], y[b:c])
    )
