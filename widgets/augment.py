"""``AugmentPanel``: every augmentation on real images, and what it does to training (D-*).

Pick an op and its magnitude (RandAugment's N and M, MixUp/CutMix's alpha), flip between
train and eval mode, press Resample for a fresh draw: the gallery shows a batch of shapes
before and after with what was drawn for each example, and the label view shows the soft
label an example trains on (MixUp and CutMix mix it; image-only ops leave it one-hot).
Train runs the same small CNN on a small shapes subset twice, without and with augmentation,
and draws both runs' train and validation accuracy live, with the gap between them.
"""

from __future__ import annotations

import textwrap
from typing import Any

import ipywidgets as W
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from vizlab.augment import (
    Brightness,
    Color,
    Compose,
    Contrast,
    Crop,
    CutMix,
    Cutout,
    Flip,
    MixUp,
    RandAugment,
    Rotate,
    Shear,
    Translate,
)
from vizlab.data.dataset import Dataset
from vizlab.experiments.augmentation import gallery_images
from vizlab.experiments.phenomena import EpochEval
from vizlab.models import vgg
from vizlab.plots import LiveCurves, augment_gallery, mix_labels
from vizlab.plots.live import Renderer
from vizlab.plots.style import MARK, PALETTE, new_figure, style
from vizlab.train import Run, fit
from widgets.base import Panel, cached_dataset

__all__ = ["AugmentPanel", "make_op", "OP_NAMES"]

OP_NAMES = (
    "flip", "crop", "translate", "shear", "rotate", "brightness", "contrast", "color",
    "cutout", "randaugment", "mixup", "cutmix",
)  # fmt: skip
VAL_SIZE = 400


def make_op(name: str, magnitude: float, *, n: int = 2, m: float = 9, alpha: float = 1.0,
            num_classes: int = 10) -> torch.nn.Module:  # fmt: skip
    """The op ``name`` at ``magnitude`` in [0, 1] (its own units are in the comments)."""
    if not 0.0 <= magnitude <= 1.0:
        raise ValueError(f"magnitude must lie in [0, 1], got {magnitude!r}")
    builders = {
        "flip": lambda: Flip(magnitude),  # probability of mirroring
        "crop": lambda: Crop(round(8 * magnitude)),  # padding up to 8 px
        "translate": lambda: Translate(0.25 * magnitude),  # up to a quarter of the size
        "shear": lambda: Shear(0.5 * magnitude),
        "rotate": lambda: Rotate(45 * magnitude),  # degrees
        "brightness": lambda: Brightness(magnitude),  # factor in [1 - s, 1 + s]
        "contrast": lambda: Contrast(magnitude),
        "color": lambda: Color(magnitude, 0.25 * magnitude),
        "cutout": lambda: Cutout(magnitude),  # side as a fraction of the image
        "randaugment": lambda: RandAugment(n, m),
        "mixup": lambda: MixUp(alpha, num_classes=num_classes),
        "cutmix": lambda: CutMix(alpha, num_classes=num_classes),
    }
    if name not in builders:
        raise ValueError(f"unknown augmentation {name!r}; choose one of {', '.join(OP_NAMES)}")
    return builders[name]()


def train_with_and_without(
    data: Dataset,
    augment: torch.nn.Module,
    *,
    probes: dict[str, EpochEval],
    epochs: int,
    width: int = 16,
    lr: float = 3e-3,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Any = (),
):
    """Train the same CNN twice, without then with ``augment``; returns the last History.

    ``probes["none"]`` and ``probes["augmented"]`` receive the per-epoch evaluations.
    """
    c, h, _ = data.shape
    history = None
    for name, aug in (("none", None), ("augmented", augment)):
        torch.manual_seed(seed)
        model = vgg(3, 1, width, norm="batch", in_channels=c, num_classes=data.num_classes,
                    input_size=h)  # fmt: skip
        history = fit(
            model, data, epochs=epochs, batch_size=32, lr=lr, augment=aug, device=device,
            seed=seed, callbacks=[probes[name], *callbacks], stop=stop,
        )  # fmt: skip
        if history.stopped or (stop is not None and stop.is_set()):
            break
    return history


class AugmentPanel(Panel):
    """Augmentation ops on a batch of shapes, and training with vs without augmentation.

    Controls: ``op``, ``magnitude`` (0..1, see ``make_op``), ``n`` and ``m`` (RandAugment),
    ``alpha`` (MixUp/CutMix Beta parameter), ``mode`` (train / eval: augmentation is a
    layer that is the identity in eval mode), ``sample`` (which random draw; the Resample
    button moves it on), and for training ``train_aug`` (``"flip+crop"`` or the selected
    ``"op"``), ``train_size`` and ``epochs``.

    Figures: ``gallery`` and ``labels`` (static: redrawn on every control change),
    ``curves`` (train and validation accuracy of both runs, live) and ``gap`` (train minus
    validation accuracy per epoch, both runs).

    Attributes:
        op: the op module of the current gallery; ``params``: what it drew.
        probes: ``{"none"|"augmented": EpochEval}`` of the current training.
    """

    title = "Data augmentation (D-AUG, D-MIX, D-CUT, D-RA, D-LAYER, D-EFFECT)"
    figure_names = ("gallery", "labels", "curves", "gap")
    restart_on = ("train_aug", "train_size", "epochs")

    def __init__(
        self,
        *,
        op: str = "crop",
        train_aug: str = "flip+crop",
        train_size: int = 300,
        epochs: int = 20,
        count: int = 6,
        device: str = "auto",
        seed: int = 0,
        refresh: float | None = None,
    ) -> None:
        self.batch = gallery_images(seed, count)
        self.num_classes = len(self.batch["classes"])
        self._defaults = dict(op=op, train_aug=train_aug, train_size=train_size, epochs=epochs)
        self.op: torch.nn.Module | None = None
        self.params: Any = None
        self.probes: dict[str, EpochEval] = {}
        self._views()
        self.resample_button = W.Button(description="Resample", icon="random")
        super().__init__(device=device, seed=seed, refresh=refresh)
        self.resample_button.on_click(lambda _: self.resample())
        row = self.children[1]
        row.children = (*row.children, self.resample_button)

    # ---- controls ------------------------------------------------------------------------
    def build_controls(self) -> dict[str, W.Widget]:
        d = self._defaults
        slider = dict(continuous_update=False, style={"description_width": "initial"})
        return {
            "op": W.Dropdown(options=OP_NAMES, value=d["op"], description="op"),
            "magnitude": W.FloatSlider(
                value=0.5, min=0.0, max=1.0, step=0.05, description="magnitude", **slider
            ),
            "n": W.IntSlider(value=2, min=0, max=5, description="RandAugment N", **slider),
            "m": W.IntSlider(value=9, min=0, max=30, description="M", **slider),
            "alpha": W.FloatLogSlider(
                value=1.0, base=10, min=-1, max=1, description="mix alpha", **slider
            ),
            "mode": W.ToggleButtons(options=("train", "eval"), value="train", description="mode"),
            "sample": W.IntSlider(value=0, min=0, max=999, description="draw #", **slider),
            "train_aug": W.Dropdown(
                options=("flip+crop", "op"), value=d["train_aug"], description="train with"
            ),
            "train_size": W.IntSlider(
                value=d["train_size"],
                min=50,
                max=2000,
                step=50,
                description="train images",
                **slider,
            ),  # fmt: skip
            "epochs": W.IntSlider(value=d["epochs"], min=1, max=60, description="epochs", **slider),
        }

    def resample(self) -> None:
        """A fresh random draw for the gallery (the ``sample`` control moves on by one)."""
        s = self.controls["sample"]
        s.value = (s.value + 1) % (s.max + 1)

    def _op(self) -> torch.nn.Module:
        c = {name: control.value for name, control in self.controls.items()}
        return make_op(c["op"], c["magnitude"], n=c["n"], m=c["m"], alpha=c["alpha"],
                       num_classes=self.num_classes)  # fmt: skip

    # ---- static pictures: the gallery and the labels ------------------------------------------
    def static(self) -> dict[str, Figure]:
        op = self._op()
        op.train(self.controls["mode"].value == "train")
        x, y = self.batch["shapes"], self.batch["labels"]
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.controls["sample"].value)
        if getattr(op, "mixes_labels", False):
            out, soft = op(x, y, generator=g)
            soft = F.one_hot(soft, self.num_classes).float() if soft.ndim == 1 else soft
        else:
            out, soft = op(x, generator=g), F.one_hot(y, self.num_classes).float()
        self.op = op
        self.params = op.last_params if op.training else None
        if op.training:
            caps = [op.describe(op.last_params, i) or "unchanged" for i in range(len(x))]
            if isinstance(op, RandAugment):
                caps = [", ".join(op.last_params.op_names(i)) for i in range(len(x))]
        else:
            caps = ["eval: input returned" if out is x else "eval"] * len(x)
        caps = [textwrap.fill(c, 20) for c in caps]
        hwc = [v.permute(1, 2, 0).numpy() for v in x]
        gallery = augment_gallery(hwc, [v.permute(1, 2, 0).numpy() for v in out], caps)
        gallery.suptitle(f"{op!r} in {'train' if op.training else 'eval'} mode")
        i, box, title = 0, None, "one-hot label: image ops leave it alone"
        if getattr(op, "mixes_labels", False) and op.training:
            i = int((op.last_params.lam - 0.5).abs().argmin())  # the most even mix
            title = f"{op.name}: lam = {float(op.last_params.lam[i]):.2f}"
            if isinstance(op, CutMix):
                t, left, b, r = op.last_params.box[i].tolist()
                box = (left, t, r, b)
        labels = mix_labels(
            out[i].permute(1, 2, 0).numpy(), soft[i].numpy(), box=box,
            classes=self.batch["classes"], title=title,
        )  # fmt: skip
        return {"gallery": gallery, "labels": labels}

    # ---- training ------------------------------------------------------------------------
    def make_run(self) -> Run:
        c = {name: control.value for name, control in self.controls.items()}
        if c["train_aug"] == "op":
            augment = self._op()
            if c["op"] == "randaugment" and c["n"] == 0:
                raise ValueError(
                    "RandAugment N = 0 applies no op, so training 'with augmentation' would "
                    "be the same run twice; set RandAugment N to 1 or more"
                )
            if c["magnitude"] == 0 and c["op"] not in ("randaugment", "mixup", "cutmix"):
                raise ValueError(
                    f"magnitude 0 makes {c['op']} the identity; raise the magnitude to "
                    "compare training with and without it"
                )
        else:
            augment = Compose(Flip(), Crop(4))
        n = c["train_size"]
        data = cached_dataset("shapes", n=n + VAL_SIZE, val_fraction=VAL_SIZE / (n + VAL_SIZE),
                              seed=self.seed)  # fmt: skip
        self.augment_name = c["train_aug"] if c["train_aug"] != "op" else c["op"]
        self.probes = {
            "none": EpochEval(("train", "val")),
            "augmented": EpochEval(("train", "val")),
        }
        self._views()
        return Run(
            train_with_and_without, data, augment, probes=self.probes, epochs=c["epochs"],
            device=self.device, seed=self.seed,
        )  # fmt: skip

    def _views(self) -> None:
        fig = new_figure(None, (11.0, 4.0))
        axes = fig.subplots(1, 2, sharey=True)
        self.curves = [LiveCurves(ax, metric="acc") for ax in axes]
        with style():
            axes[0].set_title("without augmentation")
            axes[1].set_title("with augmentation")
        self.curves_renderer = Renderer(fig, self.curves)

    def reset_views(self) -> None:
        self.probes = {}
        self._views()

    def _rows(self, probe: EpochEval) -> dict[str, list]:
        tl, ta = list(probe.acc["train"]), list(probe.acc["val"])
        n = min(len(tl), len(ta))
        return {"epochs": list(range(1, n + 1)), "train_acc": tl[:n], "val_acc": ta[:n]}

    def render(self) -> dict[str, bytes | Figure]:
        if not self.probes:
            return {}
        rows = {name: self._rows(p) for name, p in self.probes.items()}
        for view, name in zip(self.curves, ("none", "augmented")):
            view.update(rows[name])
        with style():
            fig = new_figure(None, (6.0, 4.0))
            ax = fig.add_subplot()
            for i, (name, r) in enumerate(rows.items()):
                gap = np.subtract(r["train_acc"], r["val_acc"])
                label = "no augmentation" if name == "none" else self.augment_name
                ax.plot(r["epochs"], gap, color=PALETTE[i], marker="o", label=label)
            ax.axhline(0, color=MARK, ls=":")
            ax.set(xlabel="epoch", ylabel="train acc - val acc", title="generalization gap")
            ax.legend(loc="upper left")
        return {"curves": self.curves_renderer.png(), "gap": fig}
