"""Seeded, stratified hold-out splits shared by every dataset.

A split is drawn with a private ``torch.Generator`` so that the same ``seed`` always gives
the same partition, whatever else the program did with the global random state. Hold-outs
are stratified (the same fraction is taken from every class): with a few hundred images per
class, a purely random validation set can be visibly unbalanced, and then the validation
curve measures the imbalance as much as the model.
"""

from __future__ import annotations

import hashlib

import torch

from vizlab.data.dataset import Split

__all__ = ["derive_seed", "stratified_holdout", "carve_validation", "empty_split"]


def derive_seed(seed: int, purpose: str) -> int:
    """A seed for one purpose (``"train"``, ``"test"``, ...) derived from the user's seed.

    Hashing keeps the derived streams independent: seed 1's test set is not seed 2's train
    set, which a simple ``seed + 1`` scheme would give.
    """
    digest = hashlib.sha256(f"vizlab:{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def stratified_holdout(
    y: torch.Tensor, fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices into a kept part and a held-out part, class by class.

    From every class ``round(fraction * count)`` examples are held out, chosen at random with
    ``generator``. Both index lists come back sorted, so the kept examples stay in their
    original order.

    Shape:
        y: (N,) int64 labels
        returns (keep, held): int64 index tensors whose lengths sum to N
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"a hold-out fraction must be in [0, 1), got {fraction}")
    held_parts = []
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten()
        k = int(round(fraction * len(idx)))
        order = torch.randperm(len(idx), generator=generator)
        held_parts.append(idx[order[:k]])
    held = torch.cat(held_parts) if held_parts else torch.zeros(0, dtype=torch.long)
    mask = torch.ones(len(y), dtype=torch.bool)
    mask[held] = False
    keep = torch.nonzero(mask).flatten()
    return keep, torch.sort(held).values


def carve_validation(pool: Split, val_fraction: float, seed: int) -> tuple[Split, Split]:
    """Split a training pool into ``(train, val)`` with a stratified, seeded hold-out.

    Raises:
        ValueError: when the fraction would leave no training example at all.
    """
    generator = torch.Generator().manual_seed(derive_seed(seed, "val"))
    keep, held = stratified_holdout(pool.y, val_fraction, generator)
    if len(keep) == 0:
        raise ValueError(
            f"val_fraction={val_fraction} leaves no training images out of {len(pool)}; "
            "use a smaller val_fraction or a larger n"
        )
    return Split(pool.x[keep], pool.y[keep]), Split(pool.x[held], pool.y[held])


def empty_split(like: torch.Tensor) -> Split:
    """A split with zero examples whose images still have the right (C, H, W)."""
    return Split(like[:0].clone(), torch.zeros(0, dtype=torch.long))
