"""Cutout (DeVries & Taylor 2017): blank out one random square per example.

Hiding a patch forces the network to use the whole object rather than its single most
telling part. The square's centre is uniform over the image, so near the border part of it
falls outside the picture and the blanked area is smaller; the recorded box is the part
that was actually blanked.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vizlab.augment.base import Augment, Params, check_nonnegative, uniform

__all__ = ["Cutout", "CutoutParams", "box_mask", "random_boxes"]


@dataclass
class CutoutParams(Params):
    """``box`` (B, 4) int64: (top, left, bottom, right), bottom/right exclusive, clipped to
    the image; an empty box (top == bottom) where skipped. ``fill``: the value written."""

    box: torch.Tensor
    fill: float


def random_boxes(
    size: tuple[int, int],
    side: torch.Tensor,
    applied: torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Boxes of (height, width) ``side`` (B, 2) centred uniformly, clipped to ``size``.

    Returns:
        (B, 4) int64 (top, left, bottom, right); empty where ``applied`` is False.
    """
    h, w = size
    b, device = side.shape[0], side.device
    cy = (uniform(b, 0, 1, device=device, generator=generator) * h).floor()
    cx = (uniform(b, 0, 1, device=device, generator=generator) * w).floor()
    half = side.to(torch.float32) / 2
    top = (cy - half[:, 0]).round().clamp(0, h)
    left = (cx - half[:, 1]).round().clamp(0, w)
    bottom = (cy - half[:, 0]).round().add(side[:, 0]).clamp(0, h)
    right = (cx - half[:, 1]).round().add(side[:, 1]).clamp(0, w)
    box = torch.stack([top, left, bottom, right], dim=1).to(torch.int64)
    return torch.where(applied[:, None], box, torch.zeros_like(box))


def box_mask(box: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, 1, H, W) bool, True inside each example's box."""
    h, w = size
    rows = torch.arange(h, device=box.device)[None, :]  # (1, H)
    cols = torch.arange(w, device=box.device)[None, :]  # (1, W)
    in_rows = (rows >= box[:, 0:1]) & (rows < box[:, 2:3])  # (B, H)
    in_cols = (cols >= box[:, 1:2]) & (cols < box[:, 3:4])  # (B, W)
    return (in_rows[:, :, None] & in_cols[:, None, :])[:, None]


class Cutout(Augment):
    """Fill one random square per example with ``fill``.

    Args:
        size: side of the square as a fraction of the shorter image side (0.5 = 16 px on
            32x32, the paper's CIFAR-10 setting), in [0, 1].
        p: probability of cutting each example.
        fill: value written into the square (0 = black).
        generator: default ``torch.Generator``.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W)
    """

    name = "cutout"

    def __init__(
        self,
        size: float = 0.5,
        p: float = 1.0,
        *,
        fill: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p, generator=generator)
        self.size = check_nonnegative("size", size)
        if self.size > 1:
            raise ValueError(f"size is a fraction of the image side in [0, 1], got {size!r}")
        self.fill = float(fill)
        if not 0.0 <= self.fill <= 1.0:
            raise ValueError(f"fill must lie in [0, 1] like the images, got {fill!r}")

    def _sample(self, x, applied, generator) -> CutoutParams:
        b, h, w = x.shape[0], x.shape[2], x.shape[3]
        side = round(self.size * min(h, w))
        sides = torch.full((b, 2), side, device=x.device, dtype=torch.int64)
        box = random_boxes((h, w), sides, applied, generator)
        return CutoutParams(applied=applied, box=box, fill=self.fill)

    def apply(self, x: torch.Tensor, params: CutoutParams) -> torch.Tensor:
        mask = box_mask(params.box, x.shape[-2:])
        return torch.where(mask, torch.full_like(x, params.fill), x)

    def describe(self, params: CutoutParams, i: int) -> str:
        if not bool(params.applied[i]):
            return ""
        t, left, b, r = params.box[i].tolist()
        return f"cutout rows {t}:{b} cols {left}:{r}"

    def extra_repr(self) -> str:
        return f"size={self.size}, p={self.p}, fill={self.fill}"
