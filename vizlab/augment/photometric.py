"""Brightness, contrast and colour (saturation and hue), each example its own amount.

These change what the pixels look like but not where things are: a network that has seen
the same object in dim and bright light, washed-out and vivid, learns features that do not
hinge on the exposure of one photograph. Factors are drawn uniformly in ``[1 - s, 1 + s]``,
so on average the picture is unchanged; results are clipped to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vizlab.augment import functional as AF
from vizlab.augment.base import Augment, Params, check_nonnegative, uniform, where_applied

__all__ = ["Brightness", "Contrast", "Color", "FactorParams", "ColorParams"]


@dataclass
class FactorParams(Params):
    """``factor`` (B,): 1 = unchanged (and 1 where skipped)."""

    factor: torch.Tensor


@dataclass
class ColorParams(Params):
    """``saturation`` (B,) factor (1 = unchanged) and ``hue`` (B,) shift in turns (0 = none)."""

    saturation: torch.Tensor
    hue: torch.Tensor


def _factor(n, strength, applied, generator, device) -> torch.Tensor:
    f = uniform(n, 1 - strength, 1 + strength, device=device, generator=generator)
    return torch.where(applied, f.clamp(min=0), torch.ones_like(f))


class _FactorOp(Augment):
    """An op that blends each image with a reference by a factor from [1 - s, 1 + s]."""

    def __init__(
        self, strength: float = 0.4, p: float = 1.0, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(p, generator=generator)
        self.strength = check_nonnegative("strength", strength)

    def _sample(self, x, applied, generator) -> FactorParams:
        f = _factor(x.shape[0], self.strength, applied, generator, x.device)
        return FactorParams(applied=applied, factor=f)

    def describe(self, params: FactorParams, i: int) -> str:
        if not bool(params.applied[i]):
            return ""
        return f"{self.name} x{float(params.factor[i]):.2f}"

    def extra_repr(self) -> str:
        return f"strength={self.strength}, p={self.p}"


class Brightness(_FactorOp):
    """Multiply each example's intensities by a factor from [1 - strength, 1 + strength].

    Shape:
        x: (B, C, H, W) -> (B, C, H, W), clipped to [0, 1]
    """

    name = "brightness"

    def apply(self, x: torch.Tensor, params: FactorParams) -> torch.Tensor:
        return where_applied(params.applied, AF.brightness(x, params.factor), x)


class Contrast(_FactorOp):
    """Scale each example's deviations from its mean grey level by a random factor.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W), clipped to [0, 1]
    """

    name = "contrast"

    def apply(self, x: torch.Tensor, params: FactorParams) -> torch.Tensor:
        return where_applied(params.applied, AF.contrast(x, params.factor), x)


class Color(Augment):
    """Random saturation (blend with grey) and hue rotation per example.

    Only RGB images have a colour to change: on other channel counts the op records its
    draws but returns the pixels unchanged.

    Args:
        saturation: factor range ``[1 - saturation, 1 + saturation]``, >= 0.
        hue: largest hue shift in turns (0.5 = half the colour wheel), >= 0.
        p: probability of changing each example.
        generator: default ``torch.Generator``.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W), clipped to [0, 1]
    """

    name = "color"

    def __init__(
        self,
        saturation: float = 0.4,
        hue: float = 0.05,
        p: float = 1.0,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p, generator=generator)
        self.saturation = check_nonnegative("saturation", saturation)
        self.hue = check_nonnegative("hue", hue)
        if self.hue > 0.5:
            raise ValueError(
                f"hue is the largest hue shift in turns of the colour wheel, in [0, 0.5]; got "
                f"{hue!r} (0.5 already reaches every hue); try 0.05"
            )

    def _sample(self, x, applied, generator) -> ColorParams:
        b = x.shape[0]
        s = _factor(b, self.saturation, applied, generator, x.device)
        h = uniform(b, -self.hue, self.hue, device=x.device, generator=generator)
        h = torch.where(applied, h, torch.zeros_like(h))
        return ColorParams(applied=applied, saturation=s, hue=h)

    def apply(self, x: torch.Tensor, params: ColorParams) -> torch.Tensor:
        out = AF.hue(AF.saturation(x, params.saturation), params.hue)
        return where_applied(params.applied, out, x)

    def describe(self, params: ColorParams, i: int) -> str:
        if not bool(params.applied[i]):
            return ""
        s, h = float(params.saturation[i]), float(params.hue[i])
        return f"color sat x{s:.2f} hue {h * 360:+.0f}°"

    def extra_repr(self) -> str:
        return f"saturation={self.saturation}, hue={self.hue}, p={self.p}"
