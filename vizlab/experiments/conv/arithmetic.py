"""A-CH, A-1x1, A-POOL: convolution and pooling written out by hand.

``conv_arithmetic``: a multi-channel convolution is the sum of per-channel 2-D
cross-correlations plus a bias; a 1x1 convolution is one linear map shared by every pixel;
pooling follows the output-size formula and never mixes channels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from vizlab.experiments.base import Result, drawer, experiment
from vizlab.experiments.conv.float64 import CPU64
from vizlab.plots import conv1x1, conv_channels, pooling_windows


def xcorr2d(x: torch.Tensor, k: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Valid 2-D cross-correlation written out: a sum over kernel offsets of shifted images.

    Shape:
        x: (H, W); k: (kh, kw); out: ((H - kh) // stride + 1, (W - kw) // stride + 1).
    """
    kh, kw = k.shape
    ho, wo = (x.shape[0] - kh) // stride + 1, (x.shape[1] - kw) // stride + 1
    out = x.new_zeros(ho, wo)
    for a in range(kh):
        for b in range(kw):
            rows = slice(a, a + stride * (ho - 1) + 1, stride)
            cols = slice(b, b + stride * (wo - 1) + 1, stride)
            out += k[a, b] * x[rows, cols]
    return out


def _channel_sum(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` computed as bias + sum over input channels of 2-D cross-correlations.

    Shape:
        x: (B, C_in, H, W); out: (B, C_out, H', W').
    """
    p, s = conv.padding[0], conv.stride[0]
    xp = F.pad(x, (p, p, p, p))
    w, b = conv.weight.detach(), conv.bias.detach()
    return torch.stack(
        [
            torch.stack(
                [
                    b[o] + sum(xcorr2d(xp[n, i], w[o, i], s) for i in range(w.shape[1]))
                    for o in range(w.shape[0])
                ]
            )
            for n in range(x.shape[0])
        ]
    )


def _pool_explicit(x: torch.Tensor, mode: str, window: int, stride: int, pad: int) -> torch.Tensor:
    """Pooling written out window by window, each channel on its own.

    Max pooling pads with -inf and average pooling with zeros that count in the mean
    (PyTorch's defaults). Shape: x (C, H, W) -> (C, H', W').
    """
    fill = -math.inf if mode == "max" else 0.0
    xp = F.pad(x, (pad, pad, pad, pad), value=fill)
    ho = (x.shape[1] + 2 * pad - window) // stride + 1
    wo = (x.shape[2] + 2 * pad - window) // stride + 1
    out = x.new_zeros(x.shape[0], ho, wo)
    for c in range(x.shape[0]):
        for i in range(ho):
            for j in range(wo):
                win = xp[c, i * stride : i * stride + window, j * stride : j * stride + window]
                out[c, i, j] = win.max() if mode == "max" else win.mean()
    return out


def _check_channels(gen: torch.Generator, c_in: int, c_out: int, k: int, s: int, p: int) -> dict:
    conv = nn.Conv2d(c_in, c_out, k, stride=s, padding=p).to(**CPU64)
    x = torch.randn(2, c_in, 9, 8, generator=gen, **CPU64)  # (B, C_in, H, W)
    with torch.no_grad():
        out = conv(x)
    explicit = _channel_sum(conv, x)
    return {
        "c_in": c_in,
        "c_out": c_out,
        "kernel": k,
        "stride": s,
        "padding": p,
        "weight_shape": list(conv.weight.shape),
        "params": sum(q.numel() for q in conv.parameters()),
        "params_formula": c_out * c_in * k * k + c_out,
        "out_shape": list(out.shape),
        "max_abs_diff": float((out - explicit).abs().max()),
    }


def _check_1x1(gen: torch.Generator, c_in: int, c_out: int) -> dict:
    conv = nn.Conv2d(c_in, c_out, 1).to(**CPU64)
    linear = nn.Linear(c_in, c_out).to(**CPU64)
    linear.weight = nn.Parameter(conv.weight.view(c_out, c_in))  # the same storage
    linear.bias = conv.bias
    x = torch.randn(2, c_in, 5, 6, generator=gen, **CPU64)  # (B, C_in, H, W)
    with torch.no_grad():
        by_conv = conv(x)  # (B, C_out, H, W)
        by_linear = linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # pixels as a batch
        per_pixel = max(
            float((linear(x[:, :, i, j]) - by_conv[:, :, i, j]).abs().max())
            for i in range(x.shape[2])
            for j in range(x.shape[3])
        )
    return {
        "c_in": c_in,
        "c_out": c_out,
        "pixels": x.shape[2] * x.shape[3],
        "max_abs_diff": float((by_conv - by_linear).abs().max()),
        "per_pixel_max_abs_diff": per_pixel,
        "shares_weights": linear.weight.data_ptr() == conv.weight.data_ptr(),
        "params_conv": sum(q.numel() for q in conv.parameters()),
        "params_linear": sum(q.numel() for q in linear.parameters()),
    }


def _check_pool(x: torch.Tensor, mode: str, window: int, stride: int, pad: int) -> dict:
    pool = (nn.MaxPool2d if mode == "max" else nn.AvgPool2d)(window, stride, pad)
    out = pool(x)  # (B, C, H', W')
    h, w = x.shape[2:]
    formula = [(h + 2 * pad - window) // stride + 1, (w + 2 * pad - window) // stride + 1]
    explicit = torch.stack([_pool_explicit(xb, mode, window, stride, pad) for xb in x])
    alone = torch.cat([pool(x[:, c : c + 1]) for c in range(x.shape[1])], dim=1)
    return {
        "mode": mode,
        "window": window,
        "stride": stride,
        "padding": pad,
        "in_shape": list(x.shape),
        "out_shape": list(out.shape),
        "formula_hw": formula,
        "max_abs_diff": float((out - explicit).abs().max()),
        "channel_alone_diff": float((out - alone).abs().max()),
    }


@experiment(
    "conv_arithmetic",
    ("A-CH", "A-1x1", "A-POOL"),
    "Convolution and pooling, written out by hand",
)
def conv_arithmetic(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    tol: float = 1e-10,
) -> Result:
    """Compare PyTorch's conv and pooling layers with their definitions, on random tensors.

    A-CH: for several (C_in, C_out, k, stride, padding), ``Conv2d`` equals bias plus the sum
    over input channels of 2-D cross-correlations, and its weight has shape
    ``C_out x C_in x k x k``. A-1x1: a 1x1 conv equals a ``Linear`` (sharing the conv's
    weight storage) applied at every pixel. A-POOL: max and average pooling over window,
    stride and padding combinations give ``floor((H + 2p - k) / s) + 1`` per side, keep the
    channel count, equal the window-by-window definition and pool each channel alone.
    No training; float64 on the CPU (``data``, ``device``, ``stop``, ``callbacks`` unused),
    so it holds at any scale.
    """
    gen = torch.Generator().manual_seed(seed)
    combos = [(1, 2, 3, 1, 0), (3, 4, 3, 1, 1), (4, 2, 5, 2, 2), (2, 3, 2, 2, 0), (3, 1, 1, 1, 0)]
    channels = [_check_channels(gen, *c) for c in combos]
    one_by_one = [_check_1x1(gen, c_in, c_out) for c_in, c_out in ((5, 3), (16, 8))]
    x = torch.randn(2, 3, 11, 9, generator=gen, **CPU64)  # (B, C, H, W), not square
    pools = [
        _check_pool(x, mode, window, stride, pad)
        for mode in ("max", "avg")
        for window in (2, 3, 4)
        for stride in (1, 2, 3)
        for pad in range(window // 2 + 1)
    ]
    # Small integer examples for the figures (readable numbers in every cell).
    example_x = torch.randint(0, 4, (3, 5, 5), generator=gen).double()
    example_k = torch.randint(-1, 2, (3, 3, 3), generator=gen).double()
    example_w = torch.randint(-2, 3, (4, 3), generator=gen).double()
    example_pool = torch.randint(0, 10, (6, 6), generator=gen).double()
    numbers = {
        "channels": channels,
        "one_by_one": one_by_one,
        "pooling": pools,
        "tol": tol,
        "example": {
            "x": example_x,
            "kernel": example_k,
            "weight_1x1": example_w,
            "pool_input": example_pool,
        },
    }
    facts = {
        "sum_of_channels": all(c["max_abs_diff"] < tol for c in channels),
        "kernel_shape": all(
            c["weight_shape"] == [c["c_out"], c["c_in"], c["kernel"], c["kernel"]]
            and c["params"] == c["params_formula"]
            for c in channels
        ),
        "one_by_one_is_linear": all(
            o["max_abs_diff"] < tol and o["per_pixel_max_abs_diff"] < tol and o["shares_weights"]
            for o in one_by_one
        ),
        "pool_shape_formula": all(p["out_shape"][2:] == p["formula_hw"] for p in pools),
        "pool_channels_unchanged": all(
            p["out_shape"][:2] == p["in_shape"][:2] and p["channel_alone_diff"] == 0.0
            for p in pools
        ),
        "pool_values": all(p["max_abs_diff"] < tol for p in pools),
    }
    config = {"seed": seed, "device": "cpu", "dtype": "float64", "combos": combos}
    return Result("conv_arithmetic", ("A-CH", "A-1x1", "A-POOL"), scale, numbers, facts, config)


@drawer("conv_arithmetic")
def draw_conv_arithmetic(result: Result) -> dict[str, tuple[Figure, str]]:
    ex = result.numbers["example"]
    x, k = np.asarray(ex["x"]), np.asarray(ex["kernel"])
    diff = max(c["max_abs_diff"] for c in result.numbers["channels"])
    return {
        "conv_channels": (
            conv_channels(x, k),
            f"One output channel is the sum of per-channel cross-correlations "
            f"(largest gap to Conv2d over all settings: {diff:.1e}).",
        ),
        "conv1x1": (
            conv1x1(x, np.asarray(ex["weight_1x1"]), pixel=(2, 2)),
            "A 1x1 convolution applies one C_out x C_in matrix at every pixel.",
        ),
        "pooling_windows": (
            pooling_windows(np.asarray(ex["pool_input"]), window=3, stride=2),
            "Max pooling 3x3 with stride 2: output side floor((6 - 3) / 2) + 1 = 2.",
        ),
    }
