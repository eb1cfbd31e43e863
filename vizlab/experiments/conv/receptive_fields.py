"""A-RF: receptive fields, computed from the layers and read from the gradient.

``receptive_field``: the receptive field computed from kernel sizes, strides and paddings is
exactly the set of input pixels with a nonzero gradient of one deep unit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from vizlab import models
from vizlab.experiments.base import Result, drawer, experiment
from vizlab.experiments.conv.float64 import CPU64
from vizlab.plots import receptive_field as receptive_field_plot
from vizlab.plots.style import layer_color, new_figure, styled
from vizlab.probes import receptive_field as gradient_fields

_GEOMETRIC = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def _pair(v: Any) -> int:
    v = v[0] if isinstance(v, (tuple, list)) else v
    return int(v)


def rf_geometry(model: nn.Module, layer: str) -> list[tuple[int, int, int]]:
    """``(kernel, stride, padding)`` of every conv and pooling layer up to ``layer``, in
    model order (the forward order of sequential models such as vizlab's families)."""
    names = [name for name, _ in model.named_modules()]
    if layer not in names:
        raise ValueError(f"no layer {layer!r} in the model")
    end = names.index(layer)
    geometry = []
    for i, (_, module) in enumerate(model.named_modules()):
        if i > end:
            break
        if isinstance(module, _GEOMETRIC):
            geometry.append(
                (_pair(module.kernel_size), _pair(module.stride), _pair(module.padding))
            )
    return geometry


def computed_field(
    geometry: Sequence[tuple[int, int, int]], size: int
) -> tuple[int, int, tuple[int, int]]:
    """Receptive field size, jump, and the clipped input rows ``(first, last)`` of the
    centre unit, by the recurrence r += (k - 1) * j, start -= p * j, j *= s."""
    r, j, start, n = 1, 1, 0, size
    for k, s, p in geometry:
        r, start, j = r + (k - 1) * j, start - p * j, j * s
        n = (n + 2 * p - k) // s + 1
    first = start + (n // 2) * j  # the probe differentiates the centre unit
    return r, j, (max(first, 0), min(first + r - 1, size - 1))


def _support_box(grad: torch.Tensor) -> tuple[list[int], list[int], bool]:
    """Rows and columns ``[first, last]`` of the nonzero gradient and whether it fills them."""
    nz = grad != 0
    rows, cols = torch.nonzero(nz.any(1)).flatten(), torch.nonzero(nz.any(0)).flatten()
    if len(rows) == 0:
        return [-1, -1], [-1, -1], False
    r = [int(rows[0]), int(rows[-1])]
    c = [int(cols[0]), int(cols[-1])]
    full = bool(nz[r[0] : r[1] + 1, c[0] : c[1] + 1].all())
    return r, c, full


def _stack(spec: str) -> nn.Sequential:
    """A VGG-ish stack from ``"c3 c3 a2 c5s2 m3s2"``: ``c``onv / ``a``vg / ``m``ax pool with
    kernel and optional stride (conv padding keeps the size at stride 1; pools unpadded
    except overlapping 3x3 ones, padded by 1 as in AlexNet)."""
    layers: dict[str, nn.Module] = {}
    channels = 1
    for i, token in enumerate(spec.split()):
        kind, rest = token[0], token[1:]
        k, _, s = rest.partition("s")
        k, s = int(k), int(s or (1 if kind == "c" else k))
        if kind == "c":
            layers[f"conv{i + 1}"] = nn.Conv2d(channels, 4, k, stride=s, padding=k // 2)
            layers[f"act{i + 1}"] = nn.Tanh()
            channels = 4
        else:
            pool = nn.AvgPool2d if kind == "a" else nn.MaxPool2d
            layers[f"pool{i + 1}"] = pool(k, s, padding=1 if k == 3 else 0)
    return nn.Sequential(OrderedDict(layers))


RF_NETS = {
    "four 3x3 convs": "c3 c3 c3 c3",
    "VGG 3 blocks (2 convs + 2x2 pool)": "c3 c3 a2 c3 c3 a2 c3 c3 a2",
    "VGG 4 blocks (1 conv + 2x2 pool)": "c3 a2 c3 a2 c3 a2 c3 a2",
    "5x5 conv + overlapping 3x3/2 pools": "c5 a3s2 c3 a3s2 c3",
    "strided 3x3 convs": "c3s2 c3s2 c3s2 c3",
}


def _fields(model: nn.Module, x: torch.Tensor, layers: list[str]) -> list[dict]:
    size = x.shape[-1]
    maps = gradient_fields(model, x, layers=layers)
    rows = []
    for layer in layers:
        r, j, (lo, hi) = computed_field(rf_geometry(model, layer), size)
        g_rows, g_cols, full = _support_box(maps[layer])
        rows.append(
            {
                "layer": layer,
                "rf": r,
                "jump": j,
                "computed_box": [lo, hi],
                "gradient_rows": g_rows,
                "gradient_cols": g_cols,
                "gradient_fills_box": full,
                "match": g_rows == [lo, hi] and g_cols == [lo, hi] and full,
                "inside": lo <= g_rows[0]
                and g_rows[1] <= hi
                and lo <= g_cols[0] <= g_cols[1] <= hi,
            }
        )
    return rows


@experiment("receptive_field", ("A-RF",), "Receptive fields: computed vs gradient")
def receptive_field(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    size: int = 64,
) -> Result:
    """The computed receptive field of the centre unit of every layer equals the region
    where its input gradient is nonzero.

    Nets: VGG-ish stacks of 3x3 and 5x5 convs, 2x2 and overlapping 3x3 average pools and
    strided convs, with tanh (its derivative is never zero and average pooling passes the
    gradient to every pixel of its window, so the gradient is nonzero at every pixel the unit
    depends on). Checked at every conv and pooling layer on a ``size`` x ``size`` noise image,
    float64: the nonzero-gradient box equals the computed box (clipped to the image) and is
    filled. For the ReLU / max-pool ``vizlab.models.vgg`` (3 blocks) the gradient of one input
    only reaches the pixels that won their max and whose ReLUs were on, so it lies *inside*
    the computed box without filling it: that is recorded too. No training: holds at any scale.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 1, size, size, generator=gen, **CPU64)  # (1, 1, H, W) noise
    nets = {}
    for name, spec in RF_NETS.items():
        model = _stack(spec).to(**CPU64)
        layers = [n for n, m in model.named_children() if isinstance(m, _GEOMETRIC)]
        nets[name] = {"spec": spec, "layers": _fields(model, x, layers)}
    vgg = models.vgg(3, 2, 8, in_channels=1, input_size=size).to(**CPU64)
    blocks = [f"features.block{i}.hook_out" for i in (1, 2, 3)]
    vgg_rows = _fields(vgg, x, blocks)
    deepest = list(nets)[1]
    last = nets[deepest]["layers"][-1]["layer"]
    model = _stack(RF_NETS[deepest]).to(**CPU64)
    heat = gradient_fields(model, x, layers=[last])[last]
    numbers = {
        "size": size,
        "nets": nets,
        "vgg_maxpool": vgg_rows,
        "example": {
            "net": deepest,
            "layer": last,
            "image": x[0, 0],
            "gradient": heat,
            "box": nets[deepest]["layers"][-1]["computed_box"],
        },
    }
    rows = [row for net in nets.values() for row in net["layers"]]
    facts = {
        "computed_equals_gradient": all(row["match"] for row in rows),
        "grows_with_depth": all(
            all(a["rf"] <= b["rf"] for a, b in zip(n["layers"], n["layers"][1:]))
            for n in nets.values()
        ),
        "maxpool_gradient_inside": all(row["inside"] for row in vgg_rows),
    }
    config = {"seed": seed, "size": size, "device": "cpu", "dtype": "float64"}
    return Result("receptive_field", ("A-RF",), scale, numbers, facts, config)


@drawer("receptive_field")
@styled
def draw_receptive_field(result: Result) -> dict[str, tuple[Figure, str]]:
    ex = result.numbers["example"]
    lo, hi = ex["box"]
    overlay = receptive_field_plot(
        np.asarray(ex["image"]),
        np.asarray(ex["gradient"]),
        title=f"{ex['net']}: {ex['layer']}",
    )
    box = receptive_field_plot(np.asarray(ex["image"]), (lo, lo, hi + 1, hi + 1))
    fig = new_figure(None, (10.0, 5.5))
    ax = fig.add_subplot()
    for i, (name, net) in enumerate(result.numbers["nets"].items()):
        rf = [row["rf"] for row in net["layers"]]
        ax.plot(range(1, len(rf) + 1), rf, marker="o", color=layer_color(i), label=name)
    ax.set_xlabel("conv / pooling layer")
    ax.set_ylabel("receptive field (pixels per side)")
    ax.set_yscale("log", base=2)
    ax.legend(loc="best", fontsize="small")
    return {
        "rf_gradient": (
            overlay,
            "Nonzero input gradient of the centre unit of the last layer (highlighted).",
        ),
        "rf_computed": (box, f"The computed receptive field of the same unit: rows {lo}..{hi}."),
        "rf_growth": (fig, "Receptive field size layer by layer: convs add, pooling multiplies."),
    }
