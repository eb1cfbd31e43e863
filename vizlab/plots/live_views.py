"""The live views the panels use, one quantity per axes.

Each view owns one axes and updates its artists in place (see ``live.py`` for how they
render). All but :class:`LiveCurves` are fed records ``(step, layer, kind, stat, value)``
with the stat names a ``watch`` produces; :class:`LiveCurves` is fed the dict of
``History.snapshot()`` / ``History.as_dict()``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import NullLocator

from vizlab.plots._data import as_float, thin
from vizlab.plots.live import LiveView, RecordView
from vizlab.plots.style import MARK, TRAIN, VAL, layer_color, style

__all__ = [
    "LiveCurves",
    "LiveActivationHist",
    "LiveGradFlow",
    "LiveResidualSplit",
    "LiveNormStats",
    "LiveDropoutMask",
    "LiveWeightNorms",
]

Rows = Iterable[Sequence[Any]]


class LiveCurves(LiveView):
    """Train and validation ``metric`` per epoch, with the best epoch marked.

    Args:
        ax: axes to draw into (``None``: a figure of its own).
        metric: ``"loss"`` or ``"acc"``.
    """

    horizon_unit = "epoch"

    def __init__(self, ax: Axes | None = None, *, metric: str = "loss", figsize=None):
        super().__init__(ax, figsize=figsize)
        self.metric = metric
        with style():
            (self.train,) = self.ax.plot([], [], color=TRAIN, marker="o", label="train")
            (self.val,) = self.ax.plot([], [], color=VAL, marker="o", label="validation")
            self.best = self.ax.axvline(0, color=MARK, linestyle="--", label="best epoch")
            self.ax.set_xlabel("epoch")
            self.ax.set_ylabel("accuracy" if metric == "acc" else metric)
            self.ax.legend(loc="best")
        for artist in (self.train, self.val, self.best):
            self.moving(artist)
        self.best.set_visible(False)

    def update(self, history: Mapping[str, Any]) -> None:
        """Show the epochs of a history dict (everything in it, not only what is new)."""
        epochs = as_float(history.get("epochs", []))
        train = as_float(history.get(f"train_{self.metric}", []))[: len(epochs)]
        val = as_float(history.get(f"val_{self.metric}", []))[: len(epochs)]
        self.train.set_data(epochs[: len(train)], train)
        self.val.set_data(epochs[: len(val)], val)
        best = history.get("best_epoch")
        self.best.set_visible(best is not None)
        if best is not None:
            self.best.set_xdata([best, best])
        if np.isfinite(epochs).any():
            self.grow_limits("x", [0.5, np.nanmax(epochs) + 0.5], time=True)
            self.grow_limits("y", np.concatenate([train, val]))
        self.touch()


class _LinesPerLayer(RecordView):
    """One line per layer of one stat over steps, log scale (gradient flow, weight norms)."""

    kind = ""
    stat = ""
    ylabel = ""
    horizon_unit = "step"

    def __init__(self, ax: Axes | None = None, *, log: bool = True, figsize=None):
        super().__init__(ax, figsize=figsize)
        self.log = log
        self.lines: dict[str, Any] = {}
        with style():
            self.ax.set_xlabel("step")
            self.ax.set_ylabel(self.ylabel)
            if log:
                self.ax.set_yscale("log")
                # no minor ticks: a live log axis spanning decades has dozens, and placing
                # them was a fifth of every full redraw of the dashboard
                self.ax.yaxis.set_minor_locator(NullLocator())

    def update(self, records: Rows) -> None:
        """Add the new records and move every line to its series."""
        if not self.add(records, self.kind):
            return
        width = self.width_px()
        for layer in self.layers:
            steps, values = self.get(layer, self.stat)
            if not len(steps):
                continue
            if layer not in self.lines:
                with style():
                    (line,) = self.ax.plot([], [], color=layer_color(layer), label=layer)
                self.lines[layer] = self.moving(line)
            x, y = thin(steps, as_float(values), width)
            self.lines[layer].set_data(x, y)
            self.grow_limits("x", [x[0], x[-1] + 1], time=True)
            self.grow_limits("y", y, log=self.log)
        self.touch()


class LiveGradFlow(_LinesPerLayer):
    """Norm of the gradient reaching each layer's output, over steps (log scale)."""

    kind, stat, ylabel = "gradients", "act_grad_norm", "gradient norm"
    kinds = ("gradients",)


class LiveWeightNorms(_LinesPerLayer):
    """Norm of each layer's weights over steps."""

    kind, stat, ylabel = "weights", "weight_norm", "weight norm"
    kinds = ("weights",)


class LiveActivationHist(RecordView):
    """Histogram of one layer's activations over steps (log counts), with mean +- std.

    Args:
        layer: the layer to show; ``None`` shows the first layer that sends a histogram.
    """

    kinds = ("activations",)
    horizon_unit = "step"

    def __init__(self, ax: Axes | None = None, *, layer: str | None = None, figsize=None):
        super().__init__(ax, figsize=figsize)
        self.layer = layer
        with style():
            self.image = self.ax.imshow(
                np.zeros((2, 2)), aspect="auto", origin="lower", extent=(0, 1, 0, 1)
            )
            (self.mean,) = self.ax.plot([], [], color="white", label="mean")
            (self.upper,) = self.ax.plot([], [], color="white", linestyle=":")
            (self.lower,) = self.ax.plot([], [], color="white", linestyle=":")
            self.zeros = self.ax.text(0.02, 0.95, "", transform=self.ax.transAxes, va="top")
            self.zeros.set_color("white")
            self.ax.set_xlabel("step")
            self.ax.set_ylabel("activation")
        for artist in (self.image, self.mean, self.upper, self.lower, self.zeros):
            self.moving(artist)

    def update(self, records: Rows) -> None:
        """Add the new records and redraw the strip of the chosen layer."""
        if not self.add(records, "activations"):
            return
        layer = self.layer or next((n for n in self.layers if (n, "hist") in self.series), None)
        if layer is None:
            return
        steps, hists = self.get(layer, "hist")
        _, ranges = self.get(layer, "hist_range")
        if not len(steps):
            return
        lo, hi = (float(v) for v in np.asarray(ranges[-1])) if ranges else (0.0, 1.0)
        keep = np.arange(len(steps))
        keep = thin(keep, keep, self.width_px())[0]
        counts = np.log1p(np.nan_to_num(np.stack([hists[i] for i in keep]).astype(float)))
        x = steps[keep]
        dx = (x[-1] - x[0]) / max(len(x) - 1, 1) or 1.0
        extent = (x[0] - dx / 2, x[-1] + dx / 2, lo, hi)
        self.image.set_data(counts.T)  # (bins, T): time runs along x
        self.image.set_extent(extent)
        self.image.set_clim(0.0, max(float(counts.max()), 1e-9))
        self.grow_limits("x", extent[:2], time=True)
        self.grow_limits("y", [lo, hi], pad=0.0)
        for line, sign in ((self.mean, 0), (self.upper, 1), (self.lower, -1)):
            s, mean = self.get(layer, "mean")
            _, std = self.get(layer, "std")
            y = as_float(mean) + sign * (as_float(std) if len(std) == len(mean) else 0.0)
            line.set_data(*thin(s, y, self.width_px()))
        _, zeros = self.get(layer, "zeros")
        self.zeros.set_text(f"{layer}  zeros {float(zeros[-1]):.0%}" if zeros else layer)
        self.touch()


class LiveResidualSplit(RecordView):
    """Skip vs branch gradient norm per residual block at the newest step, over depth."""

    kinds = ("gradients",)

    def __init__(self, ax: Axes | None = None, *, figsize=None):
        super().__init__(ax, figsize=figsize)
        with style():
            (self.skip,) = self.ax.plot([], [], marker="o", color=TRAIN, label="skip")
            (self.branch,) = self.ax.plot([], [], marker="s", color=VAL, label="branch")
            self.ax.set_yscale("log")
            self.ax.yaxis.set_minor_locator(NullLocator())  # see _LinesPerLayer
            self.ax.set_xlabel("block (input side first)")
            self.ax.set_ylabel("gradient norm")
            self.ax.legend(loc="best")
        self.moving(self.skip)
        self.moving(self.branch)

    def update(self, records: Rows) -> None:
        """Add the new records and show the newest split of every block."""
        if not self.add(records, "residual"):
            return
        blocks = [b for b in self.layers if (b, "grad_skip") in self.series]
        if not blocks:
            return
        idx = np.arange(len(blocks), dtype=float)
        skip = as_float([self.get(b, "grad_skip")[1][-1] for b in blocks])
        branch = as_float(
            [(self.get(b, "grad_branch")[1] or [np.nan])[-1] for b in blocks],
        )
        self.skip.set_data(idx, skip)
        self.branch.set_data(idx, branch)
        self.grow_limits("x", [-0.5, len(blocks) - 0.5], pad=0.0)
        self.grow_limits("y", np.concatenate([skip, branch]), log=True)
        self.touch()


class LiveNormStats(RecordView):
    """Per-channel batch statistic (dots) vs running average (line) of one norm layer.

    Args:
        layer: the norm layer; ``None`` shows the first one seen.
        stat: ``"mean"`` or ``"var"``.
    """

    kinds = ("norms",)

    def __init__(self, ax: Axes | None = None, *, layer=None, stat: str = "mean", figsize=None):
        super().__init__(ax, figsize=figsize)
        self.layer, self.stat = layer, stat
        with style():
            (self.batch,) = self.ax.plot([], [], "o", color=TRAIN, label=f"batch {stat}")
            (self.running,) = self.ax.plot([], [], color=VAL, label=f"running {stat}")
            self.ax.set_xlabel("channel")
            self.ax.set_ylabel(stat)
            self.ax.legend(loc="best")
        self.moving(self.batch)
        self.moving(self.running)

    def update(self, records: Rows) -> None:
        """Add the new records and show the newest per-channel statistics."""
        if not self.add(records, "norms"):
            return
        key = f"batch_{self.stat}"
        layer = self.layer or next((n for n in self.layers if (n, key) in self.series), None)
        if layer is None or not self.get(layer, key)[1]:
            return
        batch = as_float(self.get(layer, key)[1][-1]).ravel()
        running = self.get(layer, f"running_{self.stat}")[1]
        run = as_float(running[-1]).ravel() if running else np.full_like(batch, np.nan)
        self.batch.set_data(np.arange(len(batch)), batch)
        self.running.set_data(np.arange(len(run)), run)
        self.grow_limits("x", [-0.5, max(len(batch), len(run)) - 0.5], pad=0.0)
        self.grow_limits("y", np.concatenate([batch, run]))
        self.touch()


class LiveDropoutMask(RecordView):
    """The newest dropout mask sample of one layer, as an image over (batch, units)."""

    kinds = ("dropout",)

    def __init__(self, ax: Axes | None = None, *, layer: str | None = None, figsize=None):
        super().__init__(ax, figsize=figsize)
        self.layer = layer
        self.shape: tuple[int, ...] = (1, 1)
        with style():
            self.image = self.ax.imshow(
                np.ones((1, 1)), cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest"
            )
            self.label = self.ax.text(0.02, 1.01, "", transform=self.ax.transAxes)
            self.ax.set_xlabel("unit")
            self.ax.set_ylabel("example in batch")
        self.moving(self.image)
        self.moving(self.label)

    def update(self, records: Rows) -> None:
        """Add the new records and show the newest mask."""
        if not self.add(records, "dropout"):
            return
        layer = self.layer or next((n for n in self.layers if (n, "mask") in self.series), None)
        if layer is None or not self.get(layer, "mask")[1]:
            return
        mask = np.asarray(self.get(layer, "mask")[1][-1], dtype=float)
        if mask.size == 0:
            return
        mask = mask.reshape(mask.shape[0], -1) if mask.ndim > 1 else mask.reshape(1, -1)
        self.image.set_data(mask)
        if mask.shape != self.shape:
            self.shape = mask.shape
            extent = (-0.5, mask.shape[1] - 0.5, mask.shape[0] - 0.5, -0.5)
            self.image.set_extent(extent)
            self.ax.set_xlim(extent[:2])
            self.ax.set_ylim(extent[2:])
            self.needs_full = True
        kept = float(np.nanmean(mask)) if mask.size else float("nan")
        self.label.set_text(f"{layer}: kept {kept:.0%}")
        self.touch()
