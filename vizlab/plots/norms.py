"""Normalization figures: statistics per channel, the axes cube, and why standardizing helps.

Curriculum rows G-BN1..3 (batch vs running statistics, alpha/beta), G-BNSMALL (spread of
batch estimates vs batch size), G-AXES and G-LNPARAMS (the (N, C, H*W) cube with the
parameter count) and G-STD (gradient descent before and after standardizing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from vizlab.plots._data import as_float, finite, group, latest_value
from vizlab.plots.style import MARK, TRAIN, VAL, figure_and_axes, layer_color, new_figure, styled

__all__ = [
    "norm_stats",
    "batch_spread",
    "shared_mask",
    "norm_axes_cube",
    "draw_norm_axes_cube",
    "descent_paths",
]

_PAIRS = (("batch_mean", "running_mean", "mean"), ("batch_var", "running_var", "variance"))


@styled
def norm_stats(
    records: Iterable[Sequence[Any]], *, layer: str | None = None, figsize=None
) -> Figure:
    """One norm layer at the newest step: batch vs running mean and variance per channel,
    the learned alpha and beta, and batch vs running mean of channel 0 over time.

    Args:
        records: rows of kind ``norms`` (``batch_mean``, ``batch_var``, ``running_mean``,
            ``running_var``, ``alpha``, ``beta``; arrays with one value per channel).
        layer: which norm layer (default: the first one recorded).
    """
    table = group(records, "norms")
    fig = new_figure(figsize, (13.0, 8.0))
    axes = fig.subplots(2, 2).ravel()
    name = layer or next(iter(table), None)
    stats = table.get(name, {}) if name is not None else {}
    for ax, (batch, running, label) in zip(axes[:2], _PAIRS):
        for stat, color, style in ((batch, TRAIN, "o"), (running, VAL, "-")):
            value = latest_value(stats, stat)
            if value is not None:
                y = as_float(value).ravel()
                ax.plot(np.arange(len(y)), y, style, color=color, label=stat.replace("_", " "))
        ax.set_xlabel("channel")
        ax.set_ylabel(label)
        if ax.lines:
            ax.legend(loc="best")
    for stat, color in (("alpha", TRAIN), ("beta", VAL)):
        value = latest_value(stats, stat)
        if value is not None:
            y = as_float(value).ravel()
            axes[2].plot(np.arange(len(y)), y, "o-", color=color, label=stat)
    axes[2].set_xlabel("channel")
    axes[2].set_ylabel("affine parameter")
    if axes[2].lines:
        axes[2].legend(loc="best")
    for stat, color in (("batch_mean", TRAIN), ("running_mean", VAL)):
        if stat in stats:
            steps, values = stats[stat]
            first = as_float([as_float(v).ravel()[0] if np.size(v) else np.nan for v in values])
            axes[3].plot(steps, first, color=color, label=stat.replace("_", " "))
    axes[3].set_xlabel("step")
    axes[3].set_ylabel("channel 0 mean")
    if axes[3].lines:
        axes[3].legend(loc="best")
    fig.suptitle(f"normalization statistics: {name}" if name else "no norm statistics recorded")
    return fig


@styled
def batch_spread(
    estimates: Mapping[int, Sequence[float]], *, truth: float | None = None, ax=None, figsize=None
) -> Figure:
    """Batch-mean estimates for each batch size, and their spread (G-BNSMALL).

    Args:
        estimates: ``{batch_size: estimates of one channel's mean from many batches}``.
        truth: the full-dataset value, drawn as a dotted line.
    """
    fig, ax = figure_and_axes(ax, figsize, (9.0, 5.0))
    sizes = sorted(estimates)
    rng = np.random.default_rng(0)  # fixed jitter: the figure must not change between calls
    for i, size in enumerate(sizes):
        y = finite(estimates[size])
        ax.plot(i + rng.uniform(-0.15, 0.15, len(y)), y, ".", color=TRAIN, alpha=0.5)
        if y.size:
            ax.errorbar(i, y.mean(), yerr=y.std(), color=VAL, capsize=8, marker="_", ms=20)
    if truth is not None:
        ax.axhline(truth, color=MARK, linestyle=":", label="dataset value")
        ax.legend(loc="best")
    ax.set_xticks(range(len(sizes)), [str(s) for s in sizes])
    ax.set_xlabel("batch size")
    ax.set_ylabel("batch estimate of the mean")
    return fig


def shared_mask(
    axes: Sequence[str] = ("N", "H", "W"),
    *,
    groups: int | None = None,
    shape: tuple[int, int, int, int] = (4, 6, 3, 2),
    at: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> np.ndarray:
    """Which elements share one mean and variance with the element at ``at``.

    Normalizing over ``axes`` means elements that agree on every other axis share
    statistics. With ``groups=G`` the channels are split into G groups and "C" in ``axes``
    means "within the group".

    Shape:
        shape: (N, C, H, W). out: (N, C, H*W) bool, the cube's layout.
    """
    names = [a.upper() for a in axes]
    bad = [a for a in names if a not in "NCHW" or len(a) != 1]
    if bad or not names:
        raise ValueError(f"axes are letters from N, C, H, W such as ('N','H','W'); got {axes!r}")
    n, c, h, w = shape
    if groups is not None and (groups < 1 or c % groups):
        raise ValueError(f"groups={groups} must divide the {c} channels")
    idx = np.indices(shape)  # (4, N, C, H, W)
    keys = {"N": idx[0], "C": idx[1], "H": idx[2], "W": idx[3]}
    if groups is not None:
        keys["C"] = idx[1] // (c // groups)
        if "C" in names:
            names.remove("C")  # within the group, not across the groups
    same = np.ones(shape, dtype=bool)
    for axis, key in keys.items():
        if axis not in names:
            same &= key == key[at]
    return same.reshape(n, c, h * w)


@styled
def draw_norm_axes_cube(
    ax: Axes, mask: np.ndarray, *, color: str = TRAIN, depth: tuple[float, float] = (0.45, 0.35)
) -> list[Artist]:
    """Draw an (N, C, H*W) voxel cube in oblique projection, ``mask`` cells highlighted.

    The three visible faces are drawn: the front (C across, H*W up, for the first example),
    the top and the right side; N runs into the depth. No 3-D axes are needed.

    Returns:
        The front, top and side face collections.
    """
    n, c, k = mask.shape
    dx, dy = depth
    pale = "#eeeeee"
    front, top, side = [], [], []
    for j in range(c):
        for i in range(k):
            front.append(((j, i), (j + 1, i), (j + 1, i + 1), (j, i + 1)))
    for d in range(n):
        ox, oy = d * dx, d * dy
        for j in range(c):
            top.append(
                ((j + ox, k + oy), (j + 1 + ox, k + oy), (j + 1 + ox + dx, k + oy + dy))
                + ((j + ox + dx, k + oy + dy),)
            )
        for i in range(k):
            side.append(
                ((c + ox, i + oy), (c + ox + dx, i + oy + dy), (c + ox + dx, i + 1 + oy + dy))
                + ((c + ox, i + 1 + oy),)
            )
    colours = (
        [color if mask[0, j, i] else pale for j in range(c) for i in range(k)],
        [color if mask[d, j, k - 1] else pale for d in range(n) for j in range(c)],
        [color if mask[d, c - 1, i] else pale for d in range(n) for i in range(k)],
    )
    artists = []
    for polys, fc in zip((front, top, side), colours):
        coll = PolyCollection(polys, facecolors=fc, edgecolors="#555555", linewidths=1)
        artists.append(ax.add_collection(coll))
    ax.set_xlim(-1.0, c + n * dx + 0.5)
    ax.set_ylim(-1.0, k + n * dy + 0.5)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.text(c / 2, -0.6, "C", ha="center")
    ax.text(-0.6, k / 2, "H, W", ha="right", va="center")
    ax.text(c + n * dx / 2 + 0.3, n * dy / 2 - 0.3, "N", ha="left")
    return artists


@styled
def norm_axes_cube(
    axes: Sequence[str] = ("N", "H", "W"),
    *,
    groups: int | None = None,
    shape: tuple[int, int, int, int] = (4, 6, 3, 2),
    ax: Axes | None = None,
    figsize=None,
) -> Figure:
    """The normalization-axes cube for one choice of axes or groups (G-AXES, G-LNPARAMS).

    The title names the choice and counts the affine parameters of a layer over (C, H, W):
    per channel ``2*C``, per element ``2*C*H*W``.
    """
    fig, ax = figure_and_axes(ax, figsize, (7.0, 6.0))
    mask = shared_mask(axes, groups=groups, shape=shape)
    draw_norm_axes_cube(ax, mask)
    n, c, h, w = shape
    choice = "".join(a.upper() for a in axes) + (f", {groups} groups" if groups else "")
    ax.set_title(
        f"over {choice}: {int(mask.sum())} share one mean/var\n"
        f"affine: 2C = {2 * c}, or 2CHW = {2 * c * h * w}",
        fontsize="medium",
    )
    return fig


def _contours(ax: Axes, a: np.ndarray, reach: float) -> None:
    xs = np.linspace(-reach, reach, 200)
    gx, gy = np.meshgrid(xs, xs)
    pts = np.stack([gx, gy], axis=-1)
    loss = 0.5 * np.einsum("...i,ij,...j->...", pts, a, pts)
    ax.contour(gx, gy, loss, levels=12, colors="#999999", linewidths=1)


@styled
def descent_paths(problems: Mapping[str, tuple[Any, Any]], *, figsize=None) -> Figure:
    """Gradient-descent paths on 2-D quadratics, e.g. before and after standardizing (G-STD).

    Args:
        problems: ``{title: (A, path)}``: the loss is ``0.5 * x^T A x`` with ``A`` a 2x2
            positive definite matrix, and ``path`` the ``(T, 2)`` iterates.
    """
    fig = new_figure(figsize, (6.0 * max(len(problems), 1), 5.5))
    axes = fig.subplots(1, max(len(problems), 1), squeeze=False)[0]
    for i, (ax, (title, (a, path))) in enumerate(zip(axes, problems.items())):
        a = np.asarray(a, dtype=float)
        pts = as_float(path).reshape(-1, 2)
        ok = finite(pts)
        reach = max(float(np.abs(ok).max()) if ok.size else 1.0, 1e-3) * 1.15
        _contours(ax, a, reach)
        ax.plot(pts[:, 0], pts[:, 1], "o-", color=layer_color(i), ms=4)
        cond = np.linalg.cond(a)
        ax.set_title(f"{title}\ncondition {cond:.1f}, {len(pts) - 1} steps")
        ax.set_aspect("equal")
        ax.plot([0], [0], "*", color=MARK, ms=14)
    return fig
