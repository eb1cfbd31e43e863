"""``ResidualPanel``: a plain net and its residual twin trained side by side; lesions.

Curriculum section H. Pick a depth (``6n + 2`` layers), a norm and whether each branch's last
gamma starts at zero, press Train: the residual net and its plain twin (same convs, no skips)
train in lockstep on the same batches, and the panel shows both training losses per step and
both validation accuracies per epoch (H-DEGRADE), and the skip vs branch part of the gradient
at each residual block's input as recorded during training (H-GRAD). The block diagram shows
each block's input and output shapes and where the skip needs a 1x1 projection (H-BLOCK).
The Lesion button deletes each block in turn from the trained nets and shows the real test
accuracy (H-ENSEMBLE).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from vizlab.experiments.residual import Twin, blocks_of, lesion_accuracies
from vizlab.models import resnet
from vizlab.nn import Residual
from vizlab.plots import LiveResidualSplit, LiveView, path_lengths
from vizlab.plots._data import thin
from vizlab.plots.live import Renderer
from vizlab.plots.style import MARK, PALETTE, new_figure, style, styled
from vizlab.probes import watch
from vizlab.train import Run, evaluate, fit
from widgets.base import Panel, cached_dataset

__all__ = ["ResidualPanel", "LiveTwin"]

DEPTHS = (8, 14, 20, 26, 32, 44, 56)
KINDS = ("residual", "plain")  # colours as in the lesion figure


class LiveTwin(LiveView):
    """One line per model (plain, residual) of one quantity, updated in place."""

    def __init__(
        self, ax=None, *, xlabel: str, ylabel: str, marker: str = "", ylim=None, figsize=None
    ):
        super().__init__(ax, figsize=figsize)
        self.fixed_y = ylim is not None
        with style():
            self.lines = {
                kind: self.ax.plot([], [], color=PALETTE[i], marker=marker, label=kind)[0]
                for i, kind in enumerate(KINDS)
            }
            self.ax.set_xlabel(xlabel)
            self.ax.set_ylabel(ylabel)
            self.ax.legend(loc="best")
            if ylim is not None:
                self.ax.set_ylim(*ylim)
        for line in self.lines.values():
            self.moving(line)

    def update(self, series: dict[str, tuple[Any, Any]]) -> None:
        """``series``: ``{kind: (x, y)}``, everything so far (not only what is new)."""
        for kind, (x, y) in series.items():
            n = min(len(x), len(y))
            x, y = np.asarray(x[:n], dtype=float), np.asarray(y[:n], dtype=float)
            if not n:
                continue
            self.lines[kind].set_data(*thin(x, y, 600))
            self.grow_limits("x", [0.0, x[-1]], time=True)
            if not self.fixed_y and np.isfinite(y).any():
                self.grow_limits("y", y[np.isfinite(y)])
        self.touch()


class ResidualPanel(Panel):
    """Train a ResNet and its plain twin side by side; watch the gradient split; lesion.

    Controls: ``depth`` (layers, ``6n + 2``), ``norm`` (``"batch"`` or ``"none"``),
    ``zero_init`` (last gamma of each branch starts at 0; needs a norm), ``epochs``, ``lr``.
    The Lesion button (``panel.lesion()``) stops any run and evaluates the trained nets
    with each block deleted in turn.

    Figures: ``loss`` (training loss per step and validation accuracy per epoch of both
    nets), ``split`` (skip vs branch gradient norm per residual block, newest step),
    ``blocks`` (shapes per block and where the skip has a projection; no training needed)
    and ``lesion`` (after the button: path lengths and accuracy per deleted block).

    Attributes:
        model, plain: the residual net and its plain twin of the current run.
        twin: the ``Twin`` callback training the plain net (``twin.history``).
        watch: the watch on the residual net's blocks (``watch.records()``).
        lesion_result: the latest lesion numbers (``None`` before the button).

    Args:
        data: an embedded dataset name.
        depth, norm, zero_init, epochs, lr: starting values of the controls.
        every: the watch records the gradient split every this many steps.
    """

    title = "Residual connections: plain vs residual, gradient split, lesions (section H)"
    figure_names = ("loss", "split", "blocks", "lesion")

    def __init__(
        self,
        *,
        data: str = "digits",
        depth: int = 20,
        norm: str = "batch",
        zero_init: bool = False,
        epochs: int = 5,
        lr: float = 1e-3,
        every: int = 2,
        width: int = 8,
        device: str = "auto",
        seed: int = 0,
        refresh: float | None = None,
    ) -> None:
        self.data = cached_dataset(data)
        self.every, self.width = every, width
        self._defaults = dict(depth=depth, norm=norm, zero_init=zero_init, epochs=epochs, lr=lr)
        self.model: torch.nn.Module | None = None
        self.plain: torch.nn.Module | None = None
        self.twin: Twin | None = None
        self.watch = None
        self.lesion_result: dict[str, Any] | None = None
        self._blocks_cache: dict[tuple, Figure] = {}
        self._views()
        super().__init__(device=device, seed=seed, refresh=refresh)
        self.lesion_button = self.add_button(W.Button(description="Lesion", icon="scissors"))
        self.lesion_button.on_click(lambda _: self.lesion())

    # ---- controls and run ----------------------------------------------------------------
    def build_controls(self) -> dict[str, W.Widget]:
        d = self._defaults
        slider = dict(continuous_update=False, style={"description_width": "initial"})
        return {
            "depth": W.SelectionSlider(
                options=DEPTHS, value=d["depth"], description="depth (layers)", **slider
            ),
            "norm": W.Dropdown(options=("batch", "none"), value=d["norm"], description="norm"),
            "zero_init": W.Checkbox(value=d["zero_init"], description="zero-init gamma"),
            "epochs": W.IntSlider(value=d["epochs"], min=1, max=30, description="epochs", **slider),
            "lr": W.FloatLogSlider(
                value=d["lr"], base=10, min=-4, max=-1, step=0.25, description="lr", **slider
            ),
        }

    def _settings(self) -> dict[str, Any]:
        c = {name: control.value for name, control in self.controls.items()}
        c["norm"] = None if c["norm"] == "none" else c["norm"]
        if c["zero_init"] and c["norm"] is None:
            raise ValueError(
                "zero-init gamma sets the scale of each branch's last norm to zero, but norm is "
                "'none': choose norm = batch, or untick zero-init gamma"
            )
        return c

    def _net(self, c: dict[str, Any], *, residual: bool) -> torch.nn.Module:
        channels, height, width = self.data.shape
        return resnet(
            c["depth"], residual=residual, norm=c["norm"], zero_init=c["zero_init"],
            width=self.width, in_channels=channels, input_size=(height, width),
            num_classes=self.data.num_classes,
        )  # fmt: skip

    def make_run(self) -> Run:
        c = self._settings()
        torch.manual_seed(self.seed)
        self.model = self._net(c, residual=True)
        torch.manual_seed(self.seed)
        self.plain = self._net(c, residual=False)
        self.twin = Twin(self.plain, lr=c["lr"], batch_size=64, seed=self.seed)
        self.watch = watch(self.model, layers=Residual, what=("gradients",), every=self.every)
        self.lesion_result = None
        self._views()
        return Run(
            fit, self.model, self.data, epochs=c["epochs"], batch_size=64, lr=c["lr"],
            optimizer="adam", device=self.device, seed=self.seed, watch=self.watch,
            callbacks=[self.twin],
        )  # fmt: skip

    # ---- lesion ----------------------------------------------------------------------------
    def lesion(self) -> dict[str, Any] | None:
        """Delete each block in turn from both trained nets and evaluate the test split.

        Stops a run that is still training (its weights so far are the ones lesioned).
        Returns ``{"lesion": {kind: accs}, "baseline": {kind: acc}, "blocks": names}``, or
        ``None`` (with the reason in the error box) when nothing was trained yet.
        """
        if self.run is None or self.model is None or self.plain is None:
            self.show_error("Train first: the lesion study deletes blocks of a trained net.")
            return None
        self.stop()
        self.run.join(10.0)
        with self._lock:
            lesions, baseline = {}, {}
            for kind, model in (("residual", self.model), ("plain", self.plain)):
                device = next(model.parameters()).device
                test = self.data.test.to(device)
                baseline[kind] = evaluate(model, test)[1]
                lesions[kind] = lesion_accuracies(model, test)
            names = [n for n, _ in blocks_of(self.model)]
            self.lesion_result = {"lesion": lesions, "baseline": baseline, "blocks": names}
            fig = path_lengths(len(names), lesions, baseline=baseline)
            fig.axes[1].set_title(f"trained {len(names)}-block nets, one block deleted")
            self.clear_error()
            self.publish({"lesion": fig})
        return self.lesion_result

    # ---- pictures --------------------------------------------------------------------------
    def _views(self) -> None:
        fig = new_figure(None, (12.0, 4.2))
        ax_loss, ax_acc = fig.subplots(1, 2)
        self.loss_view = LiveTwin(ax_loss, xlabel="step", ylabel="training loss")
        self.acc_view = LiveTwin(
            ax_acc, xlabel="epoch", ylabel="validation accuracy", marker="o", ylim=(0.0, 1.02)
        )
        self.loss_renderer = Renderer(fig, [self.loss_view, self.acc_view])
        self.split_view = LiveResidualSplit(figsize=(7.0, 4.2))

    def reset_views(self) -> None:
        self.model = self.plain = self.twin = self.watch = None
        self.lesion_result = None
        self._views()

    def render(self) -> dict[str, bytes | Figure]:
        out: dict[str, bytes | Figure] = {}
        history = self.run.history if self.run is not None else None
        if history is not None and self.twin is not None:
            snaps = {"residual": history.snapshot(), "plain": self.twin.history.snapshot()}
            self.loss_view.update({k: (s["steps"], s["loss"]) for k, s in snaps.items()})
            self.acc_view.update({k: (s["epochs"], s["val_acc"]) for k, s in snaps.items()})
            out["loss"] = self.loss_renderer.png()
        if self.watch is not None:
            self.split_view.update(self.new_records(self.watch))
            out["split"] = self.split_view.png()
        return out

    def static(self) -> dict[str, Figure]:
        try:
            c = self._settings()
        except ValueError:
            c = {name: control.value for name, control in self.controls.items()}
            c["norm"], c["zero_init"] = None, False  # shapes do not depend on the norm
        key = (c["depth"], self.width)
        if key not in self._blocks_cache:
            self._blocks_cache[key] = _blocks_figure(self._net(c, residual=True), self.data)
        return {"blocks": self._blocks_cache[key]}


@styled
def _blocks_figure(model: torch.nn.Module, data) -> Figure:
    """Each residual block's output channels and spatial size; projections highlighted."""
    shapes: dict[str, tuple[list[int], list[int]]] = {}
    blocks = blocks_of(model)
    handles = [
        block.register_forward_hook(
            lambda m, args, out, name=name: shapes.__setitem__(
                name, (list(args[0].shape[1:]), list(out.shape[1:]))
            )
        )
        for name, block in blocks
    ]
    try:
        with torch.no_grad():
            model.eval()(data.train.x[:1])
    finally:
        for h in handles:
            h.remove()
    fig = new_figure(None, (max(6.0, 0.55 * len(blocks) + 2.0), 4.2))
    ax = fig.add_subplot()
    for i, (name, block) in enumerate(blocks):
        (c_in, h_in, _), (c_out, h_out, w_out) = shapes[name]
        color = PALETTE[3] if block.projection else PALETTE[0]
        ax.bar(i, c_out, color=color, width=0.8)
        ax.text(i, c_out, f"{h_out}x{w_out}", ha="center", va="bottom", fontsize=9)
    handles = [
        Patch(color=PALETTE[0], label="identity skip (same shape)"),
        Patch(color=PALETTE[3], label="1x1 projection (channels or stride change)"),
    ]
    ax.set_xticks(range(len(blocks)), [str(i) for i in range(len(blocks))])
    ax.set_xlabel("block (label: output H x W)")
    ax.set_ylabel("output channels")
    ax.axhline(0, color=MARK, linewidth=0.8)
    ax.set_title(
        f"{len(blocks)} residual blocks, {sum(b.projection for _, b in blocks)} projections"
    )
    ax.legend(handles=handles, loc="upper left", fontsize="small")
    return fig
