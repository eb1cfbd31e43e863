"""Drawing helpers shared by the section's drawers: the house style, the axes cubes."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from matplotlib.figure import Figure

from vizlab.experiments.base import Result
from vizlab.plots import draw_norm_axes_cube, layer_color, shared_mask
from vizlab.plots.style import new_figure, style, style_ticks, styled


def styled_drawer(fn):
    """Run a drawer under the house style; tick labels sized on every axes it made."""

    @functools.wraps(fn)
    def wrapper(result: Result) -> dict[str, tuple[Figure, str]]:
        with style():
            out = fn(result)
        for fig, _ in out.values():
            for ax in fig.axes:
                style_ticks(ax)
        return out

    return wrapper


CUBE_AXES = {
    "batch": (("N", "H", "W"), None),
    "layer": (("C", "H", "W"), None),
    "instance": (("H", "W"), None),
    "group": (("C", "H", "W"), 4),  # 4 groups of 2 channels, as in the net's first layer
}


@styled
def axes_cubes(choices: Sequence[str], shape=(4, 8, 3, 2), figsize=None) -> Figure:
    """One (N, C, H*W) cube per choice, the elements sharing one mean/var highlighted."""
    fig = new_figure(figsize, (4.2 * len(choices), 4.5))
    axes = fig.subplots(1, len(choices), squeeze=False)[0]
    for i, (ax, name) in enumerate(zip(axes, choices)):
        axes_, groups = CUBE_AXES.get(name, (None, None))
        if axes_ is None:
            ax.set_axis_off()
            ax.set_title(f"{name}: no normalization")
            continue
        mask = shared_mask(axes_, groups=groups, shape=shape)
        draw_norm_axes_cube(ax, mask, color=layer_color(i))
        ax.set_title(f"{name}: {''.join(axes_)}" + (f", G={groups}" if groups else ""))
    return fig
