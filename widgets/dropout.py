"""``DropoutPanel``: dropout masks live while a net trains, early/late schedules, MC dropout.

Curriculum section F. Pick a rate, a variant (element, channel, cutout, DropConnect) and a
schedule (constant, early, late), press Train: the panel shows the mask of the first dropout
layer over (batch, units) as the watch records it, the fraction each step's mask dropped
next to the scheduled rate, and the loss curves. When training ends, the MC-dropout section
runs N masked passes on one test image and shows the per-class mean and spread.
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure

from vizlab import plots
from vizlab.experiments.dropout import VARIANTS, RateLog, mc_passes, variant_net
from vizlab.nn import DropConnectLinear, Dropout
from vizlab.nn.schedule import Schedule
from vizlab.plots import LiveCurves, LiveDropoutMask, LiveView
from vizlab.plots.live import Renderer
from vizlab.plots.style import MARK, PALETTE, new_figure, style
from vizlab.probes import watch
from vizlab.train import Run, fit
from widgets.base import Panel, cached_dataset

__all__ = ["DropoutPanel"]

SCHEDULES = ("constant", "early", "late")


class LiveRate(LiveView):
    """The scheduled rate and the fraction each step's mask actually dropped, over steps."""

    def __init__(self, ax=None, *, figsize=None) -> None:
        super().__init__(ax, figsize=figsize or (7.0, 4.0))
        with style():
            (self.dropped,) = self.ax.plot(
                [], [], color=PALETTE[0], linestyle="none", marker=".", label="dropped (mask)"
            )
            (self.rate,) = self.ax.plot(
                [], [], color=MARK, drawstyle="steps-post", label="scheduled rate"
            )
            self.ax.set_xlabel("step")
            self.ax.set_ylabel("fraction dropped")
            self.ax.set_ylim(-0.02, 1.0)
            self.ax.legend(loc="upper right")
        self.moving(self.dropped)
        self.moving(self.rate)

    def update(self, log: RateLog) -> None:
        n = min(len(log.steps), len(log.rate), len(log.dropped))  # appended by another thread
        steps = np.asarray(log.steps[:n], dtype=float)
        self.dropped.set_data(steps, np.asarray(log.dropped[:n], dtype=float))
        self.rate.set_data(steps, np.asarray(log.rate[:n], dtype=float))
        if n:
            self.grow_limits("x", [0.0, steps[-1]], time=True)
        self.touch()


class DropoutPanel(Panel):
    """Train a small net with one dropout variant on the digits and watch its masks.

    Controls: ``p`` (rate), ``variant`` (element / channel / cutout / dropconnect),
    ``schedule`` (constant / early / late, switching at ``switch`` of training), ``epochs``;
    MC section: ``passes`` (N) and ``image`` (test index), which do not restart training.

    Figures: ``mask`` (the newest recorded mask of the first dropout layer), ``rate``
    (scheduled rate and measured dropped fraction per step), ``curves`` (loss and accuracy)
    and ``mc`` (per-class mean +- std over N passes, after training).

    Args:
        data: an embedded dataset name.
        p, variant, schedule, epochs, passes: starting values of the controls.
        every: the watch records every this many steps.
    """

    title = "Dropout: masks, schedules and MC dropout (F-MASK, F-INV, F-MC, F-VAR, F-SCHED)"
    figure_names = ("mask", "rate", "curves", "mc")
    restart_on = ("p", "variant", "schedule", "switch", "epochs")

    def __init__(
        self,
        *,
        data: str = "digits",
        p: float = 0.5,
        variant: str = "element",
        schedule: str = "constant",
        epochs: int = 5,
        passes: int = 30,
        every: int = 2,
        device: str = "auto",
        seed: int = 0,
        refresh: float | None = None,
    ) -> None:
        self.data = cached_dataset(data)
        self.every = every
        self._defaults = dict(p=p, variant=variant, schedule=schedule, epochs=epochs)
        self._defaults["passes"] = passes
        self.model: torch.nn.Module | None = None
        self.watch = None
        self.rate_log: RateLog | None = None
        self.layer = ""
        self._views()
        super().__init__(device=device, seed=seed, refresh=refresh)

    # ---- controls and run ----------------------------------------------------------------
    def build_controls(self) -> dict[str, W.Widget]:
        d = self._defaults
        slider = dict(continuous_update=False, style={"description_width": "initial"})
        return {
            "p": W.FloatSlider(
                value=d["p"], min=0.0, max=0.9, step=0.05, description="rate p", **slider
            ),
            "variant": W.Dropdown(options=VARIANTS, value=d["variant"], description="variant"),
            "schedule": W.Dropdown(options=SCHEDULES, value=d["schedule"], description="schedule"),
            "switch": W.FloatSlider(
                value=0.25, min=0.0, max=1.0, step=0.05, description="switch at", **slider
            ),
            "epochs": W.IntSlider(value=d["epochs"], min=1, max=30, description="epochs", **slider),
            "passes": W.IntSlider(
                value=d["passes"], min=2, max=200, description="MC passes N", **slider
            ),
            "image": W.IntSlider(
                value=0, min=0, max=len(self.data.test) - 1, description="test image", **slider
            ),
        }

    def make_run(self) -> Run:
        c = {name: control.value for name, control in self.controls.items()}
        if c["schedule"] != "constant" and c["p"] == 0:
            raise ValueError(
                f"rate p = 0 with the {c['schedule']} schedule: there is no dropout to switch "
                "on or off; set p > 0 (or choose the constant schedule)"
            )
        torch.manual_seed(self.seed)
        schedule = Schedule(c["schedule"], c["switch"])
        self.model = variant_net(
            c["variant"], c["p"], self.data.shape, self.data.num_classes, schedule=schedule
        )
        droppers = [
            name
            for name, m in self.model.named_modules()
            if isinstance(m, (Dropout, DropConnectLinear))
        ]
        self.layer = droppers[0]
        self.watch = watch(
            self.model, layers=droppers, every=self.every, what=("dropout",), mask_sample=(32, 256)
        )
        self.rate_log = RateLog(self.model.get_submodule(self.layer))
        self._views()
        if c["variant"] == "dropconnect":  # the mask is over the weight: (out, in) units
            self.mask_view.ax.set_ylabel("output unit")
            self.mask_view.ax.set_xlabel("input unit")
        return Run(
            fit,
            self.model,
            self.data,
            epochs=c["epochs"],
            batch_size=64,
            lr=1e-3,
            device=self.device,
            seed=self.seed,
            watch=self.watch,
            callbacks=[self.rate_log],
        )

    # ---- pictures --------------------------------------------------------------------------
    def _views(self) -> None:
        self.mask_view = LiveDropoutMask(layer=self.layer or None, figsize=(7.0, 4.0))
        self.rate_view = LiveRate()
        fig = new_figure(None, (10.0, 4.0))
        ax_loss, ax_acc = fig.subplots(1, 2)
        self.curves = [LiveCurves(ax_loss, metric="loss"), LiveCurves(ax_acc, metric="acc")]
        self.curves_renderer = Renderer(fig, self.curves)

    def reset_views(self) -> None:
        self.model = self.watch = self.rate_log = None
        self.layer = ""
        self._views()

    def render(self) -> dict[str, bytes | Figure]:
        out: dict[str, bytes | Figure] = {}
        if self.watch is not None:
            self.mask_view.update(self.new_records(self.watch))
            out["mask"] = self.mask_view.png()
        if self.rate_log is not None:
            self.rate_view.update(self.rate_log)
            out["rate"] = self.rate_view.png()
        snap = self.history_data()
        if snap is not None:
            for view in self.curves:
                view.update(snap)
            out["curves"] = self.curves_renderer.png()
        if self.run is not None and self.run.finished.is_set():
            out.update(self._mc())
        return out

    def static(self) -> dict[str, Figure]:
        # MC knobs only re-run the passes of the trained model; never while it trains.
        with self._lock:
            if self.run is None or not self.run.finished.is_set():
                return {}
            return self._mc()

    def _mc(self) -> dict[str, Figure]:
        """Per-class mean and spread of N passes on the chosen test image (F-MC)."""
        if self.model is None or self.run is None or self.run.status != "done":
            return {}
        n, index = self.controls["passes"].value, self.controls["image"].value
        device = next(self.model.parameters()).device
        x = self.data.test.x[index : index + 1].to(device)
        label = int(self.data.test.y[index])
        layers = [m for m in self.model.modules() if isinstance(m, (Dropout, DropConnectLinear))]
        schedules = [m.schedule for m in layers]
        for m in layers:  # MC dropout at the nominal rate, whatever the schedule ended at
            m.schedule = Schedule()
        try:
            torch.manual_seed(self.seed)
            probs = mc_passes(self.model, x, n)[:, 0].cpu().numpy()  # (N, K)
        finally:
            for m, s in zip(layers, schedules):
                m.schedule = s
        fig = plots.mc_dropout(probs, classes=self.data.classes, label=label)
        mean = probs.mean(axis=0)
        fig.axes[0].set_title(
            f"test image {index}: label {self.data.classes[label]}, MC prediction "
            f"{self.data.classes[int(mean.argmax())]}, mean std {probs.std(axis=0).mean():.3f}"
        )
        self.mc_probs = probs
        return {"mc": fig}
