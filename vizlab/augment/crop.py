"""Pad, then cut a random window of the original size: a small random shift.

The standard CIFAR recipe (pad 4 pixels with zeros, crop 32x32 back out) moves the picture
by up to 4 pixels in each direction, so the network sees objects at slightly different
places and has to rely less on exact positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vizlab.augment.base import Augment, Params

__all__ = ["Crop", "CropParams"]


@dataclass
class CropParams(Params):
    """``offset`` (B, 2) int64: top-left corner (row, col) of the window in the padded image.

    ``padding`` is the pad width; ``offset - padding`` is the shift of the window relative to
    the unpadded image, so a skipped example has ``offset == padding`` (no shift).
    """

    offset: torch.Tensor
    padding: int


class Crop(Augment):
    """Zero-pad by ``padding`` pixels and crop a random window of the input size.

    Args:
        padding: pad width in pixels on every side (the largest shift), >= 0.
        p: probability of shifting each example (default 1).
        generator: default ``torch.Generator``.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W); out[i] = pad(x)[i, :, r:r+H, c:c+W] with
        (r, c) = params.offset[i].
    """

    name = "crop"

    def __init__(
        self, padding: int = 4, p: float = 1.0, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(p, generator=generator)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an int >= 0 (pixels), got {padding!r}")
        self.padding = padding

    def _sample(self, x, applied, generator) -> CropParams:
        b, pad = x.shape[0], self.padding
        where = generator.device if generator is not None else x.device
        offset = torch.randint(0, 2 * pad + 1, (b, 2), generator=generator, device=where)
        offset = torch.where(applied[:, None], offset.to(x.device), pad)
        return CropParams(applied=applied, offset=offset, padding=pad)

    def apply(self, x: torch.Tensor, params: CropParams) -> torch.Tensor:
        b, c, h, w = x.shape
        pad = params.padding
        padded = F.pad(x, (pad, pad, pad, pad))  # (B, C, H+2p, W+2p)
        rows = params.offset[:, 0, None] + torch.arange(h, device=x.device)  # (B, H)
        cols = params.offset[:, 1, None] + torch.arange(w, device=x.device)  # (B, W)
        batch = torch.arange(b, device=x.device)[:, None, None]
        out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B,H,W,C)
        return out.permute(0, 3, 1, 2).contiguous()

    def describe(self, params: CropParams, i: int) -> str:
        if not bool(params.applied[i]):
            return ""
        dy, dx = (params.offset[i] - params.padding).tolist()
        return f"crop ({dx:+d},{dy:+d})"

    def extra_repr(self) -> str:
        return f"padding={self.padding}, p={self.p}"
