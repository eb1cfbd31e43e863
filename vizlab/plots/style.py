"""One place for how every vizlab figure looks.

Lecture figures are shown on a projector at the back of a room, so fonts are large and lines
thick. Colours come from the Okabe-Ito palette, which stays distinguishable for the common
forms of colour blindness. A layer keeps one colour in every figure: the colour is a
function of the layer's name (or index), so the gradient of ``features.block2`` is drawn in
the same hue as its activations and its weights.

Builders call :func:`new_figure` and wrap their drawing in :func:`styled`, which applies the
settings below only for the duration of the call (matplotlib reads most of them when an
artist is created), so importing vizlab never changes anybody's global rcParams.
"""

from __future__ import annotations

import contextlib
import functools
import zlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "PALETTE",
    "RC",
    "CMAP",
    "DIVERGING",
    "layer_color",
    "new_figure",
    "styled",
    "style_ticks",
    "figure_and_axes",
    "style",
]

# Okabe & Ito (2008): black first is left out, it is reserved for reference lines.
PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
TRAIN, VAL = PALETTE[0], PALETTE[1]
MARK = "#444444"  # annotations: best epoch, stop epoch, boxes
CMAP = "viridis"  # perceptually uniform and colour-blind safe
DIVERGING = "RdBu_r"

RC: dict[str, Any] = {
    "font.size": 14,
    "axes.titlesize": 15,
    "axes.labelsize": 14,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "figure.titlesize": 16,
    "lines.linewidth": 2.2,
    "lines.markersize": 6,
    "axes.grid": False,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": CMAP,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
}

F = TypeVar("F", bound=Callable[..., Any])


def layer_color(layer: str | int) -> str:
    """The colour of a layer, the same in every figure.

    An int picks the palette entry directly (layer ``i`` of a depth plot); a name is hashed
    with a stable hash (Python's ``hash`` of a string changes between runs).
    """
    if isinstance(layer, int):
        return PALETTE[layer % (len(PALETTE) - 1)]
    return PALETTE[zlib.crc32(layer.encode()) % (len(PALETTE) - 1)]


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Apply the house settings within a ``with`` block."""
    with matplotlib.rc_context(RC):
        yield


def styled(fn: F) -> F:
    """Decorator: run a builder or ``draw_*`` function under the house settings."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context(RC):
            out = fn(*args, **kwargs)
        if isinstance(out, Figure):
            for ax in out.axes:
                style_ticks(ax)
        elif args and isinstance(args[0], Axes):
            style_ticks(args[0])
        return out

    return wrapper  # type: ignore[return-value]


def style_ticks(ax: Axes) -> None:
    """Make tick labels projector-sized; matplotlib creates ticks lazily at draw time, after
    any ``rc_context`` has ended, so their size has to be stored on the axes."""
    ax.tick_params(labelsize=RC["xtick.labelsize"])


def new_figure(figsize: tuple[float, float] | None, default: tuple[float, float]) -> Figure:
    """A detached figure (no pyplot, no global registry) with constrained layout."""
    with matplotlib.rc_context(RC):
        return Figure(figsize=figsize or default, layout="constrained")


def figure_and_axes(
    ax: Axes | None, figsize: tuple[float, float] | None, default: tuple[float, float]
) -> tuple[Figure, Axes]:
    """The figure to return and the axes to draw in: a new one, or the caller's ``ax``."""
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(figsize, default)
    return fig, fig.add_subplot()
