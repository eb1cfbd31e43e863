"""F-MASK, F-VAR: dropout masks recorded while training.

``dropout_masks`` trains ``mask_net`` (a small CNN with channel dropout, cutout, DropConnect
and element dropout) under a watch; every recorded mask is checked against the zeros of the
layer's real output in the same step.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from vizlab import plots
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.experiments.dropout.common import stopped_result
from vizlab.nn import DropConnectLinear, Dropout
from vizlab.plots.style import MARK, PALETTE, new_figure, styled
from vizlab.probes import watch
from vizlab.train import fit

#: The dropout layers of ``mask_net``, one per variant.
MASK_LAYERS = ("channel", "cutout", "dropconnect", "element")


def mask_net(
    shape: tuple[int, int, int], num_classes: int, p: float = 0.25, width: int = 8, hidden: int = 64
) -> nn.Sequential:
    """A small CNN with one dropout layer of each variant.

    Tanh activations keep the inputs of the dropout layers free of exact zeros, so every zero
    of a dropout layer's output comes from its mask.

    Layers ``channel`` (spatial dropout), ``cutout``, ``dropconnect`` (a
    ``DropConnectLinear``) and ``element`` are named after their variant.

    Shape:
        - Input: ``(B, C, H, W)`` = ``(B, *shape)``; output: ``(B, num_classes)``.
    """
    c, h, w = shape
    layers = OrderedDict(
        conv1=nn.Conv2d(c, width, 3, padding=1),
        act1=nn.Tanh(),
        channel=Dropout(p, "channel"),  # (B, width, H, W), whole maps dropped
        conv2=nn.Conv2d(width, width, 3, padding=1),
        act2=nn.Tanh(),
        cutout=Dropout(p, "cutout"),  # (B, width, H, W), one square patch per example
        flatten=nn.Flatten(),
        dropconnect=DropConnectLinear(width * h * w, hidden, p),  # mask (hidden, width*H*W)
        act3=nn.Tanh(),
        element=Dropout(p, "element"),  # (B, hidden)
        head=nn.Linear(hidden, num_classes),
    )
    return nn.Sequential(layers)


class _Capture:
    """Keeps the real input, output and mask of one dropout layer on sampled training steps."""

    def __init__(self, module: nn.Module, every: int) -> None:
        self.module, self.every, self.count = module, every, 0
        self.steps: dict[int, dict[str, torch.Tensor]] = {}
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        if not module.training:
            return
        step, self.count = self.count, self.count + 1
        if step % self.every:
            return
        keep = {"x": args[0], "out": out, "mask": module.last_mask}
        if isinstance(module, DropConnectLinear):
            keep |= {"weight": module.weight, "bias": module.bias}
        self.steps[step] = {k: v.detach().float().cpu().clone() for k, v in keep.items()}


def _check_step(name: str, cap: dict[str, torch.Tensor], recorded: np.ndarray, p: float) -> dict:
    """Compare one recorded mask sample with the layer's real output in that step."""
    out, mask = cap["out"], cap["mask"].bool()
    rows, units = recorded.shape
    row = {"input_zeros": int((cap["x"] == 0).sum())}
    if name == "dropconnect":
        w = cap["weight"] * mask / (1.0 - p)
        row["shape_ok"] = tuple(mask.shape) == tuple(cap["weight"].shape)
        row["oracle_err"] = float((F.linear(cap["x"], w, cap["bias"]) - out).abs().max())
        truth = mask.reshape(mask.shape[0], -1)
    else:
        nz = out != 0  # (B, ...) what the next layer sees
        row["mask_is_zeros"] = bool(torch.equal(mask, nz))
        if name == "channel":
            # per (example, map): all pixels kept or all dropped
            row["constant_hw"] = bool((nz.all(dim=(2, 3)) | (~nz).all(dim=(2, 3))).all())
            truth = nz.any(dim=(2, 3))  # (B, C), the compact mask the watch records
        elif name == "cutout":
            cut = ~nz  # (B, C, H, W)
            row["same_channels"] = bool((cut == cut[:, :1]).all())
            areas, squares = [], []
            for c in cut[:, 0]:  # (H, W) per example
                r, k = c.any(dim=1).nonzero(), c.any(dim=0).nonzero()
                side_r, side_c = int(r.max() - r.min() + 1), int(k.max() - k.min() + 1)
                squares.append(side_r == side_c and int(c.sum()) == side_r * side_c)
                areas.append(int(c.sum()))
            row["square_patch"] = all(squares)
            row["patch_area"] = sorted(set(areas))
            truth = nz[:, 0].reshape(nz.shape[0], -1)  # (B, H*W)
        else:
            truth = nz.reshape(nz.shape[0], -1)
    row["recorded_ok"] = bool(np.array_equal(recorded, truth[:rows, :units].numpy()))
    row["draws"] = int(cap["mask"].numel()) if name == "element" else int(truth.numel())
    return row


@experiment("dropout_masks", ("F-MASK", "F-VAR"), "Dropout masks, recorded while training")
def dropout_masks(
    *,
    scale: str = "quick",
    data=None,
    device: str = "auto",
    seed: int = 0,
    stop=None,
    callbacks=(),
    p: float = 0.25,
    every: int = 5,
) -> Result:
    """Train ``mask_net`` (one dropout layer per variant) under a watch and check its masks.

    For every sampled step, the mask the watch recorded is compared with the zeros of the
    layer's real output in that same step (the inputs have no zeros, thanks to tanh), the
    channel masks with constancy over (H, W), the cutout zeros with one square patch shared
    by all channels, and the DropConnect mask with the weight's shape and with an oracle
    ``F.linear(x, W * M / (1 - p), b)``. The kept fractions are compared with ``1 - p``
    within 4 binomial standard errors. Holds at any scale (a few sampled steps suffice).
    """
    torch.manual_seed(seed)
    data = dataset(data, "digits", seed=seed)
    model = mask_net(data.shape, data.num_classes, p)
    epochs = pick(scale, 2, 10)
    caps = {name: _Capture(model.get_submodule(name), every) for name in MASK_LAYERS}
    w = watch(
        model, layers=list(MASK_LAYERS), every=every, what=("dropout",), mask_sample=(16, 512)
    )
    try:
        history = fit(
            model, data, epochs=epochs, batch_size=64, lr=2e-3, device=device, seed=seed,
            watch=w, stop=stop, callbacks=callbacks, amp=None,  # float32: exact zeros only
        )  # fmt: skip
    finally:
        for cap in caps.values():
            cap.handle.remove()
    if stopped(stop):
        return stopped_result("dropout_masks", ("F-MASK", "F-VAR"), scale, {})

    layers: dict[str, Any] = {}
    for name in MASK_LAYERS:
        steps, masks = w.series(name, "mask")
        kept_steps, kept = w.series(name, "kept")
        checks = [
            _check_step(name, caps[name].steps[int(s)], np.asarray(m), p)
            for s, m in zip(steps, masks)
            if int(s) in caps[name].steps
        ]
        kept_mean = float(np.mean(kept))
        if name == "cutout":  # one patch of side round(sqrt(p H W)) per example: no chance
            h, w_ = data.shape[1:]
            side = min(round(math.sqrt(p * h * w_)), h, w_)
            expected, se = 1.0 - side * side / (h * w_), 0.0
        else:  # the mean of K per-step fractions, each of d_i Bernoulli draws
            variance = sum(p * (1 - p) / c["draws"] for c in checks)
            expected, se = 1.0 - p, math.sqrt(variance) / max(len(checks), 1)
        layers[name] = {
            "steps": [int(s) for s in steps],
            "checked_steps": len(checks),
            "kept_steps": [int(s) for s in kept_steps],
            "kept": [float(k) for k in kept],
            "kept_mean": kept_mean,
            "kept_expected": expected,
            "kept_se": se,
            "input_zeros": sum(c["input_zeros"] for c in checks),
            "recorded_ok": all(c["recorded_ok"] for c in checks),
            "mask_sample": np.asarray(masks[-1]).astype(int).tolist(),
            "mask_shape": list(caps[name].steps[int(steps[-1])]["mask"].shape),
        }
        for key in ("mask_is_zeros", "constant_hw", "same_channels", "square_patch", "shape_ok"):
            if key in checks[0]:  # each variant's own checks, over every sampled step
                layers[name][key] = all(c[key] for c in checks)
        if name == "dropconnect":
            layers[name]["oracle_err"] = max(c["oracle_err"] for c in checks)
            layers[name]["weight_shape"] = list(model.dropconnect.weight.shape)
        if name == "cutout":
            layers[name]["patch_area"] = sorted({a for c in checks for a in c["patch_area"]})
            layers[name]["patch_side"] = side

    def kept_close(name: str) -> bool:
        d = layers[name]
        return abs(d["kept_mean"] - d["kept_expected"]) <= 4 * d["kept_se"] + 1e-9

    facts = {
        "recorded_mask_equals_output_zeros": all(
            layers[n]["recorded_ok"] and layers[n].get("mask_is_zeros", True)
            for n in ("channel", "cutout", "element")
        ),
        "kept_fraction_near_1_minus_p": all(kept_close(n) for n in MASK_LAYERS),
        "channel_mask_constant_over_hw": bool(layers["channel"]["constant_hw"]),
        "cutout_is_one_square_patch": bool(
            layers["cutout"]["square_patch"] and layers["cutout"]["same_channels"]
        ),
        "dropconnect_mask_has_weight_shape": bool(
            layers["dropconnect"]["shape_ok"] and layers["dropconnect"]["recorded_ok"]
        ),
    }
    numbers = {"p": p, "every": every, "layers": layers, "history": history.as_dict()}
    config = {"data": data.name, "device": history.device, "seed": seed, "epochs": epochs}
    return Result("dropout_masks", ("F-MASK", "F-VAR"), scale, numbers, facts, config)


@drawer("dropout_masks")
def _draw_masks(result: Result) -> dict[str, tuple[Figure, str]]:
    layers = result.numbers["layers"]
    masks = {
        f"{name} {tuple(layers[name]['mask_shape'])}": layers[name]["mask_sample"]
        for name in MASK_LAYERS
    }
    fig_masks = plots.dropout_mask(masks, figsize=(20, 4.5))
    return {
        "masks": (fig_masks, "Masks recorded in training (white = kept), one per variant."),
        "kept": (_kept_figure(layers, result.numbers["p"]), "Kept fraction per step vs 1 - p."),
    }


@styled
def _kept_figure(layers: dict, p: float) -> Figure:
    fig = new_figure(None, (9.0, 4.5))
    ax = fig.add_subplot()
    for i, (name, d) in enumerate(layers.items()):
        ax.plot(d["kept_steps"], d["kept"], marker="o", color=PALETTE[i], label=name)
    ax.axhline(1 - p, color=MARK, linestyle="--", label=f"1 - p = {1 - p:.2f}")
    ax.set_xlabel("step")
    ax.set_ylabel("kept fraction")
    ax.legend(loc="best")
    return fig
