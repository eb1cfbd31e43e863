"""What flows through the layers: activations, gradients, and the residual paths.

Curriculum rows A-ACT and B-STUCK (activation histograms over time, gradient flow), H-GRAD
(skip vs branch gradient), H-BNID (branch/skip variance ratio) and H-ENSEMBLE (path lengths
and lesions). Inputs are records ``(step, layer, kind, stat, value)`` with a watch's stat
names, or plain dicts of numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from math import comb
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vizlab.plots._data import as_float, bounds, group, latest_value
from vizlab.plots.style import MARK, TRAIN, VAL, figure_and_axes, layer_color, new_figure, styled

__all__ = [
    "activation_hist",
    "draw_activation_hist",
    "grad_flow",
    "draw_grad_flow",
    "residual_split",
    "draw_residual_split",
    "variance_ratio",
    "path_lengths",
]

Rows = Iterable[Sequence[Any]]


@styled
def draw_activation_hist(ax: Axes, layer: str, stats: Mapping[str, Any]) -> list[Artist]:
    """One layer's activation histogram over steps, with mean, std and fraction zero.

    Counts are shown as ``log(1 + count)`` so that the thin tails (saturated sigmoid units,
    a few huge activations) stay visible next to the bulk.

    Args:
        layer: the layer name (title and colour).
        stats: ``{stat: (steps, values)}`` for that layer: ``hist`` ((T, bins) counts),
            ``hist_range`` ((lo, hi)), and optionally ``mean``, ``std``, ``zeros``.

    Returns:
        The image, the mean and std lines, and the fraction-zero line (on a twin axes).
    """
    artists: list[Artist] = []
    steps, hists = stats.get("hist", (np.zeros(0), []))
    rng = latest_value(stats, "hist_range")
    lo, hi = (float(v) for v in np.asarray(rng, dtype=float)) if rng is not None else (0.0, 1.0)
    if len(hists):
        counts = np.log1p(np.nan_to_num(np.stack([np.asarray(h, float) for h in hists])))
        dx = (steps[-1] - steps[0]) / max(len(steps) - 1, 1) or 1.0
        extent = (steps[0] - dx / 2, steps[-1] + dx / 2, lo, hi)
        artists.append(ax.imshow(counts.T, aspect="auto", origin="lower", extent=extent))
    if "mean" in stats:
        s, mean = stats["mean"]
        mean = as_float(mean)
        artists += ax.plot(s, mean, color="white", label="mean")
        if "std" in stats and len(stats["std"][1]) == len(mean):
            std = as_float(stats["std"][1])
            artists += ax.plot(s, mean + std, color="white", linestyle=":", label="mean ± std")
            artists += ax.plot(s, mean - std, color="white", linestyle=":")
    if len(hists):
        ax.set_ylim(lo, hi)  # the histogram's range; a wild mean must not squash the strip
    if "zeros" in stats:
        twin = ax.twinx()
        s, zeros = stats["zeros"]
        artists += twin.plot(s, as_float(zeros), color=VAL, label="fraction zero")
        twin.set_ylim(0, 1)
        twin.set_ylabel("fraction zero", color=VAL)
    ax.set_ylabel(layer, color=layer_color(layer))
    return artists


@styled
def activation_hist(records: Rows, *, layers: Sequence[str] | None = None, figsize=None) -> Figure:
    """One strip per layer: activation histograms over training steps (A-ACT, B-STUCK)."""
    table = group(records, "activations")
    names = [n for n in (layers or table) if "hist" in table.get(n, {})]
    fig = new_figure(figsize, (11.0, 2.6 * max(len(names), 1) + 0.6))
    if not names:
        fig.add_subplot().set_title("no activation histograms recorded")
        return fig
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names):
        draw_activation_hist(ax, name, table[name])
    axes[-1].set_xlabel("step")
    return fig


@styled
def draw_grad_flow(
    ax: Axes, records: Rows, *, stat: str = "act_grad_norm", log: bool = True
) -> list[Artist]:
    """Gradient norm of every layer over steps, one line per layer (log scale).

    A vanishing gradient shows as lines of the early layers lying orders of magnitude
    below the late ones; a stuck network as all lines flat.
    """
    table = group(records, "gradients")
    artists: list[Artist] = []
    for layer, stats in table.items():
        if stat in stats:
            steps, values = stats[stat]
            artists += ax.plot(steps, as_float(values), color=layer_color(layer), label=layer)
    if log and any(bounds(a.get_ydata(), positive=True) for a in artists):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("gradient norm")
    if artists and len(artists) <= 12:
        ax.legend(loc="best", fontsize="small")
    return artists


@styled
def grad_flow(records: Rows, *, stat: str = "act_grad_norm", ax=None, figsize=None) -> Figure:
    """Gradient flow per layer over time (A-ACT, B-STUCK)."""
    fig, ax = figure_and_axes(ax, figsize, (10.0, 5.0))
    draw_grad_flow(ax, records, stat=stat)
    return fig


@styled
def draw_residual_split(ax: Axes, records: Rows, *, over: str = "depth") -> list[Artist]:
    """Skip vs branch part of the gradient at each residual block's input (H-GRAD).

    Args:
        records: rows of kind ``residual`` with stats ``grad_skip``, ``grad_branch``.
        over: ``"depth"`` (newest step, blocks along x) or ``"time"`` (one pair of lines per
            block: solid skip, dashed branch).
    """
    table = {b: s for b, s in group(records, "residual").items() if "grad_skip" in s}
    artists: list[Artist] = []
    if over == "depth":
        x = np.arange(len(table))
        for stat, color, marker in (("grad_skip", TRAIN, "o"), ("grad_branch", VAL, "s")):
            y = as_float([latest_value(s, stat) if stat in s else np.nan for s in table.values()])
            label = stat.removeprefix("grad_")
            artists += ax.plot(x, y, marker=marker, color=color, label=label)
        ax.set_xticks(x, [str(i) for i in x])
        ax.set_xlabel("block (input side first)")
    elif over == "time":
        for block, stats in table.items():
            for stat, style in (("grad_skip", "-"), ("grad_branch", "--")):
                if stat in stats:
                    steps, values = stats[stat]
                    color = layer_color(block)
                    artists += ax.plot(steps, as_float(values), style, color=color)
        ax.set_xlabel("step (solid: skip, dashed: branch)")
    else:
        raise ValueError(f"over must be 'depth' or 'time', got {over!r}")
    if artists:
        ax.set_yscale("log")
        if over == "depth":
            ax.legend(loc="best")
    ax.set_ylabel("gradient norm")
    return artists


@styled
def residual_split(records: Rows, *, figsize=None) -> Figure:
    """The gradient split over depth (newest step) and over time, side by side."""
    records = list(records)
    fig = new_figure(figsize, (13.0, 4.8))
    ax_depth, ax_time = fig.subplots(1, 2)
    draw_residual_split(ax_depth, records, over="depth")
    draw_residual_split(ax_time, records, over="time")
    return fig


@styled
def variance_ratio(
    ratios: Mapping[str, Sequence[float]], *, ax: Axes | None = None, figsize=None
) -> Figure:
    """Branch/skip variance ratio per block at init, one line per setting (H-BNID).

    Args:
        ratios: ``{setting: ratio per block}``, e.g. ``{"no norm": [...], "BN": [...]}``.
    """
    fig, ax = figure_and_axes(ax, figsize, (9.0, 4.8))
    for i, (label, values) in enumerate(ratios.items()):
        y = as_float(values)
        ax.plot(np.arange(len(y)), y, marker="o", color=layer_color(i), label=label)
    ax.axhline(1.0, color=MARK, linestyle=":")
    if ratios:
        ax.set_yscale("log")
        ax.legend(loc="best")
    ax.set_xlabel("block")
    ax.set_ylabel("var(branch) / var(skip)")
    return fig


@styled
def path_lengths(
    blocks: int,
    lesion: Mapping[str, Sequence[float]] | None = None,
    *,
    baseline: Mapping[str, float] | None = None,
    figsize=None,
) -> Figure:
    """Paths through ``blocks`` residual blocks by length, and lesion results (H-ENSEMBLE).

    Each block is either passed through its branch or skipped, so there are ``2**blocks``
    paths and the number of length ``k`` is ``C(blocks, k)``: a binomial distribution.

    Args:
        blocks: number of residual blocks.
        lesion: ``{model: accuracy with block i deleted, for each i}``.
        baseline: ``{model: accuracy with nothing deleted}``, drawn as dotted lines.
    """
    if blocks < 0:
        raise ValueError(f"blocks must be >= 0, got {blocks}")
    fig = new_figure(figsize, (13.0 if lesion else 7.0, 4.8))
    axes = fig.subplots(1, 2 if lesion else 1, squeeze=False)[0]
    k = np.arange(blocks + 1)
    share = np.array([comb(blocks, int(i)) for i in k], dtype=float) / 2.0**blocks
    axes[0].bar(k, share, color=TRAIN)
    axes[0].set_xlabel("path length (blocks passed through)")
    axes[0].set_ylabel("fraction of paths")
    axes[0].set_title(f"{2**blocks:,} paths through {blocks} blocks")
    if lesion:
        ax = axes[1]
        for i, (label, accs) in enumerate(lesion.items()):
            y = as_float(accs)
            ax.plot(np.arange(len(y)), y, marker="o", color=layer_color(i), label=label)
            if baseline and label in baseline:
                ax.axhline(baseline[label], color=layer_color(i), linestyle=":")
        ax.set_xlabel("deleted block")
        ax.set_ylabel("accuracy")
        ax.legend(loc="best")
    return fig
