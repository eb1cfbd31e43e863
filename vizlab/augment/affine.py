"""Translate, shear and rotate: per-example affine warps of the whole batch.

The three ops share one functional core (``functional.affine_matrix`` then
``functional.warp_affine``): each example gets its own 2x3 matrix, and one ``grid_sample``
call resamples the batch (bilinear, zeros where the warped picture leaves the frame).
Amounts are drawn uniformly in a symmetric range, so the expected picture is the original.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vizlab.augment import functional as AF
from vizlab.augment.base import Augment, Params, check_nonnegative, uniform, where_applied

__all__ = ["Translate", "Shear", "Rotate", "TranslateParams", "ShearParams", "RotateParams"]


@dataclass
class TranslateParams(Params):
    """``shift`` (B, 2): (dx, dy) in pixels, positive right and down (0 where skipped)."""

    shift: torch.Tensor


@dataclass
class ShearParams(Params):
    """``shear`` (B, 2): shear factors (sx, sy) (0 where skipped)."""

    shear: torch.Tensor


@dataclass
class RotateParams(Params):
    """``angle`` (B,): degrees counter-clockwise (0 where skipped)."""

    angle: torch.Tensor


def _symmetric(n, bound, applied, generator, device) -> torch.Tensor:
    """(n,) uniform in [-bound, bound], zero where ``applied`` is False."""
    v = uniform(n, -bound, bound, device=device, generator=generator)
    return torch.where(applied, v, torch.zeros_like(v))


class Translate(Augment):
    """Shift each example by up to ``fraction`` of its width/height in each direction.

    Args:
        fraction: largest shift as a fraction of the image size (0.125 = 4 px of 32), >= 0.
        p: probability of shifting each example.
        generator: default ``torch.Generator``.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W)
    """

    name = "translate"

    def __init__(
        self, fraction: float = 0.125, p: float = 1.0, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(p, generator=generator)
        self.fraction = check_nonnegative("fraction", fraction)
        if self.fraction > 1:
            raise ValueError(
                f"fraction is the largest shift as a share of the image side, in [0, 1]; got "
                f"{fraction!r} (beyond 1 the image leaves the frame entirely); try 0.125"
            )

    def _sample(self, x, applied, generator) -> TranslateParams:
        b, h, w = x.shape[0], x.shape[2], x.shape[3]
        dx = _symmetric(b, self.fraction * w, applied, generator, x.device)
        dy = _symmetric(b, self.fraction * h, applied, generator, x.device)
        return TranslateParams(applied=applied, shift=torch.stack([dx, dy], dim=1))

    def apply(self, x: torch.Tensor, params: TranslateParams) -> torch.Tensor:
        theta = AF.affine_matrix(x.shape[-2:], translate=params.shift)
        return where_applied(params.applied, AF.warp_affine(x, theta), x)

    def describe(self, params: TranslateParams, i: int) -> str:
        if not bool(params.applied[i]):
            return ""
        dx, dy = params.shift[i].tolist()
        return f"translate ({dx:+.1f},{dy:+.1f}) px"

    def extra_repr(self) -> str:
        return f"fraction={self.fraction}, p={self.p}"


class Shear(Augment):
    """Shear each example along x and y by factors drawn from [-shear, shear].

    Args:
        shear: largest shear factor (0.3 moves a pixel 0.3 px sideways per px of height).
        p: probability of shearing each example.
        generator: default ``torch.Generator``.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W)
    """

    name = "shear"

    def __init__(
        self, shear: float = 0.2, p: float = 1.0, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(p, generator=generator)
        self.shear = check_nonnegative("shear", shear)

    def _sample(self, x, applied, generator) -> ShearParams:
        b = x.shape[0]
        sx = _symmetric(b, self.shear, applied, generator, x.device)
        sy = _symmetric(b, self.shear, applied, generator, x.device)
        return ShearParams(applied=applied, shear=torch.stack([sx, sy], dim=1))

    def apply(self, x: torch.Tensor, params: ShearParams) -> torch.Tensor:
        theta = AF.affine_matrix(x.shape[-2:], shear=params.shear)
        return where_applied(params.applied, AF.warp_affine(x, theta), x)

    def describe(self, params: ShearParams, i: int) -> str:
        if not bool(params.applied[i]):
            return ""
        sx, sy = params.shear[i].tolist()
        return f"shear ({sx:+.2f},{sy:+.2f})"

    def extra_repr(self) -> str:
        return f"shear={self.shear}, p={self.p}"


class Rotate(Augment):
    """Rotate each example about its centre by an angle drawn from [-degrees, degrees].

    Args:
        degrees: largest angle in degrees, >= 0.
        p: probability of rotating each example.
        generator: default ``torch.Generator``.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W)
    """

    name = "rotate"

    def __init__(
        self, degrees: float = 15.0, p: float = 1.0, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(p, generator=generator)
        self.degrees = check_nonnegative("degrees", degrees)
        if self.degrees > 180:
            raise ValueError(
                f"degrees is the largest rotation either way, in [0, 180]; got {degrees!r} "
                "(180 already allows every angle); try 15"
            )

    def _sample(self, x, applied, generator) -> RotateParams:
        angle = _symmetric(x.shape[0], self.degrees, applied, generator, x.device)
        return RotateParams(applied=applied, angle=angle)

    def apply(self, x: torch.Tensor, params: RotateParams) -> torch.Tensor:
        theta = AF.affine_matrix(x.shape[-2:], angle=params.angle)
        return where_applied(params.applied, AF.warp_affine(x, theta), x)

    def describe(self, params: RotateParams, i: int) -> str:
        if not bool(params.applied[i]):
            return ""
        return f"rotate {float(params.angle[i]):+.1f}°"

    def extra_repr(self) -> str:
        return f"degrees={self.degrees}, p={self.p}"
