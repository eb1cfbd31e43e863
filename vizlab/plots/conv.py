"""Convolution diagrams with the live numbers, and the model summary table.

Curriculum rows A-CH (one output channel as the sum of per-input-channel
cross-correlations), A-1x1 (a 1x1 convolution as a per-pixel linear map), A-POOL (pooling
windows) and A-ZOO (layer table). The arithmetic here is plain numpy on the arrays given:
the figure shows exactly what it computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from vizlab.plots._data import as_float
from vizlab.plots.style import VAL, layer_color, new_figure, styled

__all__ = [
    "conv_channels",
    "conv1x1",
    "pooling_windows",
    "summary_table",
    "param_bars",
    "xcorr2d",
    "pool2d",
]


def xcorr2d(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Valid 2-D cross-correlation (what deep learning calls convolution).

    Shape:
        x: (H, W); k: (kh, kw); out: (H - kh + 1, W - kw + 1).
    """
    kh, kw = k.shape
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw))
    return np.einsum("ijkl,kl->ij", windows, k)


def pool2d(x: np.ndarray, window: int, stride: int, mode: str = "max") -> np.ndarray:
    """Max or average pooling of one channel, no padding.

    Shape:
        x: (H, W); out: ((H - window) // stride + 1, (W - window) // stride + 1).
    """
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
    windows = np.lib.stride_tricks.sliding_window_view(x, (window, window))[::stride, ::stride]
    return windows.max(axis=(2, 3)) if mode == "max" else windows.mean(axis=(2, 3))


def _numbers(ax: Axes, arr: np.ndarray, *, fmt: str = "{:.1f}", limit: int = 64) -> None:
    """Annotate each cell with its value when the array is small enough to read."""
    ax.set_xticks([])
    ax.set_yticks([])
    if arr.size > limit:
        return
    for (i, j), v in np.ndenumerate(arr):
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize="small", color="black")


def _show(ax: Axes, arr: np.ndarray, title: str) -> None:
    ax.imshow(arr, cmap="coolwarm", interpolation="nearest")
    _numbers(ax, arr)
    ax.set_title(title, fontsize="small")


@styled
def conv_channels(x: Any, kernel: Any, *, figsize=None) -> Figure:
    """One output channel of a multi-channel convolution, channel by channel (A-CH).

    Row ``i`` shows input channel ``i``, its kernel slice, and their cross-correlation; the
    last column is the sum over channels, which is the output channel.

    Shape:
        x: (C_in, H, W); kernel: (C_in, kh, kw) (the slice of a (C_out, C_in, kh, kw) weight).
    """
    x, k = as_float(x), as_float(kernel)
    if x.ndim != 3 or k.ndim != 3 or x.shape[0] != k.shape[0]:
        raise ValueError(
            f"need x (C_in, H, W) and kernel (C_in, kh, kw) with the same C_in; "
            f"got {x.shape} and {k.shape}"
        )
    parts = [xcorr2d(x[i], k[i]) for i in range(x.shape[0])]
    fig = new_figure(figsize, (12.0, 2.8 * x.shape[0] + 0.6))
    axes = fig.subplots(x.shape[0], 4, squeeze=False)
    for i, part in enumerate(parts):
        _show(axes[i, 0], x[i], f"input channel {i}")
        _show(axes[i, 1], k[i], f"kernel[{i}]")
        _show(axes[i, 2], part, f"channel {i} ⋆ kernel[{i}]")
        axes[i, 3].set_axis_off()
    _show(axes[0, 3], np.sum(parts, axis=0), "output = sum")
    axes[0, 3].set_axis_on()
    fig.suptitle(f"kernel shape c_o x {k.shape[0]} x {k.shape[1]} x {k.shape[2]}")
    return fig


@styled
def conv1x1(x: Any, weight: Any, *, pixel: tuple[int, int] = (0, 0), figsize=None) -> Figure:
    """A 1x1 convolution as one linear map applied at every pixel (A-1x1).

    Shape:
        x: (C_in, H, W); weight: (C_out, C_in); output: (C_out, H, W).
    """
    x, w = as_float(x), as_float(weight)
    if x.ndim != 3 or w.ndim != 2 or w.shape[1] != x.shape[0]:
        raise ValueError(f"need x (C_in, H, W) and weight (C_out, C_in); got {x.shape}, {w.shape}")
    out = np.einsum("oc,chw->ohw", w, x)
    i, j = pixel
    fig = new_figure(figsize, (13.0, 4.5))
    ax_in, ax_w, ax_out = fig.subplots(1, 3)
    vec = x[:, i, j][:, None]
    _show(ax_in, vec, f"x[:, {i}, {j}] (C_in)")
    _show(ax_w, w, "weight (C_out x C_in)")
    _show(ax_out, out[:, i, j][:, None], f"output[:, {i}, {j}] = W x")
    fig.suptitle(f"the same {w.shape[0]}x{w.shape[1]} matrix at each of {x[0].size} pixels")
    return fig


@styled
def pooling_windows(
    x: Any, *, window: int = 2, stride: int = 2, mode: str = "max", figsize=None
) -> Figure:
    """Pooling windows drawn over one channel, and the pooled output (A-POOL).

    Shape:
        x: (H, W).
    """
    x = as_float(x)
    if x.ndim != 2 or min(x.shape) < window:
        raise ValueError(f"need a 2-D input at least {window}x{window}; got shape {x.shape}")
    out = pool2d(x, window, stride, mode)
    fig = new_figure(figsize, (11.0, 5.0))
    ax_in, ax_out = fig.subplots(1, 2)
    _show(ax_in, x, f"input {x.shape[0]}x{x.shape[1]}")
    for n, (i, j) in enumerate(np.ndindex(out.shape)):
        rect = Rectangle(
            (j * stride - 0.5, i * stride - 0.5),
            window,
            window,
            fill=False,
            lw=2.5,
            ec=layer_color(n),
        )
        ax_in.add_patch(rect)
    _show(
        ax_out,
        out,
        f"{mode} pool {window}x{window}, stride {stride}: {out.shape[0]}x{out.shape[1]}",
    )
    return fig


@styled
def summary_table(rows: Sequence[Sequence[Any]], *, title: str = "", figsize=None) -> Figure:
    """A model's layer table: name, type, output shape and parameters, with the total (A-ZOO).

    Args:
        rows: ``(name, type, output_shape, params)`` per layer (``SummaryRow`` works).
    """
    body = [
        [str(r[0]), str(r[1]), str(tuple(r[2])) if r[2] is not None else "", f"{int(r[3]):,}"]
        for r in rows
    ]
    total = sum(int(r[3]) for r in rows)
    body.append(["total", "", "", f"{total:,}"])
    fig = new_figure(figsize, (10.0, 0.42 * len(body) + 1.2))
    ax = fig.add_subplot()
    ax.set_axis_off()
    table = ax.table(
        cellText=body, colLabels=["layer", "type", "output shape", "params"], loc="upper center"
    )
    table.auto_set_font_size(False)
    table.set_fontsize(12)
    table.scale(1.0, 1.4)
    for col in range(4):
        table[len(body), col].set_facecolor("#eeeeee")
        table[0, col].set_text_props(color=VAL, fontweight="bold")
    if title:
        ax.set_title(title)
    return fig


@styled
def param_bars(rows: Sequence[Sequence[Any]], *, ax: Axes | None = None, figsize=None) -> Figure:
    """Parameters per layer as bars (log scale), from the same rows as :func:`summary_table`
    (B-PARAMS): width and depth show up as the few layers that hold most of the weights."""
    fig = new_figure(figsize, (10.0, 4.5)) if ax is None else ax.figure
    ax = ax if ax is not None else fig.add_subplot()
    kept = [r for r in rows if int(r[3]) > 0]
    ax.bar(
        range(len(kept)), [int(r[3]) for r in kept], color=[layer_color(str(r[0])) for r in kept]
    )
    ax.set_xticks(range(len(kept)), [str(r[0]) for r in kept], rotation=60, ha="right")
    ax.set_ylabel("parameters")
    if kept:
        ax.set_yscale("log")
    ax.set_title(f"{sum(int(r[3]) for r in rows):,} parameters in all")
    return fig
