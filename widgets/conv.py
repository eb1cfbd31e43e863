"""Section A panels: convolution arithmetic and receptive fields, and the architecture zoo.

``ConvPanel`` (A-CH, A-1x1, A-POOL, A-RF): pick channels, kernel, stride, padding and
pooling; the kernel-shape, 1x1 and pooling diagrams and the receptive field of the deepest
unit redraw on every change, and Train fits a small net built from the same settings while
its feature maps and receptive field follow the live weights.

``ArchitecturePanel`` (A-ZOO, A-FILT, A-ACT): pick a family and an activation; the layer
table appears at once, and Train shows loss curves, gradient norm per layer, the first
layer's activation histogram, the first-layer filters and one image's feature maps while
the model trains.

Pictures of the live model are drawn from a *copy* of its weights (a fresh model of the same
build loaded with ``state_dict()``), so probing never touches the model being trained.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn

from vizlab import models, plots
from vizlab.data import Dataset
from vizlab.experiments.conv import computed_field, rf_geometry, zoo_model
from vizlab.models.blocks import ConvUnit
from vizlab.nn import Tap
from vizlab.plots import LiveActivationHist, LiveCurves, LiveGradFlow
from vizlab.plots.live import Renderer
from vizlab.plots.style import VAL, new_figure
from vizlab.probes import receptive_field, trace, watch
from vizlab.probes.select import is_leaf
from vizlab.train import Run, fit
from widgets.base import Panel, cached_dataset

__all__ = ["ConvPanel", "ArchitecturePanel", "conv_net"]

SLIDER = dict(continuous_update=False, style={"description_width": "initial"})


def _curves() -> tuple[list[LiveCurves], Renderer]:
    fig = new_figure(None, (10.0, 3.8))
    ax_loss, ax_acc = fig.subplots(1, 2)
    views = [LiveCurves(ax_loss, metric="loss"), LiveCurves(ax_acc, metric="acc")]
    return views, Renderer(fig, views)


def _copy_of(model: nn.Module, build: Callable[[], nn.Module]) -> nn.Module:
    """A fresh model of the same build holding the live model's current weights (on CPU)."""
    copy = build()
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    copy.load_state_dict(state)
    return copy.eval()


# ---- ConvPanel ----------------------------------------------------------------------------
def conv_net(
    shape: tuple[int, int, int],
    num_classes: int,
    *,
    kernel: int = 3,
    stride: int = 1,
    padding: int = 1,
    pool: str = "max",
    window: int = 2,
    pool_stride: int = 2,
    blocks: int = 2,
    width: int = 8,
) -> nn.Sequential:
    """``blocks`` x [conv(kernel, stride, padding), ReLU, pool(window, pool_stride)], global
    average pooling and a linear head; block ``i`` has ``width * 2**i`` channels.

    Raises:
        ValueError: when a setting shrinks the image below 1x1 (naming the block, the
            setting and the size it reached) or a pooling window of 0.

    Shape:
        - Input: ``(B, C, H, W)`` with ``(C, H, W) = shape``; output ``(B, num_classes)``.
    """
    c, h, w = shape
    side = min(h, w)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i in range(blocks):
        after = (side + 2 * padding - kernel) // stride + 1
        if after < 1:
            raise ValueError(
                f"block {i + 1}: a {kernel}x{kernel} kernel with padding {padding} does not fit "
                f"the {side}x{side} map (output side {after}); use a smaller kernel, more "
                f"padding or fewer blocks"
            )
        pooled = (after - window) // pool_stride + 1
        if pooled < 1:
            raise ValueError(
                f"block {i + 1}: pooling window {window} is larger than the {after}x{after} map "
                f"after the conv; use a smaller pooling window, stride or fewer blocks"
            )
        out = width * 2**i
        layers[f"conv{i + 1}"] = nn.Conv2d(c, out, kernel, stride=stride, padding=padding)
        layers[f"act{i + 1}"] = nn.ReLU()
        pool_cls = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
        layers[f"pool{i + 1}"] = pool_cls(window, pool_stride)
        c, side = out, pooled
    layers["gap"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["head"] = nn.Linear(c, num_classes)
    return nn.Sequential(layers)


class ConvPanel(Panel):
    """Convolution and pooling arithmetic, receptive fields, and a small net trained live.

    Controls: ``c_in``, ``c_out`` (the diagram's kernel ``c_out x c_in x k x k``),
    ``kernel``, ``stride``, ``padding`` (every conv of the net), ``pool`` (max / avg),
    ``window``, ``pool_stride``, ``blocks``, ``epochs``; ``image`` (test image shown, does
    not restart training).

    Figures: ``kernel`` (one output channel as the sum over input channels), ``conv1x1``,
    ``pooling`` (windows and pooled output), ``receptive_field`` (the nonzero input gradient
    of the deepest unit with the computed field outlined), ``feature_maps`` (of the chosen
    image, from the live weights), ``curves``.

    Attributes:
        info: the numbers behind the static pictures (kernel shape, parameters, pooled
            shape, computed receptive field and the gradient's extent).
    """

    title = "Convolution, pooling and receptive fields (A-CH, A-1x1, A-POOL, A-RF)"
    figure_names = ("kernel", "conv1x1", "pooling", "receptive_field", "feature_maps", "curves")
    restart_on = (
        "kernel",
        "stride",
        "padding",
        "pool",
        "window",
        "pool_stride",
        "blocks",
        "epochs",
    )

    def __init__(
        self,
        *,
        data: str | Dataset = "shapes",
        n: int | None = 2000,
        c_in: int = 3,
        c_out: int = 4,
        kernel: int = 3,
        stride: int = 1,
        padding: int = 1,
        pool: str = "max",
        window: int = 2,
        pool_stride: int = 2,
        blocks: int = 2,
        epochs: int = 3,
        lr: float = 2e-3,
        device: str = "auto",
        seed: int = 0,
        refresh: float | None = None,
    ) -> None:
        self.data = data if isinstance(data, Dataset) else cached_dataset(data, n=n)
        self.lr = lr
        self._defaults = dict(c_in=c_in, c_out=c_out, kernel=kernel, stride=stride)
        self._defaults |= dict(padding=padding, pool=pool, window=window)
        self._defaults |= dict(pool_stride=pool_stride, blocks=blocks, epochs=epochs)
        self.model: nn.Module | None = None
        self.trained: dict = {}  # the settings self.model was built with
        self.info: dict = {}
        self.curves, self.curves_renderer = _curves()
        super().__init__(device=device, seed=seed, refresh=refresh)

    def build_controls(self) -> dict[str, W.Widget]:
        d = self._defaults

        def islider(name: str, lo: int, hi: int, label: str) -> W.IntSlider:
            return W.IntSlider(value=d[name], min=lo, max=hi, description=label, **SLIDER)

        return {
            "c_in": islider("c_in", 1, 4, "C_in"),
            "c_out": islider("c_out", 1, 8, "C_out"),
            "kernel": islider("kernel", 1, 7, "kernel"),
            "stride": islider("stride", 1, 3, "stride"),
            "padding": islider("padding", 0, 3, "padding"),
            "pool": W.Dropdown(options=["max", "avg"], value=d["pool"], description="pool"),
            "window": islider("window", 1, 4, "pool window"),
            "pool_stride": islider("pool_stride", 1, 4, "pool stride"),
            "blocks": islider("blocks", 1, 4, "blocks"),
            "epochs": islider("epochs", 1, 20, "epochs"),
            "image": W.IntSlider(
                value=0, min=0, max=len(self.data.test) - 1, description="test image", **SLIDER
            ),
        }

    def _values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def _settings(self) -> dict:
        """The control values that define the net (not the diagram's C_in / C_out)."""
        keys = ("kernel", "stride", "padding", "pool", "window", "pool_stride", "blocks")
        return {k: self.controls[k].value for k in keys}

    def _build(self, settings: dict | None = None) -> nn.Sequential:
        settings = self._settings() if settings is None else settings
        return conv_net(self.data.shape, self.data.num_classes, **settings)

    def make_run(self) -> Run:
        torch.manual_seed(self.seed)
        self.trained = self._settings()
        self.model = self._build(self.trained)
        self.curves, self.curves_renderer = _curves()
        return Run(
            fit,
            self.model,
            self.data,
            epochs=self.controls["epochs"].value,
            batch_size=64,
            lr=self.lr,
            device=self.device,
            seed=self.seed,
        )

    # ---- pictures ------------------------------------------------------------------------
    def static(self) -> dict[str, Figure]:
        c = self._values()
        gen = torch.Generator().manual_seed(self.seed)
        k, c_in, c_out = c["kernel"], c["c_in"], c["c_out"]
        conv = nn.Conv2d(c_in, c_out, k)
        side = max(5, k + 2)
        x = torch.randint(0, 4, (c_in, side, side), generator=gen).double()
        weight = (conv.weight.detach().double() * 4).round() / 4  # readable numbers
        kernel_fig = plots.conv_channels(x.numpy(), weight[0].numpy())
        params = sum(p.numel() for p in conv.parameters())
        kernel_fig.suptitle(
            f"kernel {c_out} x {c_in} x {k} x {k}: {c_out * c_in * k * k} weights + {c_out} "
            f"biases = {params} parameters; output channel 0 shown"
        )
        w1 = torch.randint(-2, 3, (c_out, c_in), generator=gen).double()
        one = plots.conv1x1(x[:, :4, :4].numpy(), w1.numpy(), pixel=(1, 1))
        pool_in = torch.randint(0, 10, (8, 8), generator=gen).double().numpy()
        if c["window"] > 8:
            raise ValueError(f"pool window {c['window']} is larger than the 8x8 example")
        pooling = plots.pooling_windows(
            pool_in, window=c["window"], stride=c["pool_stride"], mode=c["pool"]
        )
        self.info = {
            "weight_shape": tuple(conv.weight.shape),
            "params": params,
            "pool_out": tuple(
                plots.pool2d(pool_in, c["window"], c["pool_stride"], c["pool"]).shape
            ),
        }
        out = {"kernel": kernel_fig, "conv1x1": one, "pooling": pooling}
        if not self.alive:
            trained = self.model is not None and self.trained == self._settings()
            torch.manual_seed(self.seed)
            model = self._snapshot() if trained else self._build()  # untrained for new settings
            out["receptive_field"] = self._rf_figure(model)
            if trained:
                out["feature_maps"] = self._maps_figure(model)
        return out

    def _snapshot(self) -> nn.Module:
        return _copy_of(self.model, lambda: self._build(self.trained))

    def _image(self) -> torch.Tensor:
        i = self.controls["image"].value
        return self.data.test.x[i : i + 1].cpu()  # (1, C, H, W)

    def _rf_figure(self, model: nn.Module) -> Figure:
        x = self._image()
        last = [n for n, m in model.named_children() if n.startswith("pool")][-1]
        heat = receptive_field(model, x, layers=[last])[last]  # (H, W)
        size = x.shape[-1]
        rf, jump, (lo, hi) = computed_field(rf_geometry(model, last), size)
        rows = torch.nonzero(heat.sum(1) > 0).flatten()
        cols = torch.nonzero(heat.sum(0) > 0).flatten()
        grad_box = [int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])] if len(rows) else None
        self.info |= {"rf": rf, "jump": jump, "computed_box": (lo, hi), "gradient_box": grad_box}
        fig = plots.receptive_field(x[0].numpy(), heat.numpy())
        ax = fig.axes[0]
        ax.add_patch(
            Rectangle((lo - 0.5, lo - 0.5), hi - lo + 1, hi - lo + 1, fill=False, ec=VAL, lw=2)
        )
        ax.set_title(f"{last}: computed field {rf}x{rf} (outlined), nonzero gradient (overlay)")
        return fig

    def _maps_figure(self, model: nn.Module) -> Figure:
        names = [n for n, _ in model.named_children() if n.startswith(("act", "pool"))]
        t = trace(model, self._image(), layers=names, rf=False)
        return plots.feature_maps({n: t.activations[n][0].numpy() for n in names})

    def reset_views(self) -> None:
        self.model = None
        self.curves, self.curves_renderer = _curves()

    def render(self) -> dict[str, bytes | Figure]:
        out: dict[str, bytes | Figure] = {}
        snap = self.history_data()
        if snap is not None:
            for view in self.curves:
                view.update(snap)
            out["curves"] = self.curves_renderer.png()
        if self.model is not None:
            model = self._snapshot()
            out["receptive_field"] = self._rf_figure(model)
            out["feature_maps"] = self._maps_figure(model)
        return out


# ---- ArchitecturePanel --------------------------------------------------------------------
ACTIVATION_CHOICES = ("family default", "relu", "sigmoid", "tanh", "gelu")
_ACTS = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU)


class ArchitecturePanel(Panel):
    """Any family of ``vizlab.models``: its layer table, then training seen from inside.

    Controls: ``family``, ``activation`` (or the family's default), ``size`` (``small``:
    the quick sizes of the ``zoo`` experiment, fast on a CPU; ``default``: the family's own),
    ``blocks`` (VGG and DenseNet only), ``epochs``, ``lr``; ``image`` (test image for the
    feature maps, does not restart training).

    Figures: ``summary`` (layer table, measured by a forward pass), ``curves``,
    ``grad_flow`` (gradient norm of every conv/linear output over steps, log scale),
    ``activations`` (histogram over steps of the first activation: sigmoid saturates),
    ``filters`` (first conv's kernels; an MLP's first layer shown as images) and
    ``feature_maps`` (the chosen image at up to five layers).

    Attributes:
        model: the model being trained; ``watch``: its probe; ``rows``: its summary rows;
        ``shown_filters``: the array last drawn as filters.
    """

    title = "Architectures: layer table, filters, feature maps, gradients (A-ZOO, A-FILT, A-ACT)"
    figure_names = ("summary", "curves", "grad_flow", "activations", "filters", "feature_maps")
    restart_on = ("family", "activation", "size", "blocks", "epochs", "lr")

    def __init__(
        self,
        *,
        data: str | Dataset = "digits",
        n: int | None = None,
        family: str = "vgg",
        activation: str = "family default",
        size: str = "small",
        blocks: int = 2,
        epochs: int = 3,
        lr: float = 3e-3,
        every: int = 2,
        device: str = "auto",
        seed: int = 0,
        refresh: float | None = None,
    ) -> None:
        self.data = data if isinstance(data, Dataset) else cached_dataset(data, n=n)
        self.every = every
        self._defaults = dict(family=family, activation=activation, size=size, blocks=blocks)
        self._defaults |= dict(epochs=epochs, lr=lr)
        self.model: nn.Module | None = None
        self.trained: dict = {}  # the settings self.model was built with
        self.watch = None
        self.rows: list = []
        self.shown_filters: np.ndarray | None = None
        self._views()
        super().__init__(device=device, seed=seed, refresh=refresh)

    def build_controls(self) -> dict[str, W.Widget]:
        d = self._defaults
        return {
            "family": W.Dropdown(options=list(models.FAMILIES), value=d["family"]),
            "activation": W.Dropdown(
                options=ACTIVATION_CHOICES, value=d["activation"], description="activation"
            ),
            "size": W.Dropdown(options=["small", "default"], value=d["size"], description="size"),
            "blocks": W.IntSlider(
                value=d["blocks"], min=1, max=6, description="blocks (vgg, densenet)", **SLIDER
            ),
            "epochs": W.IntSlider(value=d["epochs"], min=1, max=30, description="epochs", **SLIDER),
            "lr": W.FloatLogSlider(
                value=d["lr"], base=10, min=-5, max=-1, description="lr", **SLIDER
            ),
            "image": W.IntSlider(
                value=0, min=0, max=len(self.data.test) - 1, description="test image", **SLIDER
            ),
        }

    def _settings(self) -> dict:
        """The control values that define the model."""
        return {k: self.controls[k].value for k in ("family", "activation", "size", "blocks")}

    def _build(self, settings: dict | None = None) -> nn.Module:
        c = self._settings() if settings is None else settings
        act = None if c["activation"] == "family default" else c["activation"]
        model = zoo_model(
            c["family"], self.data.shape, self.data.num_classes, small=c["size"] == "small",
            activation=act,
        )  # fmt: skip
        if c["family"] in ("vgg", "densenet"):  # rebuild with the chosen number of blocks
            ch, h, w = self.data.shape
            kwargs = dict(in_channels=ch, num_classes=self.data.num_classes, input_size=(h, w))
            if act is not None:
                kwargs["activation"] = act
            if c["size"] == "small":
                small = {"vgg": dict(convs=1, width=16), "densenet": dict(layers=2, growth=8)}
                kwargs |= small[c["family"]]
            model = models.build(c["family"], blocks=c["blocks"], **kwargs)
        return model

    def _views(self, first_act: str | None = None) -> None:
        self.curves, self.curves_renderer = _curves()
        self.grad_view = LiveGradFlow(figsize=(8.0, 4.5))
        self.first_act = first_act
        self.act_view = LiveActivationHist(layer=first_act, figsize=(8.0, 4.0))

    def make_run(self) -> Run:
        torch.manual_seed(self.seed)
        self.trained = self._settings()
        self.model = self._build(self.trained)
        first_act = next((n for n, m in self.model.named_modules() if isinstance(m, _ACTS)), None)
        layers: list = [nn.Conv2d, nn.Linear] + ([first_act] if first_act else [])
        self.watch = watch(
            self.model, layers=layers, every=self.every, what=("activations", "gradients"),
            bins=30,
        )  # fmt: skip
        self._views(first_act)
        return Run(
            fit,
            self.model,
            self.data,
            epochs=self.controls["epochs"].value,
            batch_size=32,
            lr=self.controls["lr"].value,
            device=self.device,
            seed=self.seed,
            watch=self.watch,
        )

    # ---- pictures ------------------------------------------------------------------------
    def static(self) -> dict[str, Figure]:
        torch.manual_seed(self.seed)
        model = self._build()
        c, h, w = self.data.shape
        self.rows = models.summary(model, (c, h, w))
        leaves = {n for n, m in model.named_modules() if is_leaf(m) and not isinstance(m, Tap)}
        shown = [r for r in self.rows if r.name in leaves]
        family = self.controls["family"].value
        total = sum(r.params for r in self.rows)
        out: dict[str, Figure] = {
            "summary": plots.summary_table(
                [(r.name, r.type, r.output_shape, r.params) for r in shown],
                title=f"{family}: {total:,} parameters",
            )
        }
        if self.model is not None and not self.alive and self.trained == self._settings():
            out |= self._model_pictures()
        return out

    def _model_pictures(self) -> dict[str, Figure]:
        model = _copy_of(self.model, lambda: self._build(self.trained))
        first = next((m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))), None)
        weight = first.weight.detach().numpy() if first is not None else None
        if isinstance(first, nn.Linear):  # an MLP: each hidden unit's weights as an image
            weight = weight.reshape(weight.shape[0], *self.data.shape)
        out: dict[str, Figure] = {}
        if weight is not None:
            self.shown_filters = weight
            out["filters"] = plots.filters(weight, max_filters=32)
        i = self.controls["image"].value
        x = self.data.test.x[i : i + 1].cpu()
        units = [n for n, m in model.named_modules() if isinstance(m, ConvUnit)]
        if len(units) > 5:
            units = [units[round(j)] for j in np.linspace(0, len(units) - 1, 5)]
        maps = {}
        if units:
            t = trace(model, x, layers=units, rf=False)
            maps = {n: a[0].numpy() for n, a in t.activations.items() if a.dim() == 4}
        fig = plots.feature_maps(maps)
        if not maps:
            fig.axes[0].set_title(f"no feature maps: {self.trained['family']} has no convs")
        out["feature_maps"] = fig
        return out

    def reset_views(self) -> None:
        self.model = self.watch = None
        self._views()

    def render(self) -> dict[str, bytes | Figure]:
        out: dict[str, bytes | Figure] = {}
        snap = self.history_data()
        if snap is not None:
            for view in self.curves:
                view.update(snap)
            out["curves"] = self.curves_renderer.png()
        if self.watch is not None:
            records = self.new_records(self.watch)
            self.grad_view.update(records)
            out["grad_flow"] = self.grad_view.png()
            if self.first_act is not None:
                self.act_view.update(records)
                out["activations"] = self.act_view.png()
        if self.model is not None:
            out |= self._model_pictures()
        return out
