"""Figures of whole training runs: curves, the depth x width grid, and what pooling leaves.

Curriculum rows C-OVER, E-ES, D-EFFECT (curves), B-GRID, B-STUCK, B-PARAMS (grid heatmaps)
and B-POOL (spatial size after each block).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from vizlab.plots._data import as_float, as_image
from vizlab.plots.style import MARK, TRAIN, VAL, new_figure, styled

__all__ = [
    "curves",
    "draw_curves",
    "grid_heatmap",
    "draw_grid_heatmap",
    "spatial_sizes",
    "draw_spatial_sizes",
]


def _history(history: Any) -> Mapping[str, Any]:
    if hasattr(history, "as_dict"):
        return history.as_dict()
    if not isinstance(history, Mapping):
        raise TypeError(
            f"curves take a history dict (History.as_dict()), got {type(history).__name__}"
        )
    return history


@styled
def draw_curves(ax: Axes, history: Any, *, metric: str = "loss") -> list[Artist]:
    """Train vs validation ``metric`` per epoch, with best, stop and restored epochs marked.

    The markers make early stopping readable: training ran on past the best validation
    epoch for ``patience`` epochs, and the weights the model ends with are the restored ones.

    Args:
        ax: axes to draw into.
        history: a ``History.as_dict()`` dict (or anything with ``as_dict``): ``epochs``,
            ``train_<metric>``, ``val_<metric>`` and optionally ``best_epoch``,
            ``stop_epoch``, ``restored_epoch``. ``None`` entries (NaN in JSON) draw as gaps.
        metric: ``"loss"`` or ``"acc"``.

    Returns:
        The lines drawn: train, validation, then one vertical line per marked epoch.
    """
    h = _history(history)
    epochs = as_float(h.get("epochs", []))
    artists: list[Artist] = []
    for key, color, label in (("train", TRAIN, "train"), ("val", VAL, "validation")):
        y = as_float([np.nan if v is None else v for v in h.get(f"{key}_{metric}", [])])
        n = min(len(epochs), len(y))
        artists += ax.plot(epochs[:n], y[:n], marker="o", color=color, label=label)
    marks = (("best_epoch", "--", "best"), ("stop_epoch", ":", "stopped"))
    marks += (("restored_epoch", "-.", "restored"),)
    for key, style, label in marks:
        epoch = h.get(key)
        if epoch is not None:
            artists.append(ax.axvline(epoch, color=MARK, linestyle=style, label=f"{label} {epoch}"))
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy" if metric == "acc" else metric)
    ax.legend(loc="best")
    return artists


@styled
def curves(
    history: Any, *, ax: Axes | None = None, figsize: tuple[float, float] | None = None
) -> Figure:
    """Loss and accuracy curves side by side (one axes: the loss only, into ``ax``)."""
    if ax is not None:
        draw_curves(ax, history)
        return ax.figure
    h = _history(history)
    fig = new_figure(figsize, (12.0, 4.5))
    ax_loss, ax_acc = fig.subplots(1, 2)
    draw_curves(ax_loss, h, metric="loss")
    draw_curves(ax_acc, h, metric="acc")
    title = " on ".join(str(h[k]) for k in ("model", "data") if h.get(k))
    if title:
        fig.suptitle(title)
    return fig


@styled
def draw_grid_heatmap(
    ax: Axes,
    values: Any,
    *,
    rows: Sequence[Any] | None = None,
    cols: Sequence[Any] | None = None,
    stuck: Any = None,
    label: str = "test accuracy",
    fmt: str = "{:.2f}",
    row_name: str = "blocks",
    col_name: str = "convs per block",
) -> list[Artist]:
    """A heatmap over the grid, each cell annotated; 3-D input shows mean +- spread.

    Args:
        values: ``(R, rows, cols)`` one value per repetition (shown as mean and std over
            ``R``) or ``(rows, cols)``. NaN cells (not run yet, diverged) stay blank.
        rows, cols: tick labels (default 1..n).
        stuck: bool ``(rows, cols)``: cells whose loss never left chance level, hatched.
        label: what the colour means.

    Returns:
        The image, then the cell texts, then the stuck-cell patches.
    """
    arr = as_float(values)
    if arr.ndim not in (2, 3):
        raise ValueError(f"grid values must be (rows, cols) or (R, rows, cols); got {arr.shape}")
    if arr.ndim == 3:
        counts = np.isfinite(arr).sum(axis=0)
        mean = np.where(counts > 0, np.nansum(arr, axis=0) / np.maximum(counts, 1), np.nan)
        dev = np.where(np.isfinite(arr), arr - mean, 0.0)
        spread = np.where(counts > 0, np.sqrt((dev**2).sum(axis=0) / np.maximum(counts, 1)), 0)
    else:
        mean, spread = arr, None
    n_rows, n_cols = mean.shape
    image = ax.imshow(mean, origin="lower", aspect="auto")
    artists: list[Artist] = [image]
    ax.figure.colorbar(image, ax=ax, label=label)
    lo, hi = image.get_clim()
    for i in range(n_rows):
        for j in range(n_cols):
            if not np.isfinite(mean[i, j]):
                continue
            text = fmt.format(mean[i, j])
            if spread is not None:
                text += "\n±" + fmt.format(spread[i, j])
            bright = hi > lo and (mean[i, j] - lo) / (hi - lo) > 0.6  # viridis turns yellow
            color = "black" if bright else "white"
            artists.append(ax.text(j, i, text, ha="center", va="center", color=color))
    if stuck is not None:
        for i, j in zip(*np.nonzero(np.asarray(stuck, dtype=bool))):
            box = Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", ec=MARK, lw=2)
            artists.append(ax.add_patch(box))
    ax.set_xticks(range(n_cols), [str(c) for c in (cols or range(1, n_cols + 1))])
    ax.set_yticks(range(n_rows), [str(r) for r in (rows or range(1, n_rows + 1))])
    ax.set_xlabel(col_name)
    ax.set_ylabel(row_name)
    return artists


@styled
def grid_heatmap(
    values: Any,
    *,
    params: Any = None,
    stuck: Any = None,
    rows: Sequence[Any] | None = None,
    cols: Sequence[Any] | None = None,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Accuracy over the (blocks x convs) grid and, if given, the parameter count beside it.

    Args:
        values: accuracies ``(R, rows, cols)`` or ``(rows, cols)``.
        params: parameter counts ``(rows, cols)``.
        stuck: bool ``(rows, cols)`` of cells that never left chance level.
    """
    if ax is not None:
        draw_grid_heatmap(ax, values, rows=rows, cols=cols, stuck=stuck)
        return ax.figure
    fig = new_figure(figsize, (13.0 if params is not None else 7.0, 5.5))
    axes = fig.subplots(1, 2 if params is not None else 1, squeeze=False)[0]
    draw_grid_heatmap(axes[0], values, rows=rows, cols=cols, stuck=stuck)
    axes[0].set_title("accuracy (mean ± std over repetitions)")
    if params is not None:
        draw_grid_heatmap(axes[1], params, rows=rows, cols=cols, label="parameters", fmt="{:,.0f}")
        axes[1].set_title("parameter count")
    return fig


@styled
def draw_spatial_sizes(ax: Axes, sizes: Sequence[Sequence[int]]) -> list[Artist]:
    """Bars of the feature-map side after each block; a block that reaches 1x1 is marked.

    Args:
        sizes: ``(H, W)`` after each block, input first.
    """
    arr = np.asarray(sizes, dtype=float).reshape(-1, 2)
    x = np.arange(len(arr))
    bars = ax.bar(x, arr[:, 0] * arr[:, 1], color=TRAIN)
    artists: list[Artist] = list(bars)
    for i, (h, w) in enumerate(arr):
        color = VAL if h * w <= 1 else "black"
        artists.append(ax.text(i, h * w, f"{h:.0f}x{w:.0f}", ha="center", va="bottom", color=color))
    ax.set_xticks(x, ["input"] + [f"block {i}" for i in range(1, len(arr))])
    ax.set_ylabel("pixels per channel")
    ax.set_yscale("log")
    return artists


@styled
def spatial_sizes(
    sizes: Sequence[Sequence[int]],
    maps: Sequence[Any] | None = None,
    *,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """How pooling shrinks the image, block by block, with a feature map of each (B-POOL).

    Args:
        sizes: ``(H, W)`` after each block, input first.
        maps: optional sample feature map per entry of ``sizes`` (2-D arrays).
    """
    if ax is not None or not maps:
        fig, target = (ax.figure, ax) if ax is not None else (new_figure(figsize, (9, 4.5)), None)
        draw_spatial_sizes(target or fig.add_subplot(), sizes)
        return fig
    fig = new_figure(figsize, (3.0 * len(maps), 6.5))
    grid = fig.add_gridspec(2, len(maps))
    draw_spatial_sizes(fig.add_subplot(grid[0, :]), sizes)
    for i, fmap in enumerate(maps):
        sub = fig.add_subplot(grid[1, i])
        sub.imshow(as_image(fmap), interpolation="nearest")
        sub.set_axis_off()
        sub.set_title("input" if i == 0 else f"after block {i}")
    return fig
