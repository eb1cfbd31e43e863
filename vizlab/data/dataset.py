"""Containers for the datasets vizlab trains on: ``Split`` and ``Dataset``.

The datasets of the lectures are small (at most tens of thousands of 32x32 images), so they
live whole on the training device and batches are slices of device tensors. That removes the
DataLoader worker machinery, which on a 2-core laptop costs more than the model's step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

__all__ = ["DatasetError", "Split", "Dataset"]


class DatasetError(Exception):
    """A dataset could not be found, read or verified. The message names the file and the fix."""


@dataclass
class Split:
    """One split of a dataset.

    Shape:
        x: (N, C, H, W) float32 in [0, 1]
        y: (N,) int64 class indices
    """

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"a split needs as many labels as images: x has {self.x.shape[0]} images "
                f"but y has {self.y.shape[0]} labels"
            )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to(self, device: str | torch.device) -> Split:
        """A copy on ``device`` (the same object when it already lives there)."""
        device = torch.device(device)
        if self.x.device == device and self.y.device == device:
            return self
        return Split(self.x.to(device), self.y.to(device))

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)`` batches by slicing the tensors where they live.

        The permutation for ``shuffle`` is drawn on the CPU from ``generator`` (so runs are
        reproducible on any device) and then moved once to the data's device.

        Shape:
            yields x: (B, C, H, W), y: (B,) with B <= batch_size
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        n = len(self)
        if shuffle:
            order = torch.randperm(n, generator=generator).to(self.x.device)
        else:
            order = None
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            if order is None:
                yield self.x[start : start + batch_size], self.y[start : start + batch_size]
            else:
                idx = order[start : start + batch_size]
                yield self.x[idx], self.y[idx]

    def subset(self, n: int) -> Split:
        """The first ``n`` examples (a view, no copy)."""
        return Split(self.x[:n], self.y[:n])


def _empty_like(split: Split) -> Split:
    return Split(split.x[:0], split.y[:0])


@dataclass
class Dataset:
    """A named dataset with train, validation and test splits.

    Attributes:
        name: the name ``load`` knows it by, e.g. ``"digits"``.
        classes: one readable name per class index.
        train, val, test: the splits; ``val`` is carved from the training data.
        info: free-form facts about the source (file paths, generator seed, licence).
    """

    name: str
    classes: list[str]
    train: Split
    val: Split
    test: Split
    info: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.train.x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def device(self) -> torch.device:
        return self.train.device

    def to(self, device: str | torch.device) -> Dataset:
        """Move every split to ``device`` once (the data is small; it lives on the device)."""
        return Dataset(
            self.name,
            list(self.classes),
            self.train.to(device),
            self.val.to(device),
            self.test.to(device),
            dict(self.info),
        )

    def __repr__(self) -> str:
        c, h, w = self.shape
        return (
            f"Dataset({self.name!r}, {len(self.classes)} classes, {c}x{h}x{w}, "
            f"train={len(self.train)}, val={len(self.val)}, test={len(self.test)}, "
            f"device={self.device})"
        )
