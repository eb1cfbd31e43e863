"""``PhenomenaPanel``: overfitting and random labels, live (C-OVER, C-RAND).

Pick the fraction of training labels replaced by random classes, the number of training
images and the network's width, press Train: a wide MLP fits the digits while the panel
draws train and validation curves, both from evaluating the whole split after every epoch.
Every finished run is kept by its fraction, so moving the slider through 0, 0.5 and 1 and
training each time builds the picture of Zhang et al. (2017): random labels are memorized
too (train accuracy climbs far above chance), they just take longer, and the test accuracy
stays at chance.
"""

from __future__ import annotations

import ipywidgets as W
import torch
from matplotlib.figure import Figure

from vizlab.experiments.phenomena import EpochEval, corrupt_labels, train_subset
from vizlab.models import mlp
from vizlab.plots import LiveCurves
from vizlab.plots.live import Renderer
from vizlab.plots.style import MARK, PALETTE, new_figure, style
from vizlab.train import Run, fit
from widgets.base import Panel, cached_dataset

__all__ = ["PhenomenaPanel"]


class PhenomenaPanel(Panel):
    """Train a wide MLP on digits with a chosen share of random labels.

    Controls: ``fraction`` (labels replaced by a uniformly random class), ``train_size``
    (training images), ``width`` (units per hidden layer), ``epochs``, ``lr``.

    Figures: ``curves`` (loss and accuracy per epoch: train = the corrupted training split
    evaluated in eval mode, validation = the clean validation split), ``fractions`` (the
    training loss and the train/test accuracy of every finished run, by fraction).

    Attributes:
        probe: the ``EpochEval`` of the current run (``.loss``/``.acc`` by split).
        finished: ``{fraction: {"epochs", "train_loss", "train_acc", "test_acc"}}`` of every
            run that trained to the end, the newest per fraction.
    """

    title = "Overfitting and random labels (C-OVER, C-RAND)"
    figure_names = ("curves", "fractions")
    restart_on = ("fraction", "train_size", "width", "epochs", "lr")

    def __init__(
        self,
        *,
        data: str = "digits",
        fraction: float = 0.0,
        train_size: int = 256,
        width: int = 512,
        epochs: int = 30,
        device: str = "auto",
        seed: int = 0,
        refresh: float | None = None,
    ) -> None:
        self.data = cached_dataset(data, seed=seed)
        self._defaults = dict(fraction=fraction, train_size=train_size, width=width)
        self._defaults["epochs"] = epochs
        self.probe: EpochEval | None = None
        self.finished: dict[float, dict[str, list]] = {}
        self._fraction = fraction
        self._views()
        super().__init__(device=device, seed=seed, refresh=refresh)

    def build_controls(self) -> dict[str, W.Widget]:
        d = self._defaults
        style_ = {"description_width": "initial"}
        slider = dict(continuous_update=False, style=style_)
        return {
            "fraction": W.FloatSlider(
                value=d["fraction"],
                min=0.0,
                max=1.0,
                step=0.1,
                description="random labels",
                readout_format=".0%",
                **slider,
            ),  # fmt: skip
            "train_size": W.IntSlider(
                value=d["train_size"],
                min=10,
                max=len(self.data.train),
                step=10,
                description="train images",
                **slider,
            ),  # fmt: skip
            "width": W.IntSlider(
                value=d["width"], min=16, max=1024, step=16, description="width", **slider
            ),
            "epochs": W.IntSlider(
                value=d["epochs"], min=1, max=200, description="epochs", **slider
            ),
            "lr": W.FloatLogSlider(value=1e-3, base=10, min=-4, max=-1, description="lr", **slider),
        }

    def make_run(self) -> Run:
        c = {name: control.value for name, control in self.controls.items()}
        k = self.data.num_classes
        if not 2 * k <= c["train_size"] <= len(self.data.train):
            raise ValueError(
                f"train images must lie in {2 * k}..{len(self.data.train)} (at least two per "
                f"class), got {c['train_size']}; move the train images slider up"
            )
        if c["width"] < 1:
            raise ValueError(f"width must be at least 1 unit, got {c['width']}")
        truth = self.data.train.y[: c["train_size"]]
        y, _ = corrupt_labels(truth, c["fraction"], self.data.num_classes, seed=self.seed + 1)
        subset = train_subset(self.data, c["train_size"], y)
        ch, h, w = subset.shape
        torch.manual_seed(self.seed)
        model = mlp([ch * h * w, c["width"], c["width"], subset.num_classes])
        self.probe = EpochEval(("train", "test"))
        self._fraction = float(c["fraction"])
        self._views()
        return Run(
            fit, model, subset, epochs=c["epochs"], batch_size=32, lr=c["lr"],
            device=self.device, seed=self.seed, callbacks=[self.probe],
        )  # fmt: skip

    # ---- pictures ------------------------------------------------------------------------
    def _views(self) -> None:
        fig = new_figure(None, (11.0, 4.0))
        ax_loss, ax_acc = fig.subplots(1, 2)
        self.curves = [LiveCurves(ax_loss, metric="loss"), LiveCurves(ax_acc, metric="acc")]
        self.curves_renderer = Renderer(fig, self.curves)

    def reset_views(self) -> None:
        self.probe = None
        self.finished.clear()
        self._views()

    def _snapshot(self) -> dict | None:
        """Epoch rows that line up: evaluated train columns and the fit's validation."""
        if self.run is None or self.run.history is None or self.probe is None:
            return None
        snap = self.run.history.snapshot()
        train_loss, train_acc = list(self.probe.loss["train"]), list(self.probe.acc["train"])
        test_acc = list(self.probe.acc["test"])
        n = min(len(snap["epochs"]), len(train_loss), len(train_acc), len(test_acc))
        return {
            "epochs": snap["epochs"][:n],
            "train_loss": train_loss[:n],
            "train_acc": train_acc[:n],
            "test_acc": test_acc[:n],
            "val_loss": snap["val_loss"][:n],
            "val_acc": snap["val_acc"][:n],
            "best_epoch": self.run.history.best_epoch,
        }

    def render(self) -> dict[str, bytes | Figure]:
        snap = self._snapshot()
        if snap is None:
            return {}
        for view in self.curves:
            view.update(snap)
        out: dict[str, bytes | Figure] = {"curves": self.curves_renderer.png()}
        if self.run.finished.is_set() and self.run.status == "done" and snap["epochs"]:
            keep = ("epochs", "train_loss", "train_acc", "test_acc")
            self.finished[self._fraction] = {k: snap[k] for k in keep}
        out["fractions"] = self._fractions_figure(snap)
        return out

    def _fractions_figure(self, live: dict) -> Figure:
        """Training loss and train/test accuracy of every finished run plus the live one."""
        runs = dict(sorted(self.finished.items()))
        if not self.run.finished.is_set():
            runs[self._fraction] = live  # the run in progress, drawn over its old curve
        chance = 1.0 / self.data.num_classes
        with style():
            fig = new_figure(None, (11.0, 4.0))
            ax_loss, ax_acc = fig.subplots(1, 2)
            for i, (fraction, run) in enumerate(sorted(runs.items())):
                color = PALETTE[i % (len(PALETTE) - 1)]
                label = f"{fraction:.0%} random"
                ax_loss.plot(run["epochs"], run["train_loss"], color=color, label=label)
                ax_acc.plot(run["epochs"], run["train_acc"], color=color, label=label)
                ax_acc.plot(run["epochs"], run["test_acc"], color=color, ls="--")
            ax_acc.axhline(chance, color=MARK, ls=":", label="chance")
            ax_loss.set(xlabel="epoch", ylabel="train loss", title="training loss by fraction")
            ax_acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02),
                       title="train (—) and test (--) accuracy")  # fmt: skip
            if any(len(run["train_loss"]) for run in runs.values()):
                ax_loss.set_yscale("log")
                ax_loss.legend(loc="best", fontsize="small")
            ax_acc.legend(loc="best", fontsize="small")
        return fig
