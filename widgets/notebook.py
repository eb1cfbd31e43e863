"""Make ``matplotlib.figure.Figure`` objects display as pictures in a notebook.

vizlab builds its figures without pyplot (so the engine never drags a GUI backend or
ipywidgets in), and IPython only knows how to show a figure once pyplot's inline backend has
registered a formatter. Importing ``widgets`` registers a PNG formatter for ``Figure``
instead, so a cell ending in ``plots.curves(...)`` or ``display(fig)`` shows the picture.
"""

from __future__ import annotations

from matplotlib.figure import Figure

__all__ = ["show_figures_inline"]


def _figure_png(fig: Figure) -> bytes:
    from widgets.base import to_png

    return to_png(fig, dpi=100)


def show_figures_inline() -> bool:
    """Register the PNG formatter in the running IPython kernel; False outside one."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.display_formatter.formatters["image/png"].for_type(Figure, _figure_png)
    return True
