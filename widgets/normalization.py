"""``NormPanel``: choose the normalization axes, see which elements share statistics, train.

Curriculum section G. Tick the axes (N, C, H, W) that share one mean and variance, set the
number of channel groups and the affine choice: the (N, C, H*W) cube highlights the
elements that share statistics with one element, and the title counts the norm layers'
parameters. Press Train: the small conv net of ``vizlab.experiments.normalization`` trains
with that choice while the panel shows the first norm layer's batch statistics (dots) next
to its running averages (line), and the loss and accuracy curves; when training ends, the
learned alpha and beta and the statistics over time.

Presets: batch norm = N, H, W; layer norm = C, H, W; instance norm = H, W; group norm =
C, H, W with groups > 1; no box ticked = no normalization.
"""

from __future__ import annotations

import functools
from typing import Any

import ipywidgets as W
import numpy as np
from matplotlib.figure import Figure

from vizlab import plots
from vizlab.experiments.normalization import norm_net
from vizlab.nn import Norm
from vizlab.nn.norm_args import AXES, check_groups, parse_axes
from vizlab.plots import LiveCurves, LiveNormStats
from vizlab.plots.live import Renderer
from vizlab.plots.style import new_figure, style
from vizlab.probes import watch
from vizlab.train import Run, fit
from widgets.base import Panel, cached_dataset

__all__ = ["NormPanel", "PRESETS"]

PRESETS: dict[str, tuple[str, int]] = {
    "batch": ("NHW", 1),
    "layer": ("CHW", 1),
    "instance": ("HW", 1),
    "group": ("CHW", 4),
    "none": ("", 1),
}
AFFINES = {"per channel (2C)": "channel", "per element (2CHW)": "element", "none": None}


class NormPanel(Panel):
    """Train the section's small conv net with any choice of normalization axes.

    Controls: ``N``, ``C``, ``H``, ``W`` (checkboxes: the axes that share one mean and
    variance), ``groups`` (channel groups; > 1 needs ``C``), ``affine`` (per channel, per
    element, none), ``batch_size``, ``epochs``, ``lr``.

    Figures: ``cube`` (static: the elements sharing one mean/var, the parameter count),
    ``stats`` (live: batch vs running mean and variance per channel of the first norm
    layer), ``curves`` (live: loss and accuracy) and ``details`` (after training: alpha,
    beta and the statistics over time, ``vizlab.plots.norm_stats``).

    Args:
        data: an embedded dataset name.
        preset: starting axes and groups: ``"batch"``, ``"layer"``, ``"instance"``,
            ``"group"`` or ``"none"``.
        axes: starting axes as letters (overrides ``preset``), e.g. ``"NHW"``.
        groups, affine, batch_size, epochs, lr: starting values of the controls.
        width: channels of the net's first conv (the second has twice as many).
        every: the watch records every this many steps.
    """

    title = "Normalization: choose the axes (G-BN1, G-BN2, G-BN3, G-BNSMALL, G-AXES, G-LNPARAMS)"
    figure_names = ("cube", "stats", "curves", "details")

    def __init__(
        self,
        *,
        data: str = "digits",
        preset: str = "batch",
        axes: str | None = None,
        groups: int | None = None,
        affine: str | None = "channel",
        batch_size: int = 32,
        epochs: int = 3,
        lr: float = 3e-3,
        width: int = 8,
        every: int = 2,
        device: str = "auto",
        seed: int = 0,
        refresh: float | None = None,
    ) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {list(PRESETS)}")
        letters, preset_groups = PRESETS[preset]
        letters = "".join(parse_axes(axes)) if axes else letters  # a typo fails here, clearly
        if affine not in AFFINES.values():
            raise ValueError(f"affine must be one of {list(AFFINES.values())}, got {affine!r}")
        self.data = cached_dataset(data)
        self.width, self.every = width, every
        self._defaults = dict(
            axes=letters,
            groups=preset_groups if groups is None else groups,
            affine=affine,
            batch_size=batch_size,
            epochs=epochs,
            lr=lr,
        )
        self.model = None
        self.watch = None
        self.layer = ""
        self._views()
        super().__init__(device=device, seed=seed, refresh=refresh)

    # ---- controls ----------------------------------------------------------------------
    def build_controls(self) -> dict[str, W.Widget]:
        d = self._defaults
        slider = dict(continuous_update=False, style={"description_width": "initial"})
        names = {"N": "N (batch)", "C": "C (channels)", "H": "H (height)", "W": "W (width)"}
        boxes = {
            a: W.Checkbox(value=a in d["axes"], description=names[a], indent=False) for a in AXES
        }
        affine_label = next(k for k, v in AFFINES.items() if v == d["affine"])
        return {
            **boxes,
            "groups": W.BoundedIntText(
                value=d["groups"], min=1, max=64, description="groups", layout={"width": "150px"}
            ),
            "affine": W.Dropdown(options=list(AFFINES), value=affine_label, description="affine"),
            "batch_size": W.Dropdown(
                options=[2, 4, 8, 16, 32, 64, 128, 256], value=d["batch_size"], description="batch"
            ),
            "epochs": W.IntSlider(value=d["epochs"], min=1, max=30, description="epochs", **slider),
            "lr": W.FloatLogSlider(
                value=d["lr"], base=10, min=-4, max=-1, description="lr", **slider
            ),
        }

    @property
    def axes(self) -> tuple[str, ...]:
        """The ticked axes in N, C, H, W order (empty: no normalization)."""
        return tuple(a for a in AXES if self.controls[a].value)

    def choose(self, axes: str, groups: int | None = None) -> None:
        """Tick exactly ``axes`` (letters, e.g. ``"CHW"``) and set ``groups``, restarting a
        live run once. Unknown letters are shown in the panel's error box."""
        try:
            letters = parse_axes(axes) if axes else ()
        except ValueError as err:
            self.show_error(str(err))
            return
        was_alive = self.alive
        if was_alive:
            self.stop()
            self.run.join(10)
        for a in AXES:
            self.controls[a].value = a in letters
        if groups is not None:
            self.controls["groups"].value = groups
        if was_alive:
            self.train()

    def preset(self, name: str) -> None:
        """Set the axes and groups of a preset: batch, layer, instance, group or none."""
        if name not in PRESETS:
            self.show_error(f"unknown preset {name!r}; choose one of {list(PRESETS)}")
            return
        self.choose(*PRESETS[name])

    def _norm_spec(self) -> Any:
        """The ``norm=`` argument for the net from the controls, or ``None``; a bad choice
        raises ValueError with what to change."""
        axes, groups = self.axes, int(self.controls["groups"].value)
        affine = AFFINES[self.controls["affine"].value]
        if not axes:
            if groups > 1:
                raise ValueError(
                    f"groups={groups} but no axis is ticked: tick C (and H, W) for group norm, "
                    "or set groups to 1 for no normalization"
                )
            return None
        for channels in (self.width, 2 * self.width):  # the two conv layers' channels
            check_groups(groups, channels, axes)
        return functools.partial(
            Norm, axes=axes, groups=groups if groups > 1 else None, affine=affine
        )

    # ---- run -----------------------------------------------------------------------------
    def make_run(self) -> Run:
        spec = self._norm_spec()
        batch_size = self.controls["batch_size"].value
        if spec is not None and "N" in self.axes and batch_size < 2:
            raise ValueError("batch norm needs at least 2 examples per batch")
        self.model = norm_net(self.data, spec, width=self.width, seed=self.seed)
        norms = [name for name, m in self.model.named_modules() if isinstance(m, Norm)]
        self.layer = norms[0] if norms else ""
        self.watch = (
            watch(self.model, layers=norms, every=self.every, what=("norms",)) if norms else None
        )
        self._views()
        return Run(
            fit,
            self.model,
            self.data,
            epochs=self.controls["epochs"].value,
            batch_size=batch_size,
            lr=self.controls["lr"].value,
            device=self.device,
            seed=self.seed,
            watch=self.watch,
        )

    # ---- pictures --------------------------------------------------------------------------
    def _views(self) -> None:
        fig = new_figure(None, (12.0, 4.2))
        ax_mean, ax_var = fig.subplots(1, 2)
        layer = self.layer or None
        self.stat_views = [
            LiveNormStats(ax_mean, layer=layer, stat="mean"),
            LiveNormStats(ax_var, layer=layer, stat="var"),
        ]
        fig.suptitle(f"first norm layer: {self.layer}" if self.layer else "no norm layer")
        self.stats_renderer = Renderer(fig, self.stat_views)
        fig = new_figure(None, (12.0, 4.2))
        ax_loss, ax_acc = fig.subplots(1, 2)
        self.curve_views = [LiveCurves(ax_loss, metric="loss"), LiveCurves(ax_acc, metric="acc")]
        self.curves_renderer = Renderer(fig, self.curve_views)

    def reset_views(self) -> None:
        self.model = self.watch = None
        self.layer = ""
        self._views()

    def render(self) -> dict[str, bytes | Figure]:
        out: dict[str, bytes | Figure] = {}
        records = self.new_records(self.watch) if self.watch is not None else []
        for view in self.stat_views:
            view.update(records)
        out["stats"] = self.stats_renderer.png()  # empty, titled "no norm layer", without one
        if self.run is not None and self.run.finished.is_set():
            everything = self.watch.records() if self.watch is not None else []
            out["details"] = plots.norm_stats(everything, layer=self.layer or None)
        snap = self.history_data()
        if snap is not None:
            for view in self.curve_views:
                view.update(snap)
            out["curves"] = self.curves_renderer.png()
        return out

    def static(self) -> dict[str, Figure]:
        """The cube for the ticked axes, with the parameter count of the net's norm layers."""
        spec = self._norm_spec()
        groups = int(self.controls["groups"].value)
        affine = AFFINES[self.controls["affine"].value]
        shape = (4, self.width, 3, 2)  # (N, C, H, W) of the drawn cube
        with style():
            fig = new_figure(None, (7.0, 6.0))
            ax = fig.add_subplot()
            if spec is None:
                n, c, h, w = shape
                plots.draw_norm_axes_cube(ax, np.zeros((n, c, h * w), dtype=bool))
                ax.set_title("no normalization: nothing is shared", fontsize="medium")
                return {"cube": fig}
            mask = plots.shared_mask(self.axes, groups=groups if groups > 1 else None, shape=shape)
            plots.draw_norm_axes_cube(ax, mask)
            # The net's two norm layers: C channels at the input size, 2C at half of it.
            _, h, w = self.data.shape
            layers = [
                spec(self.width, spatial=(h, w)),
                spec(2 * self.width, spatial=(h // 2, w // 2)),
            ]
            count = sum(p.numel() for m in layers for p in m.parameters())
            sizes = " + ".join(f"{m.channels}x{'x'.join(map(str, m.spatial))}" for m in layers)
            kind = {"channel": "2C", "element": "2CHW", None: "no affine"}[affine]
            choice = "".join(self.axes) + (f", {groups} groups" if groups > 1 else "")
            ax.set_title(
                f"{layers[0].preset or 'custom'} norm over {choice}: {int(mask.sum())} of "
                f"{mask.size} share one mean/var\nparameters ({kind}; CxHxW {sizes}): {count}",
                fontsize="medium",
            )
        return {"cube": fig}
