"""Pure image functions on whole batches, each example with its own amount.

Every function takes float images (B, C, H, W) in [0, 1] and per-example amounts of shape
(B,), and returns a new batch in [0, 1]. Nothing here draws random numbers: the ops in this
package sample the amounts and call these functions, so a recorded set of amounts always
reproduces the same picture.

Geometry goes through one affine warp (``affine_grid`` + ``grid_sample``, bilinear, zeros
outside the image). The matrices are built in pixel units around the image centre and only
then converted to the normalised coordinates torch expects, so a 30 degree rotation of a
128x192 photo is a true rotation and not a skewed one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "warp_affine",
    "affine_matrix",
    "grayscale",
    "brightness",
    "contrast",
    "saturation",
    "hue",
    "solarize",
    "posterize",
    "autocontrast",
    "equalize",
    "sharpness",
]

_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601 weights, as PIL's "L" conversion


def _col(v: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1, 1) for broadcasting over images."""
    return v.reshape(-1, 1, 1, 1).to(torch.float32)


def affine_matrix(
    size: tuple[int, int],
    *,
    angle: torch.Tensor | None = None,
    shear: torch.Tensor | None = None,
    translate: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-example matrices (B, 2, 3) that map an *output* position to its *input* position.

    Args:
        size: (H, W) of the images.
        angle: (B,) degrees, counter-clockwise rotation of the picture.
        shear: (B, 2) shear factors (sx, sy): the picture's x moves by sx * y and y by sy * x.
        translate: (B, 2) shifts (dx, dy) in pixels, positive right and down.

    Returns:
        Matrices in torch's normalised coordinates, ready for ``warp_affine``.
    """
    h, w = size
    given = [t for t in (angle, shear, translate) if t is not None]
    b, device = given[0].shape[0], given[0].device
    fwd = torch.eye(3, device=device).repeat(b, 1, 1)  # forward map, pixel units
    if shear is not None:
        s = torch.eye(3, device=device).repeat(b, 1, 1)
        s[:, 0, 1], s[:, 1, 0] = shear[:, 0], shear[:, 1]
        fwd = s @ fwd
    if angle is not None:
        # y points down in images, so a counter-clockwise turn on screen is -angle in maths.
        a = -angle.to(torch.float32) * math.pi / 180
        r = torch.eye(3, device=device).repeat(b, 1, 1)
        r[:, 0, 0], r[:, 0, 1], r[:, 1, 0], r[:, 1, 1] = a.cos(), -a.sin(), a.sin(), a.cos()
        fwd = r @ fwd
    if translate is not None:
        t = torch.eye(3, device=device).repeat(b, 1, 1)
        t[:, 0, 2], t[:, 1, 2] = translate[:, 0], translate[:, 1]
        fwd = t @ fwd
    inv = torch.linalg.inv(fwd)  # grid_sample asks where each output pixel comes from
    half = torch.tensor([w / 2, h / 2], device=device)
    theta = inv[:, :2, :].clone()
    theta[:, :, :2] = inv[:, :2, :2] * half[None, None, :] / half[None, :, None]
    theta[:, :, 2] = inv[:, :2, 2] / half
    return theta


def warp_affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample ``x`` through ``theta`` (B, 2, 3); bilinear, zeros outside.

    Shape:
        x: (B, C, H, W), theta: (B, 2, 3) -> (B, C, H, W)
    """
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.clamp(0, 1)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """Luma (B, 1, H, W) of RGB images; the channel mean for any other channel count."""
    if x.shape[1] == 3:
        w = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * w).sum(dim=1, keepdim=True)
    return x.mean(dim=1, keepdim=True)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``other + factor * (x - other)``: factor 1 keeps x, 0 gives other, >1 extrapolates."""
    return (other + _col(factor).to(x.dtype) * (x - other)).clamp(0, 1)


def brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale intensities by ``factor`` (a blend with black), clipped to [0, 1]."""
    return _blend(x, torch.zeros_like(x), factor)


def contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Move every pixel towards (factor < 1) or away from each image's mean grey level."""
    mean = grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean.expand_as(x), factor)


def saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with the grey version (factor 0: grey, 1: unchanged); identity unless RGB."""
    if x.shape[1] != 3:
        return x.clone()
    return _blend(x, grayscale(x).expand_as(x), factor)


def hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate the hue by ``shift`` turns (0.5 = opposite colour); identity unless RGB.

    The rotation turns the two chroma axes of the YIQ colour space and keeps luma, a linear
    stand-in for an HSV hue shift that needs no per-pixel branching.
    """
    if x.shape[1] != 3:
        return x.clone()
    to_yiq = torch.tensor(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
        device=x.device,
    )
    a = shift.to(torch.float32) * 2 * math.pi
    rot = torch.zeros(len(a), 3, 3, device=x.device)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = a.cos(), -a.sin(), a.sin(), a.cos()
    m = torch.linalg.inv(to_yiq) @ rot @ to_yiq  # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", m.to(x.dtype), x).clamp(0, 1)


def solarize(x: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Invert the pixels at or above ``threshold`` (a value in [0, 1])."""
    return torch.where(x >= _col(threshold).to(x.dtype), 1 - x, x)


def posterize(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    """Keep the top ``bits`` (1..8) bits of each 8-bit intensity."""
    q = (x * 255).round().to(torch.int64)
    mask = (255 << (8 - bits.to(torch.int64))) & 255  # (B,)
    return ((q & mask.view(-1, 1, 1, 1)).to(x.dtype) / 255).clamp(0, 1)


def autocontrast(x: torch.Tensor) -> torch.Tensor:
    """Stretch each channel of each image to span [0, 1]; flat channels stay as they are."""
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    span = hi - lo
    flat = span <= 0
    out = (x - lo) / torch.where(flat, torch.ones_like(span), span)
    return torch.where(flat, x, out).clamp(0, 1)


def equalize(x: torch.Tensor) -> torch.Tensor:
    """Histogram-equalise each channel of each image over 256 levels.

    A per-channel histogram (scatter-add), its cumulative sum and the classic lookup table
    ``(cdf - cdf_min) / (N - cdf_min)``; a channel with a single level is left unchanged.
    """
    b, c, h, w = x.shape
    q = (x * 255).round().clamp(0, 255).to(torch.int64).reshape(b * c, h * w)
    hist = torch.zeros(b * c, 256, device=x.device).scatter_add_(
        1, q, torch.ones_like(q, dtype=torch.float32)
    )
    cdf = hist.cumsum(dim=1)  # (B*C, 256)
    cdf_min = torch.where(hist > 0, cdf, torch.full_like(cdf, float(h * w))).amin(dim=1)
    denom = (h * w - cdf_min).clamp(min=1)
    lut = ((cdf - cdf_min[:, None]) / denom[:, None]).clamp(0, 1)  # (B*C, 256)
    out = lut.gather(1, q).reshape(b, c, h, w).to(x.dtype)
    flat = (cdf_min >= h * w).reshape(b, c, 1, 1)
    return torch.where(flat, x, out)


def sharpness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with a smoothed copy (factor 0: smooth, 1: unchanged, 2: sharpened).

    The smoothing kernel is PIL's (centre weight 5, neighbours 1, over 13); border pixels
    keep their values, as in PIL.
    """
    c = x.shape[1]
    k = torch.ones(3, 3, device=x.device, dtype=x.dtype)
    k[1, 1] = 5
    k = (k / 13).expand(c, 1, 3, 3)
    smooth = x.clone()
    if x.shape[2] > 2 and x.shape[3] > 2:
        smooth[:, :, 1:-1, 1:-1] = F.conv2d(x, k, groups=c)
    return _blend(x, smooth, factor)
