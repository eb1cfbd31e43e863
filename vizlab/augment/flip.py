"""Mirror images left-right (or top-bottom), each example with probability p.

The horizontal flip is the oldest and cheapest augmentation: a cat facing left is still a
cat, so the network should not have to learn both views from separate examples. Vertical
flips suit pictures with no "up" (cells, satellite views), not digits or street scenes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vizlab.augment.base import Augment, Params, where_applied

__all__ = ["Flip", "VFlip", "FlipParams"]


@dataclass
class FlipParams(Params):
    """``applied`` (B,) bool says which examples were mirrored; ``vertical`` which axis."""

    vertical: bool


class Flip(Augment):
    """Mirror each example with probability ``p``.

    Args:
        p: probability of flipping each example (default 0.5).
        vertical: flip top-bottom instead of left-right.
        generator: default ``torch.Generator`` for the coin tosses.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W)
    """

    name = "flip"

    def __init__(
        self, p: float = 0.5, *, vertical: bool = False, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(p, generator=generator)
        self.vertical = bool(vertical)

    def _sample(self, x, applied, generator) -> FlipParams:
        return FlipParams(applied=applied, vertical=self.vertical)

    def apply(self, x: torch.Tensor, params: FlipParams) -> torch.Tensor:
        mirrored = x.flip(-2 if params.vertical else -1)
        return where_applied(params.applied, mirrored, x)

    def describe(self, params: FlipParams, i: int) -> str:
        if not bool(params.applied[i]):
            return ""
        return "vflip" if params.vertical else "flip"

    def extra_repr(self) -> str:
        return f"p={self.p}, vertical={self.vertical}"


class VFlip(Flip):
    """``Flip(vertical=True)``: mirror top-bottom with probability ``p``."""

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None) -> None:
        super().__init__(p, vertical=True, generator=generator)
