"""A dashboard: four live views in one figure, rendered together by one ``Renderer``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from vizlab.plots.live import LiveView, Renderer
from vizlab.plots.live_views import (
    LiveActivationHist,
    LiveCurves,
    LiveDropoutMask,
    LiveGradFlow,
    LiveNormStats,
    LiveResidualSplit,
    LiveWeightNorms,
)
from vizlab.plots.style import new_figure

__all__ = ["VIEWS", "Dashboard", "view_kinds"]

Rows = Iterable[Sequence[Any]]

VIEWS = {
    "curves": LiveCurves,
    "activation_hist": LiveActivationHist,
    "grad_flow": LiveGradFlow,
    "residual_split": LiveResidualSplit,
    "norm_stats": LiveNormStats,
    "dropout_mask": LiveDropoutMask,
    "weight_norms": LiveWeightNorms,
}

# What each view shows, in the words a lecture uses; static, so part of the cached background.
TITLES = {
    "curves": "loss per epoch: train vs validation",
    "activation_hist": "activations over training",
    "grad_flow": "gradient norm per layer",
    "residual_split": "gradient through skip vs branch",
    "norm_stats": "batch vs running statistics",
    "dropout_mask": "dropout mask (batch x units)",
    "weight_norms": "weight norm per layer",
}


def _check_views(views: Sequence[str], count: int | None) -> None:
    """Refuse unknown view names (and, with ``count``, another number of views)."""
    unknown = [v for v in views if v not in VIEWS]
    if unknown or (count is not None and len(views) != count):
        many = f"{count} views" if count is not None else "views"
        raise ValueError(f"a dashboard shows {many} chosen from {sorted(VIEWS)}; got {list(views)}")


def view_kinds(views: Sequence[str]) -> tuple[str, ...]:
    """The watch kinds these views draw, each once: what a panel showing them needs to
    record (a watch of anything more pays, at every sampled step, for numbers nobody sees).

    Raises:
        ValueError: for a name that is not a view (the message lists the views).
    """
    _check_views(views, count=None)
    return tuple(dict.fromkeys(kind for name in views for kind in VIEWS[name].kinds))


class Dashboard:
    """Four live views in one figure, rendered together.

    Use :meth:`png` to get the picture: the moving artists are ``animated``, so a plain
    ``fig.savefig`` would leave them out (the next ``png`` notices such a draw and redraws).

    Args:
        views: four names from ``curves, activation_hist, grad_flow, residual_split,
            norm_stats, dropout_mask, weight_norms``.
        figsize: figure size in inches.
    """

    def __init__(
        self,
        views: Sequence[str] = ("curves", "grad_flow", "activation_hist", "weight_norms"),
        *,
        figsize: tuple[float, float] | None = None,
    ) -> None:
        _check_views(views, count=4)
        self.fig = new_figure(figsize, (14.0, 9.0))
        axes = self.fig.subplots(2, 2).ravel()
        self.views: list[LiveView] = [VIEWS[name](ax) for name, ax in zip(views, axes)]
        for name, ax in zip(views, axes):
            ax.set_title(TITLES[name])
        self.renderer = Renderer(self.fig, self.views)

    def set_horizon(self, *, steps: int | None = None, epochs: int | None = None) -> None:
        """Fix every time axis to the run ahead (see ``LiveView.set_horizon``)."""
        for view in self.views:
            view.set_horizon(steps=steps, epochs=epochs)

    def update(self, records: Rows = (), history: Mapping[str, Any] | None = None) -> None:
        """Feed new records to the record views and the history dict to the curves."""
        records = list(records)
        for view in self.views:
            if isinstance(view, LiveCurves):
                if history is not None:
                    view.update(history)
            elif records:
                view.update(records)

    def png(self) -> bytes:
        """The dashboard as PNG bytes (only changed views are redrawn)."""
        return self.renderer.png()

    def full_png(self) -> bytes:
        """The dashboard after a complete redraw (what every update would cost without blitting)."""
        return self.renderer.full_png()
