"""``LivePanel``: live training views for a learner's own model.

Give it any ``nn.Module`` that maps images to logits and a dataset (an embedded name or a
``vizlab.data.Dataset``); press Train and watch loss curves, gradient flow, activation
histograms and weight norms fill in while the model trains in the background.
"""

from __future__ import annotations

import copy
from typing import Any

import ipywidgets as W
from torch import nn

from vizlab.data import Dataset
from vizlab.plots import Dashboard
from vizlab.plots.dashboard import view_kinds
from vizlab.probes import watch
from vizlab.train import Run, fit
from widgets.base import Panel, cached_dataset

__all__ = ["LivePanel"]


class LivePanel(Panel):
    """Train ``model`` on ``data`` with ``vizlab.fit`` and a ``watch``, drawn live.

    Every Train starts again from the weights the model had when the panel was made, so
    moving a slider compares settings instead of piling runs on top of each other.

    Args:
        model: the learner's model; watched on its default layers (or ``layers=``).
        data: a dataset name (``"digits"``, ``"shapes"``, ...) or a ``Dataset``.
        views: four dashboard views (see ``vizlab.plots.Dashboard``).
        epochs, lr, batch_size, optimizer: the starting values of the controls.
        every, min_interval: the watch samples a step when ``every`` says it is due and at
            least ``min_interval`` seconds have passed since the last sample (see
            ``vizlab.watch``). The panel redraws twice a second, so twenty samples a second
            are plenty: on a fast model (digits at batch 32 trains ~300 steps a second)
            this keeps the watch's cost to a few percent, where sampling every fifth step
            cost a sixth of the training time; a slow model still has every step recorded.
        **fit_kwargs: passed to ``fit`` unchanged (e.g. ``weight_decay=``, ``augment=``).
    """

    title = "Live training"
    figure_names = ("dashboard",)

    def __init__(
        self,
        model: nn.Module,
        data: str | Dataset = "digits",
        *,
        views: tuple[str, ...] = ("curves", "grad_flow", "activation_hist", "weight_norms"),
        epochs: int = 5,
        lr: float = 1e-3,
        batch_size: int = 64,
        optimizer: str = "adam",
        layers: Any = None,
        every: int = 1,
        min_interval: float | None = 0.05,
        device: str = "auto",
        seed: int = 0,
        refresh: float | None = None,
        **fit_kwargs: Any,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"LivePanel needs a torch nn.Module, got {type(model).__name__}")
        self.model = model
        self.data = data
        self.views = tuple(views)
        Dashboard(self.views)  # fail now, in the caller's cell, on an unknown view name
        self.layers, self.every, self.fit_kwargs = layers, every, fit_kwargs
        self.min_interval = min_interval
        self._defaults = dict(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer)
        self._initial = copy.deepcopy(model.state_dict())
        self.watch = None
        self.dashboard: Dashboard | None = None
        self._spare: Dashboard | None = None  # built and drawn while idle (see prepare)
        self._horizon: dict[str, int] = {}  # the run's length in steps and epochs
        super().__init__(device=device, seed=seed, refresh=refresh)

    def build_controls(self) -> dict[str, W.Widget]:
        d = self._defaults
        return {
            "epochs": W.IntSlider(
                value=d["epochs"], min=1, max=50, description="epochs", continuous_update=False
            ),
            "lr": W.FloatLogSlider(
                value=d["lr"], base=10, min=-5, max=0, description="lr", continuous_update=False
            ),
            "batch_size": W.Dropdown(
                options=[16, 32, 64, 128, 256, 512], value=d["batch_size"], description="batch"
            ),
            "optimizer": W.Dropdown(
                options=["adam", "adamw", "sgd"], value=d["optimizer"], description="optimizer"
            ),
        }

    def make_run(self) -> Run:
        data = self._dataset()
        self.model.load_state_dict(self._initial)
        # record only what the four views draw (a norms or dropout view adds its kind)
        kinds = view_kinds(self.views)
        self.watch = (
            watch(
                self.model,
                layers=self.layers,
                every=self.every,
                min_interval=self.min_interval,
                what=kinds,
            )
            if kinds
            else None
        )
        # a dashboard prepared while idle, or one built by the first render: either way off
        # the path of a restart
        self.dashboard, self._spare = self._spare, None
        c = self.controls
        self._horizon = self._run_length(data)
        if self.dashboard is not None:
            self.dashboard.set_horizon(**self._horizon)
        return Run(
            fit,
            self.model,
            data,
            epochs=c["epochs"].value,
            lr=c["lr"].value,
            batch_size=c["batch_size"].value,
            optimizer=c["optimizer"].value,
            device=self.device,
            seed=self.seed,
            watch=self.watch,
            **self.fit_kwargs,
        )

    def render(self) -> dict[str, bytes]:
        if self.dashboard is None:
            self.dashboard = self._new_dashboard(self._horizon)
        records = self.new_records(self.watch) if self.watch is not None else []
        self.dashboard.update(records, self.history_data())
        return {"dashboard": self.dashboard.png()}

    def prepare(self) -> None:
        """Build the next run's dashboard and draw it once while nothing trains: building
        and laying out the four views is the slowest drawing a run would otherwise do, and
        it would take the GIL from training (about 0.4 s on this CPU)."""
        if self._spare is None:
            spare = self._new_dashboard(self._run_length(self._dataset()))  # controls as now
            spare.png()  # lays out the figure and caches the static background
            self._spare = spare

    def _dataset(self) -> Dataset:
        return self.data if isinstance(self.data, Dataset) else cached_dataset(self.data)

    def _new_dashboard(self, horizon: dict[str, int]) -> Dashboard:
        dashboard = Dashboard(self.views)
        dashboard.set_horizon(**horizon)
        return dashboard

    def _run_length(self, data: Dataset) -> dict[str, int]:
        """Epochs and training steps the controls ask for (the dashboard's time axes)."""
        epochs, batch = self.controls["epochs"].value, self.controls["batch_size"].value
        return dict(epochs=epochs, steps=epochs * -(-len(data.train) // batch))

    @property
    def prepared(self) -> bool:
        """Whether the next run's dashboard is built and laid out already."""
        return self._spare is not None

    def reset_views(self) -> None:
        self.model.load_state_dict(self._initial)
        self.dashboard = None
