"""Figures made of images: augmentations, MixUp/CutMix, filters, feature maps, receptive fields.

Curriculum rows D-AUG, D-RA (gallery with op names), D-MIX, D-CUT (mixed image with its soft
label), A-FILT (first-layer filters, feature maps of one image) and A-RF (receptive field).
Images may be (H, W), (H, W, C) or (C, H, W); colour images are rescaled to [0, 1] for display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from vizlab.plots._data import as_float, as_image, finite
from vizlab.plots.style import TRAIN, VAL, figure_and_axes, new_figure, styled

__all__ = [
    "augment_gallery",
    "mix_labels",
    "filters",
    "feature_maps",
    "receptive_field",
    "draw_image",
]


@styled
def draw_image(ax: Axes, image: Any, *, title: str = "", cmap: str = "gray") -> list[Artist]:
    """Show one image without axes decorations; grey maps use their own value range."""
    img = as_image(image)
    artist = ax.imshow(img, cmap=cmap if img.ndim == 2 else None, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="small")
    return [artist]


@styled
def augment_gallery(
    images_before: Sequence[Any],
    images_after: Sequence[Any],
    captions: Sequence[str] | None = None,
    *,
    figsize=None,
) -> Figure:
    """Originals on top, augmented copies below with the ops and magnitudes under each.

    Args:
        images_before, images_after: the same number of images.
        captions: one text per pair, e.g. ``"flip, shear 0.3"`` (D-RA lists the sampled ops).
    """
    n = len(images_before)
    if n != len(images_after) or (captions is not None and len(captions) != n):
        raise ValueError(
            f"need as many augmented images and captions as originals: {n} originals, "
            f"{len(images_after)} augmented, {None if captions is None else len(captions)} captions"
        )
    fig = new_figure(figsize, (2.4 * max(n, 1), 5.6))
    if n == 0:
        fig.add_subplot().set_title("no images")
        return fig
    axes = fig.subplots(2, n, squeeze=False)
    for j in range(n):
        draw_image(axes[0, j], images_before[j])
        draw_image(axes[1, j], images_after[j])
        if captions is not None:
            axes[1, j].set_xlabel(captions[j], fontsize="small")
    axes[0, 0].set_ylabel("original")
    axes[1, 0].set_ylabel("augmented")
    return fig


@styled
def mix_labels(
    image: Any,
    labels: Any,
    *,
    box: tuple[float, float, float, float] | None = None,
    classes: Sequence[str] | None = None,
    title: str = "",
    figsize=None,
) -> Figure:
    """A MixUp or CutMix image next to its soft label (D-MIX, D-CUT).

    Args:
        image: the mixed image.
        labels: the soft label vector (sums to 1).
        box: the pasted CutMix patch as ``(x0, y0, x1, y1)`` in pixels, outlined.
        classes: class names for the bars.
    """
    y = as_float(labels).ravel()
    fig = new_figure(figsize, (10.0, 4.5))
    ax_img, ax_bar = fig.subplots(1, 2, width_ratios=(1, 1.3))
    draw_image(ax_img, image, title=title)
    if box is not None:
        x0, y0, x1, y1 = box
        rect = Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec=VAL, lw=3)
        ax_img.add_patch(rect)
    ax_bar.bar(np.arange(len(y)), y, color=TRAIN)
    names = list(classes) if classes else [str(i) for i in range(len(y))]
    ax_bar.set_xticks(range(len(y)), names, rotation=45 if len(y) > 6 else 0)
    ax_bar.set_ylim(0, 1)
    ax_bar.set_ylabel("label weight")
    ax_bar.set_title(f"soft label (sum {np.nansum(y):.2f})")
    return fig


def _tile_grid(n: int) -> tuple[int, int]:
    cols = int(np.ceil(np.sqrt(max(n, 1))))
    return int(np.ceil(max(n, 1) / cols)), cols


@styled
def filters(weights: Any, *, max_filters: int = 64, figsize=None) -> Figure:
    """First-layer kernels as small images (A-FILT).

    Kernels with 3 input channels show in colour, as in the AlexNet figure; otherwise the
    first input channel is shown in a diverging map centred on zero.

    Shape:
        weights: (C_out, C_in, k_h, k_w).
    """
    w = as_float(weights)
    if w.ndim != 4:
        raise ValueError(f"filters take conv weights (C_out, C_in, k_h, k_w); got {w.shape}")
    w = w[:max_filters]
    rows, cols = _tile_grid(len(w))
    fig = new_figure(figsize, (1.2 * cols + 1, 1.2 * rows + 0.8))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    ok = finite(w)
    scale = max(float(np.abs(ok).max()) if ok.size else 0.0, 1e-12)
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i >= len(w):
            continue
        if w.shape[1] == 3:
            ax.imshow(as_image(np.moveaxis(w[i], 0, -1)), interpolation="nearest")
        else:
            ax.imshow(w[i, 0], cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
    fig.suptitle(f"{len(w)} filters of shape {tuple(w.shape[1:])}")
    return fig


@styled
def feature_maps(maps: Mapping[str, Any], *, max_channels: int = 8, figsize=None) -> Figure:
    """Feature maps of one image at each layer: one row per layer, one column per channel.

    Shape:
        maps: ``{layer: (C, H, W)}`` for a single image.
    """
    rows = [(name, as_float(m)) for name, m in maps.items()]
    cols = max([min(m.shape[0], max_channels) for _, m in rows if m.ndim == 3], default=1)
    fig = new_figure(figsize, (1.6 * cols + 1.5, 1.7 * max(len(rows), 1) + 0.5))
    if not rows:
        fig.add_subplot().set_title("no feature maps")
        return fig
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, (name, fmap) in enumerate(rows):
        if fmap.ndim != 3:
            raise ValueError(f"feature map of {name!r} must be (C, H, W); got {fmap.shape}")
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < fmap.shape[0] and c < max_channels:
                ax.imshow(np.nan_to_num(fmap[c]), interpolation="nearest")
            else:
                ax.set_axis_off()
        axes[r, 0].set_ylabel(name, fontsize="small")
    return fig


@styled
def receptive_field(
    image: Any,
    region: tuple[int, int, int, int] | Any,
    *,
    ax: Axes | None = None,
    title: str = "",
    figsize=None,
) -> Figure:
    """The input region one deep unit sees, over the image (A-RF).

    Args:
        image: the input image.
        region: ``(x0, y0, x1, y1)`` of the computed field (outlined), or a 2-D array the
            image's size such as ``|d unit / d input|`` (overlaid where nonzero).
    """
    fig, ax = figure_and_axes(ax, figsize, (6.0, 6.0))
    draw_image(ax, image, title=title)
    if np.ndim(region) == 2:
        heat = np.abs(as_float(region))
        shown = np.ma.masked_where(~(heat > 0), heat)
        ax.imshow(shown, cmap="autumn", alpha=0.6, interpolation="nearest")
    else:
        x0, y0, x1, y1 = (float(v) for v in region)
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec=VAL, lw=3))
        ax.set_xlabel(f"receptive field {x1 - x0:.0f} x {y1 - y0:.0f}")
    return fig
