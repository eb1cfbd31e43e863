"""``DepthPanel``: how many layers are enough? Train one VGG config live, or the whole grid.

Curriculum section B. Sliders choose the number of blocks and of 3x3 convs per block, the
width, the normalization, the skips and the init. Without training, the panel shows how
the image shrinks block after block (B-POOL) and the parameters of every layer (B-PARAMS);
too many blocks for the input is refused there and then, with the limit in the message.

Mode ``one config`` trains that network live: loss and accuracy curves, and the gradient
reaching every conv (the gradient flow that tells a stuck net from a learning one,
B-STUCK). Mode ``grid`` trains every cell from 1x1 up to the chosen blocks x convs,
``reps`` times with distinct seeds (``vizlab.train.sweep``), and redraws the accuracy and
parameter heatmaps as cells finish, hatching the cells whose loss never left chance
(B-GRID); when the grid is done, the gradient at init of its deepest cell is compared with
that of the cell with the same blocks and one conv each.
"""

from __future__ import annotations

import functools
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from vizlab import plots
from vizlab.data import Dataset
from vizlab.experiments.depth import build_vgg, draw_flow, flow_at_init, is_stuck
from vizlab.models import summary
from vizlab.models.sizes import max_halvings
from vizlab.plots import LiveCurves, LiveGradFlow
from vizlab.plots.live import Renderer
from vizlab.plots.style import new_figure
from vizlab.probes import watch
from vizlab.train import Run, fit, sweep
from widgets.base import Panel, cached_dataset

__all__ = ["DepthPanel", "MODES"]

MODES = ("one config", "grid")
NORMS = ("none", "batch", "layer", "instance", "group")
INITS = ("torch", "kaiming", "xavier")


class _CellLog:
    """Sweep callback: each finished run's table row, per-epoch training and val losses."""

    def __init__(self) -> None:
        self.cells: list[tuple[dict[str, Any], list[float], list[float]]] = []
        self._history = None

    def on_cell_start(self, info: Any) -> None:
        self._history = None

    def on_fit_start(self, state: Any) -> None:
        self._history = state.history

    def on_cell_end(self, info: Any) -> None:
        ok = info.row["error"] is None and self._history is not None
        train, val = (self._history.train_loss, self._history.val_loss) if ok else ([], [])
        self.cells.append((dict(info.row), list(train), list(val)))


class DepthPanel(Panel):
    """The VGG depth experiment of the lecture, one config or the whole grid.

    Controls: ``mode`` (``"one config"`` or ``"grid"``), ``blocks``, ``convs`` (per
    block), ``width`` (channels of block 1; they double every block), ``norm``,
    ``residual``, ``init``, ``epochs``, ``lr``, ``reps`` (grid mode: seeds per cell).

    Figures: ``sizes`` and ``params`` (static: spatial size after each block, parameters
    per layer), ``curves`` (live: the config's loss and accuracy, or the current cell's in
    grid mode), ``grad_flow`` (live gradient norm per conv in one-config mode; gradient and
    signal at init of the grid's deepest vs its one-conv cell after a grid) and ``grid``
    (accuracy mean ± std and parameter heatmaps, redrawn as cells finish).

    Args:
        data: an embedded dataset name or a ``Dataset`` (``digits``: 8x8, 3 blocks fit).
        mode, blocks, convs, width, norm, residual, init, epochs, lr, reps: the controls'
            starting values. ``init="torch"`` without norm or skips lets deep cells get
            stuck as in the lecture; ``"kaiming"`` usually rescues them.
        batch_size: training batch size.
        every: the watch records every this many steps (one-config mode).
    """

    title = "How many layers are enough? VGG depth grid (B-GRID, B-STUCK, B-POOL, B-PARAMS)"
    figure_names = ("sizes", "params", "curves", "grad_flow", "grid")

    def __init__(
        self,
        *,
        data: str | Dataset = "digits",
        mode: str = "one config",
        blocks: int = 3,
        convs: int = 2,
        width: int = 16,
        norm: str = "none",
        residual: bool = False,
        init: str = "torch",
        epochs: int = 3,
        lr: float = 1e-3,
        reps: int = 2,
        batch_size: int = 32,
        every: int = 5,
        device: str = "auto",
        seed: int = 0,
        refresh: float | None = None,
    ) -> None:
        for name, value, options in (
            ("mode", mode, MODES), ("norm", norm, NORMS), ("init", init, INITS),
        ):  # fmt: skip
            if value not in options:
                raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
        self.data = data if isinstance(data, Dataset) else cached_dataset(data)
        self.batch_size, self.every = batch_size, every
        self._defaults = dict(
            mode=mode, blocks=blocks, convs=convs, width=width, norm=norm,
            residual=residual, init=init, epochs=epochs, lr=lr, reps=reps,
        )  # fmt: skip
        self.model: nn.Module | None = None
        self.watch = None
        self.cell_log: _CellLog | None = None
        self.grid_shape: tuple[list[int], list[int]] = ([], [])
        self._drawn_cells = -1
        self._views()
        super().__init__(device=device, seed=seed, refresh=refresh)

    # ---- controls ----------------------------------------------------------------------
    def build_controls(self) -> dict[str, W.Widget]:
        d = self._defaults
        slider = dict(continuous_update=False, style={"description_width": "initial"})
        return {
            "mode": W.ToggleButtons(options=list(MODES), value=d["mode"], description="mode"),
            "blocks": W.IntSlider(value=d["blocks"], min=1, max=6, description="blocks", **slider),
            "convs": W.IntSlider(
                value=d["convs"], min=1, max=6, description="convs per block", **slider
            ),
            "width": W.Dropdown(options=[4, 8, 16, 32], value=d["width"], description="width"),
            "norm": W.Dropdown(options=list(NORMS), value=d["norm"], description="norm"),
            "residual": W.Checkbox(value=d["residual"], description="residual", indent=False),
            "init": W.Dropdown(options=list(INITS), value=d["init"], description="init"),
            "epochs": W.IntSlider(value=d["epochs"], min=1, max=20, description="epochs", **slider),
            "lr": W.FloatLogSlider(
                value=d["lr"], base=10, min=-4, max=-1, description="lr", **slider
            ),
            "reps": W.IntSlider(value=d["reps"], min=1, max=5, description="reps", **slider),
        }

    def _build(self) -> functools.partial:
        """``build_vgg`` with every control but the grid's two axes filled in."""
        c = self.controls
        channels, h, w = self.data.shape
        norm = c["norm"].value
        return functools.partial(
            build_vgg, width=c["width"].value, norm=None if norm == "none" else norm,
            residual=c["residual"].value, init=c["init"].value, in_channels=channels,
            num_classes=self.data.num_classes, input_size=(h, w),
        )  # fmt: skip

    # ---- run -----------------------------------------------------------------------------
    def make_run(self) -> Run:
        c = self.controls
        build = self._build()
        blocks, convs = c["blocks"].value, c["convs"].value
        self._views()
        fit_kwargs = dict(
            epochs=c["epochs"].value, lr=c["lr"].value, batch_size=self.batch_size,
            device=self.device, seed=self.seed,
        )  # fmt: skip
        if c["mode"].value == "one config":
            torch.manual_seed(self.seed)
            model = build(blocks, convs)  # too many blocks: vgg's ValueError names the limit
            self.model, self.cell_log = model, None
            self.watch = watch(model, layers=nn.Conv2d, every=self.every, what=("gradients",))
            return Run(fit, model, self.data, watch=self.watch, **fit_kwargs)
        # grid mode: rows with too many blocks become error rows of the sweep, not a crash
        self.model, self.watch, self.cell_log = None, None, _CellLog()
        self.grid_shape = (list(range(1, blocks + 1)), list(range(1, convs + 1)))
        grid = {"blocks": self.grid_shape[0], "convs": self.grid_shape[1]}
        return Run(
            sweep, build, grid, reps=c["reps"].value, data=self.data,
            callbacks=[self.cell_log], **fit_kwargs,
        )  # fmt: skip

    # ---- pictures --------------------------------------------------------------------------
    def _views(self) -> None:
        fig = new_figure(None, (12.0, 4.2))
        ax_loss, ax_acc = fig.subplots(1, 2)
        self.curve_views = [LiveCurves(ax_loss, metric="loss"), LiveCurves(ax_acc, metric="acc")]
        self.curves_renderer = Renderer(fig, self.curve_views)
        fig = new_figure(None, (10.0, 4.5))
        self.flow_view = LiveGradFlow(fig.add_subplot())
        self.flow_renderer = Renderer(fig, [self.flow_view])
        self._drawn_cells = -1

    def reset_views(self) -> None:
        self.model = self.watch = self.cell_log = None
        self._views()

    def render(self) -> dict[str, bytes | Figure]:
        out: dict[str, bytes | Figure] = {}
        run = self.run
        if run is None:
            return out
        if run.history is not None:
            snap = {**run.history.snapshot(), "best_epoch": run.history.best_epoch}
            for view in self.curve_views:
                view.update(snap)
            out["curves"] = self.curves_renderer.png()
        if self.watch is not None:
            self.flow_view.update(self.new_records(self.watch))
            out["grad_flow"] = self.flow_renderer.png()
        if self.cell_log is not None:
            cells = list(self.cell_log.cells)
            if len(cells) != self._drawn_cells:  # a cell finished: redraw the heatmaps
                self._drawn_cells = len(cells)
                out["grid"] = self._grid_figure(cells)
                errors = [row["error"] for row, *_ in cells if row["error"]]
                if errors:
                    self.show_error(f"{len(errors)} run(s) refused: {errors[0]}")
            if run.finished.is_set() and run.status == "done":
                flow = self._grid_flow(cells)
                if flow is not None:
                    out["grad_flow"] = flow
        return out

    def grid_arrays(self, cells=None) -> dict[str, np.ndarray]:
        """The grid so far: ``acc`` (reps, blocks, convs), ``params``, ``stuck`` (blocks,
        convs); NaN / False where no run has finished."""
        cells = (
            list(self.cell_log.cells)
            if cells is None and self.cell_log is not None
            else cells or []
        )
        rows, cols = self.grid_shape
        reps = self.controls["reps"].value
        acc = np.full((reps, len(rows), len(cols)), np.nan)
        params = np.full((len(rows), len(cols)), np.nan)
        stuck_runs = np.zeros((len(rows), len(cols)), int)
        done = np.zeros((len(rows), len(cols)), int)
        for row, losses, val_losses in cells:
            i, j = rows.index(row["blocks"]), cols.index(row["convs"])
            if row["params"] is not None:
                params[i, j] = row["params"]
            if row["error"] is None and losses and not row["stopped"] and row["rep"] < reps:
                acc[row["rep"], i, j] = row["test_acc"] if row["test_acc"] is not None else np.nan
                stuck_runs[i, j] += is_stuck(losses, self.data.num_classes, val_loss=val_losses)
                done[i, j] += 1
        return {"acc": acc, "params": params, "stuck": (done > 0) & (stuck_runs == done)}

    def _grid_figure(self, cells) -> Figure:
        a = self.grid_arrays(cells)
        rows, cols = self.grid_shape
        fig = plots.grid_heatmap(
            a["acc"], params=a["params"], stuck=a["stuck"], rows=rows, cols=cols
        )
        total = len(rows) * len(cols) * self.controls["reps"].value
        fig.suptitle(f"{len(cells)} of {total} runs done; hatched: loss never left chance")
        return fig

    def _grid_flow(self, cells) -> Figure | None:
        """Gradient and signal at init: the grid's deepest trained cell vs one conv per block."""
        seeds = {(r["blocks"], r["convs"]): r["seed"] for r, losses, _ in cells[::-1] if losses}
        deep = max(seeds, key=lambda cell: (cell[0], cell[1]), default=None)
        if deep is None or (deep[0], 1) not in seeds or deep[1] == 1:
            return None
        shallow = (deep[0], 1)
        build = self._build()
        x, y = self.data.train.x[:256], self.data.train.y[:256]
        flow = {}
        for name, cell in (("deep", deep), ("shallow", shallow)):
            torch.manual_seed(seeds[cell])  # the weights the cell's first run started from
            flow[name] = flow_at_init(build(*cell), x, y)
        return draw_flow(flow, deep, shallow)

    def static(self) -> dict[str, Figure]:
        """Spatial size after each block and parameters per layer of the chosen config.

        Too many blocks for the input: the sizes that fit are drawn, then the refusal is
        raised so the panel shows it in its error box.
        """
        c = self.controls
        _, h, w = self.data.shape
        blocks, most = c["blocks"].value, max_halvings((h, w))
        sizes = [[h >> i, w >> i] for i in range(min(blocks, most) + 1)]
        fig = plots.spatial_sizes(sizes)
        build = self._build()
        try:
            model = build(blocks, c["convs"].value)
        except ValueError as err:
            fig.axes[0].set_title(f"{blocks} blocks: refused, {most} at most for {h}x{w}")
            self.publish({"sizes": fig})  # show what fits next to the message
            raise ValueError(f"{err}. Lower blocks to {most} or fewer.") from None
        fig.axes[0].set_title(f"{blocks} poolings: {h}x{w} -> {sizes[-1][0]}x{sizes[-1][1]}")
        rows = summary(model, self.data.shape, device="cpu")
        params = plots.param_bars([[r.name, r.type, r.output_shape, r.params] for r in rows])
        return {"sizes": fig, "params": params}

    @property
    def params(self) -> int:
        """Parameters of the chosen config, ``sum(p.numel())`` (ValueError if it does not fit)."""
        model = self._build()(self.controls["blocks"].value, self.controls["convs"].value)
        return sum(p.numel() for p in model.parameters())
