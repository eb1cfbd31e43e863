"""``RegularizationPanel``: penalties, weight decay and early stopping, live on the digits.

Curriculum section E. Pick an optimizer (adam, adamw, sgd), a penalty (L2 in the loss,
decoupled weight decay, or L1) and its coefficient, optionally reparameterize every weight as
``w = a * b`` (then L2 on ``a`` and ``b`` acts like L1 on ``w``), and a patience for early
stopping; press Train. The panel shows the loss and accuracy curves (best epoch live; best,
stop and restored epochs once the run ends), every layer's weight norm over steps, and the
weight histograms with the fraction of weights near zero.
"""

from __future__ import annotations

import time

import ipywidgets as W
import torch
from matplotlib.figure import Figure

from vizlab.experiments.regularization import WeightRecorder, mlp_for, reparameterize
from vizlab.plots import LiveCurves, LiveWeightNorms, curves, weight_hist
from vizlab.plots.live import Renderer
from vizlab.plots.style import new_figure
from vizlab.train import Run, fit
from widgets.base import Panel, cached_dataset

__all__ = ["RegularizationPanel", "PENALTIES"]

#: How the coefficient enters: fit(l2=...), fit(weight_decay=...), fit(l1=...), or not at all.
PENALTIES = ("L2", "weight decay", "L1", "none")
_FIT_ARG = {"L2": "l2", "weight decay": "weight_decay", "L1": "l1"}


class RegularizationPanel(Panel):
    """Train an MLP on the digits with one penalty and watch its weights (E-ES ... E-REPARAM).

    Controls: ``optimizer`` (adam / adamw / sgd), ``penalty`` (L2 / weight decay / L1 /
    none), ``coef`` (the penalty's coefficient), ``reparam`` (``w = a * b``), ``patience``
    (0: no early stopping), ``lr`` and ``epochs``.

    Figures: ``curves`` (train and validation loss and accuracy; best epoch live, then
    best / stop / restored epochs), ``norms`` (||w|| of every layer over steps) and
    ``hist`` (newest weight histogram of every layer, with its fraction near zero).

    Args:
        data: an embedded dataset name.
        hidden: hidden widths of the MLP.
        every: the weights are recorded every this many steps.
        optimizer, penalty, coef, reparam, patience, lr, epochs: starting control values.
    """

    title = "Regularization: L2, weight decay, L1, w = a*b, early stopping (E-ES ... E-REPARAM)"
    figure_names = ("curves", "norms", "hist")

    def __init__(
        self,
        *,
        data: str = "digits",
        hidden: tuple[int, ...] = (64,),
        optimizer: str = "adam",
        penalty: str = "L2",
        coef: float = 1e-3,
        reparam: bool = False,
        patience: int = 0,
        lr: float = 1e-3,
        epochs: int = 10,
        every: int = 5,
        device: str = "auto",
        seed: int = 0,
        refresh: float | None = None,
    ) -> None:
        self.data = cached_dataset(data)
        self.hidden = tuple(hidden)
        self.every = every
        self._defaults = dict(optimizer=optimizer, penalty=penalty, coef=coef, reparam=reparam)
        self._defaults.update(patience=patience, lr=lr, epochs=epochs)
        self.model: torch.nn.Module | None = None
        self.recorder: WeightRecorder | None = None
        self._hist_at = 0.0
        self._views()
        super().__init__(device=device, seed=seed, refresh=refresh)

    # ---- controls and run ----------------------------------------------------------------
    def build_controls(self) -> dict[str, W.Widget]:
        d = self._defaults
        slider = dict(continuous_update=False, style={"description_width": "initial"})
        return {
            "optimizer": W.Dropdown(
                options=("adam", "adamw", "sgd"), value=d["optimizer"], description="optimizer"
            ),
            "penalty": W.Dropdown(options=PENALTIES, value=d["penalty"], description="penalty"),
            "coef": W.FloatLogSlider(
                value=d["coef"],
                base=10,
                min=-5,
                max=0,
                step=0.25,
                description="coefficient",
                readout_format=".1e",
                **slider,
            ),  # fmt: skip
            "reparam": W.Checkbox(value=d["reparam"], description="w = a*b (reparameterize)"),
            "patience": W.IntSlider(
                value=d["patience"], min=0, max=20, description="patience (0: off)", **slider
            ),
            "lr": W.FloatLogSlider(
                value=d["lr"],
                base=10,
                min=-4,
                max=0,
                step=0.25,
                description="lr",
                readout_format=".1e",
                **slider,
            ),  # fmt: skip
            "epochs": W.IntSlider(
                value=d["epochs"], min=1, max=100, description="epochs", **slider
            ),
        }

    def settings(self) -> dict:
        """The control values, checked; ``ValueError`` names the setting that cannot work."""
        c = {name: control.value for name, control in self.controls.items()}
        if c["penalty"] == "weight decay" and c["optimizer"] == "adam":
            raise ValueError(
                "weight decay with adam is AdamW: choose optimizer adamw for decoupled decay, "
                "or penalty L2 to see Adam + L2"
            )
        if c["penalty"] == "weight decay" and c["lr"] * c["coef"] >= 1:
            raise ValueError(
                f"lr * weight decay = {c['lr'] * c['coef']:.3g} >= 1: w <- w (1 - lr wd) would "
                "flip or zero every weight at each step; lower the coefficient or the lr"
            )
        if c["patience"] and c["patience"] >= c["epochs"]:
            raise ValueError(
                f"patience {c['patience']} >= epochs {c['epochs']}: early stopping could never "
                "stop this run; raise epochs or lower patience (0 turns it off)"
            )
        return c

    def make_run(self) -> Run:
        c = self.settings()
        self.model = mlp_for(self.data, self.hidden, self.seed)
        if c["reparam"]:
            reparameterize(self.model)
        penalty = {_FIT_ARG[c["penalty"]]: c["coef"]} if c["penalty"] in _FIT_ARG else {}
        self.recorder = WeightRecorder(every=self.every)
        self._views()
        return Run(
            fit,
            self.model,
            self.data,
            epochs=c["epochs"],
            batch_size=64,
            optimizer=c["optimizer"],
            lr=c["lr"],
            momentum=0.0,  # plain SGD: there L2 and weight decay are the same update
            early_stopping=c["patience"] or None,
            device=self.device,
            seed=self.seed,
            callbacks=[self.recorder],
            **penalty,
        )

    # ---- pictures --------------------------------------------------------------------------
    def _views(self) -> None:
        fig = new_figure(None, (10.0, 4.0))
        ax_loss, ax_acc = fig.subplots(1, 2)
        self.curve_views = [LiveCurves(ax_loss, metric="loss"), LiveCurves(ax_acc, metric="acc")]
        self.curves_renderer = Renderer(fig, self.curve_views)
        self.norms_view = LiveWeightNorms(figsize=(7.0, 4.0))
        self._legend_size = 0
        self._hist_at = 0.0

    def reset_views(self) -> None:
        self.model = self.recorder = None
        self._views()

    def render(self) -> dict[str, bytes | Figure]:
        out: dict[str, bytes | Figure] = {}
        run = self.run
        finished = run is not None and run.finished.is_set()
        history = run.history if run is not None else None
        if history is not None:
            if finished:  # the whole story: best, stop and restored epochs marked
                out["curves"] = curves(history.as_dict(), figsize=(10.0, 4.0))
            else:
                snap = self.history_data()
                for view in self.curve_views:
                    view.update(snap)
                out["curves"] = self.curves_renderer.png()
        if self.recorder is not None:
            records = self.recorder.records()
            self.norms_view.update(records)
            if len(self.norms_view.lines) != self._legend_size:  # name the layers once
                self.norms_view.ax.legend(loc="lower right", fontsize="small")
                self.norms_view.needs_full = True
                self._legend_size = len(self.norms_view.lines)
            out["norms"] = self.norms_view.png()
            # a histogram figure is rebuilt, not updated: at most every 2 s, and at the end
            if records and (finished or time.monotonic() - self._hist_at > 2.0):
                out["hist"] = weight_hist(records, figsize=(11.0, 4.0))
                self._hist_at = time.monotonic()
        return out
