"""Regularization figures: dropout masks and schedules, MC dropout, weights, lasso vs ridge.

Curriculum rows F-MASK, F-VAR (masks), F-MC (Monte-Carlo dropout), F-SCHED (schedules),
E-L2, E-WD, E-L1, E-REPARAM (weight histograms and norms) and E-L1 (the lasso vs ridge
picture).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Polygon

from vizlab.plots._data import as_float, finite, group, latest_value
from vizlab.plots.style import MARK, TRAIN, VAL, figure_and_axes, layer_color, new_figure, styled

__all__ = [
    "dropout_mask",
    "draw_dropout_mask",
    "mc_dropout",
    "dropout_schedule",
    "weight_hist",
    "draw_weight_norms",
    "lasso_ridge",
    "constrained_optimum",
]


def _mask2d(mask: Any) -> np.ndarray:
    arr = np.asarray(mask, dtype=float)
    if arr.size == 0:
        return np.full((1, 1), np.nan)  # nothing sampled yet: one blank cell
    if arr.ndim == 0:
        return arr.reshape(1, 1)
    return arr[None, :] if arr.ndim == 1 else arr.reshape(arr.shape[0], -1)


@styled
def draw_dropout_mask(ax: Axes, mask: Any, *, title: str = "") -> list[Artist]:
    """A mask as a black (dropped) and white (kept) image, rows = examples.

    Shape:
        mask: (B, units), or (B, C, H, W) / (out, in) / (H, W): anything beyond two axes is
        flattened per row, so a channel mask shows as constant runs of H*W units.
    """
    arr = _mask2d(mask)
    image = ax.imshow(arr, cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    kept = finite(arr)
    fraction = f"kept {kept.mean():.0%}" if kept.size else "empty"
    ax.set_title(f"{title}  {fraction}".strip())
    ax.set_xlabel("unit")
    ax.set_ylabel("row")
    return [image]


@styled
def dropout_mask(masks: Any, *, figsize=None) -> Figure:
    """One or several masks side by side: element, channel, cutout, DropConnect (F-MASK, F-VAR).

    Args:
        masks: an array, or ``{name: array}``.
    """
    items = dict(masks) if isinstance(masks, Mapping) else {"": masks}
    fig = new_figure(figsize, (5.0 * max(len(items), 1), 4.5))
    for ax, (name, mask) in zip(
        fig.subplots(1, max(len(items), 1), squeeze=False)[0], items.items()
    ):
        draw_dropout_mask(ax, mask, title=str(name))
    return fig


@styled
def mc_dropout(
    probs: Any,
    *,
    classes: Sequence[str] | None = None,
    label: int | None = None,
    ax: Axes | None = None,
    figsize=None,
) -> Figure:
    """Per-class mean probability over dropout passes, with the spread as error bars (F-MC).

    Args:
        probs: ``(passes, classes)`` softmax outputs of the masked forward passes.
        label: index of the true class, outlined.
    """
    arr = as_float(probs)
    arr = arr.reshape(-1, arr.shape[-1]) if arr.size else np.zeros((0, len(classes or [])))
    fig, ax = figure_and_axes(ax, figsize, (9.0, 4.8))
    k = arr.shape[1]
    mean = np.array(
        [finite(arr[:, j]).mean() if finite(arr[:, j]).size else np.nan for j in range(k)]
    )
    std = np.array([finite(arr[:, j]).std() if finite(arr[:, j]).size else 0.0 for j in range(k)])
    bars = ax.bar(np.arange(k), mean, yerr=std, color=TRAIN, capsize=6)
    if label is not None and 0 <= label < k:
        bars[label].set_edgecolor(VAL)
        bars[label].set_linewidth(3)
    ax.set_xticks(range(k), list(classes) if classes else [str(j) for j in range(k)])
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.set_title(f"mean ± std over {arr.shape[0]} dropout passes")
    return fig


@styled
def dropout_schedule(
    schedules: Mapping[str, tuple[Any, Any]], *, ax: Axes | None = None, figsize=None
) -> Figure:
    """Dropout rate over training for each schedule (F-SCHED).

    Args:
        schedules: ``{name: (progress or step, rate)}``.
    """
    fig, ax = figure_and_axes(ax, figsize, (9.0, 4.5))
    for i, (name, (x, rate)) in enumerate(schedules.items()):
        ax.plot(
            as_float(x), as_float(rate), color=layer_color(i), label=name, drawstyle="steps-post"
        )
    ax.set_xlabel("training progress")
    ax.set_ylabel("dropout rate p")
    if schedules:
        ax.legend(loc="best")
    return fig


@styled
def draw_weight_norms(ax: Axes, records: Iterable[Sequence[Any]]) -> list[Artist]:
    """Norm of each layer's weights over steps (E-L2, E-WD)."""
    artists: list[Artist] = []
    for layer, stats in group(records, "weights").items():
        if "weight_norm" in stats:
            steps, values = stats["weight_norm"]
            artists += ax.plot(steps, as_float(values), color=layer_color(layer), label=layer)
    ax.set_xlabel("step")
    ax.set_ylabel("weight norm")
    if 0 < len(artists) <= 12:
        ax.legend(loc="best", fontsize="small")
    return artists


@styled
def weight_hist(records: Iterable[Sequence[Any]], *, figsize=None) -> Figure:
    """Newest weight histogram of every layer, and per-layer weight norms over time.

    Args:
        records: rows of kind ``weights``: ``weight_hist`` (counts), ``weight_hist_range``
            ((lo, hi)), ``weight_norm``, ``near_zero``.
    """
    records = list(records)
    fig = new_figure(figsize, (13.0, 4.8))
    ax_hist, ax_norm = fig.subplots(1, 2)
    for layer, stats in group(records, "weights").items():
        counts = latest_value(stats, "weight_hist")
        rng = latest_value(stats, "weight_hist_range")
        if counts is None:
            continue
        counts = np.nan_to_num(as_float(counts))
        lo, hi = (float(v) for v in as_float(rng)) if rng is not None else (0.0, 1.0)
        edges = np.linspace(lo, hi, len(counts) + 1)
        near = latest_value(stats, "near_zero")
        label = layer if near is None else f"{layer} ({float(near):.0%} near 0)"
        ax_hist.stairs(counts, edges, color=layer_color(layer), label=label, linewidth=2)
    ax_hist.set_yscale("symlog")
    ax_hist.set_xlabel("weight")
    ax_hist.set_ylabel("count")
    if ax_hist.patches:
        ax_hist.legend(loc="best", fontsize="small")
    draw_weight_norms(ax_norm, records)
    return fig


def constrained_optimum(
    center: Sequence[float], a: Any, *, norm: int, radius: float = 1.0, samples: int = 20000
) -> np.ndarray:
    """Minimizer of ``0.5 (w - center)^T A (w - center)`` subject to ``||w||_norm <= radius``.

    Solved by sampling the boundary densely: enough for a picture, and exact in the cases
    the lecture shows (the L1 optimum lands on a corner).
    """
    c = np.asarray(center, dtype=float)
    a = np.asarray(a, dtype=float)
    if np.abs(c).sum() <= radius if norm == 1 else np.linalg.norm(c) <= radius:
        return c
    t = np.linspace(0, 2 * np.pi, samples, endpoint=False)
    pts = np.stack([np.cos(t), np.sin(t)], axis=1)
    pts = pts / np.abs(pts).sum(axis=1, keepdims=True) if norm == 1 else pts
    corners = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=float)
    pts = radius * (np.concatenate([pts, corners]) if norm == 1 else pts)
    d = pts - c
    loss = 0.5 * np.einsum("ni,ij,nj->n", d, a, d)
    return pts[np.argmin(loss)]


@styled
def lasso_ridge(
    center: Sequence[float] = (1.2, 0.5),
    a: Any = ((1.0, 0.4), (0.4, 0.6)),
    *,
    radius: float = 1.0,
    figsize=None,
) -> Figure:
    """L1 diamond vs L2 disc with the loss ellipses and each constrained optimum (E-L1).

    The ellipses first touch the diamond at a corner, where one weight is exactly zero; the
    disc has no corners, so ridge shrinks both weights without zeroing either.

    Args:
        center: unconstrained optimum of the loss.
        a: 2x2 positive definite curvature of the loss.
        radius: size of the constraint region.
    """
    c = np.asarray(center, dtype=float)
    am = np.asarray(a, dtype=float)
    fig = new_figure(figsize, (12.0, 5.5))
    reach = max(float(np.abs(c).max()), radius) * 1.6
    xs = np.linspace(-reach, reach, 240)
    gx, gy = np.meshgrid(xs, xs)
    d = np.stack([gx - c[0], gy - c[1]], axis=-1)
    loss = 0.5 * np.einsum("...i,ij,...j->...", d, am, d)
    for ax, norm, name in zip(fig.subplots(1, 2), (1, 2), ("lasso (L1)", "ridge (L2)")):
        if norm == 1:
            diamond = [(radius, 0), (0, radius), (-radius, 0), (0, -radius)]
            region = Polygon(diamond, closed=True, alpha=0.35, color=TRAIN)
        else:
            region = Circle((0, 0), radius, alpha=0.35, color=TRAIN)
        ax.add_patch(region)
        opt = constrained_optimum(c, am, norm=norm, radius=radius)
        level = 0.5 * (opt - c) @ am @ (opt - c)
        levels = np.unique(np.concatenate([level * np.array([0.25, 0.5, 1, 2, 3.5]), [1e-9]]))
        ax.contour(gx, gy, loss, levels=levels[levels > 0], colors=VAL, linewidths=1.5)
        ax.plot(*c, "x", color=MARK, ms=12, mew=3, label="unconstrained")
        ax.plot(*opt, "o", color=VAL, ms=11, label=f"optimum ({opt[0]:.2f}, {opt[1]:.2f})")
        ax.axhline(0, color="#bbbbbb", lw=1)
        ax.axvline(0, color="#bbbbbb", lw=1)
        ax.set_xlim(-reach, reach)
        ax.set_ylim(-reach, reach)
        ax.set_aspect("equal")
        ax.set_title(name)
        ax.set_xlabel("w1")
        ax.set_ylabel("w2")
        ax.legend(loc="lower left", fontsize="small")
    return fig
