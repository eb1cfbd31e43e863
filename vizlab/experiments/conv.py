"""Section A: convolution basics and the classic architectures, checked on real tensors.

Five topics, one per group of curriculum rows:

- ``conv_arithmetic`` (A-CH, A-1x1, A-POOL): a multi-channel convolution is the sum of
  per-channel 2-D cross-correlations plus a bias; a 1x1 convolution is one linear map shared
  by every pixel; pooling follows the output-size formula and never mixes channels.
- ``receptive_field`` (A-RF): the receptive field computed from kernel sizes, strides and
  paddings is exactly the set of input pixels with a nonzero gradient of one deep unit.
- ``activation_gradients`` (A-ACT): with the same weights, a sigmoid net's early layers get
  gradients orders of magnitude smaller than a ReLU net's at initialization.
- ``zoo`` (A-ZOO): every family of ``vizlab.models``: its layer table agrees with a forward
  pass and ``numel``, and it learns the embedded digits well above chance.
- ``first_filters`` (A-FILT): first-layer filters and per-layer feature maps of one image,
  taken from a briefly trained model, equal the live model's weights and activations.

The arithmetic topics run in float64 on the CPU, so "equal" means equal to rounding.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from vizlab import models
from vizlab.device import resolve_device
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.plots import (
    conv1x1,
    conv_channels,
    draw_activation_hist,
    draw_grad_flow,
    feature_maps,
    filters,
    param_bars,
    pooling_windows,
    summary_table,
)
from vizlab.plots import receptive_field as receptive_field_plot
from vizlab.plots.style import layer_color, new_figure, styled
from vizlab.probes import receptive_field as gradient_fields
from vizlab.probes import trace, watch
from vizlab.train import fit

__all__ = [
    "conv_arithmetic",
    "receptive_field",
    "activation_gradients",
    "zoo",
    "first_filters",
    "xcorr2d",
    "rf_geometry",
    "computed_field",
    "zoo_model",
]

CPU64 = dict(device="cpu", dtype=torch.float64)


# ---- A-CH, A-1x1, A-POOL -----------------------------------------------------------------
def xcorr2d(x: torch.Tensor, k: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Valid 2-D cross-correlation written out: a sum over kernel offsets of shifted images.

    Shape:
        x: (H, W); k: (kh, kw); out: ((H - kh) // stride + 1, (W - kw) // stride + 1).
    """
    kh, kw = k.shape
    ho, wo = (x.shape[0] - kh) // stride + 1, (x.shape[1] - kw) // stride + 1
    out = x.new_zeros(ho, wo)
    for a in range(kh):
        for b in range(kw):
            rows = slice(a, a + stride * (ho - 1) + 1, stride)
            cols = slice(b, b + stride * (wo - 1) + 1, stride)
            out += k[a, b] * x[rows, cols]
    return out


def _channel_sum(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``conv(x)`` computed as bias + sum over input channels of 2-D cross-correlations.

    Shape:
        x: (B, C_in, H, W); out: (B, C_out, H', W').
    """
    p, s = conv.padding[0], conv.stride[0]
    xp = F.pad(x, (p, p, p, p))
    w, b = conv.weight.detach(), conv.bias.detach()
    return torch.stack(
        [
            torch.stack(
                [
                    b[o] + sum(xcorr2d(xp[n, i], w[o, i], s) for i in range(w.shape[1]))
                    for o in range(w.shape[0])
                ]
            )
            for n in range(x.shape[0])
        ]
    )


def _pool_explicit(x: torch.Tensor, mode: str, window: int, stride: int, pad: int) -> torch.Tensor:
    """Pooling written out window by window, each channel on its own.

    Max pooling pads with -inf and average pooling with zeros that count in the mean
    (PyTorch's defaults). Shape: x (C, H, W) -> (C, H', W').
    """
    fill = -math.inf if mode == "max" else 0.0
    xp = F.pad(x, (pad, pad, pad, pad), value=fill)
    ho = (x.shape[1] + 2 * pad - window) // stride + 1
    wo = (x.shape[2] + 2 * pad - window) // stride + 1
    out = x.new_zeros(x.shape[0], ho, wo)
    for c in range(x.shape[0]):
        for i in range(ho):
            for j in range(wo):
                win = xp[c, i * stride : i * stride + window, j * stride : j * stride + window]
                out[c, i, j] = win.max() if mode == "max" else win.mean()
    return out


def _check_channels(gen: torch.Generator, c_in: int, c_out: int, k: int, s: int, p: int) -> dict:
    conv = nn.Conv2d(c_in, c_out, k, stride=s, padding=p).to(**CPU64)
    x = torch.randn(2, c_in, 9, 8, generator=gen, **CPU64)  # (B, C_in, H, W)
    with torch.no_grad():
        out = conv(x)
    explicit = _channel_sum(conv, x)
    return {
        "c_in": c_in,
        "c_out": c_out,
        "kernel": k,
        "stride": s,
        "padding": p,
        "weight_shape": list(conv.weight.shape),
        "params": sum(q.numel() for q in conv.parameters()),
        "params_formula": c_out * c_in * k * k + c_out,
        "out_shape": list(out.shape),
        "max_abs_diff": float((out - explicit).abs().max()),
    }


def _check_1x1(gen: torch.Generator, c_in: int, c_out: int) -> dict:
    conv = nn.Conv2d(c_in, c_out, 1).to(**CPU64)
    linear = nn.Linear(c_in, c_out).to(**CPU64)
    linear.weight = nn.Parameter(conv.weight.view(c_out, c_in))  # the same storage
    linear.bias = conv.bias
    x = torch.randn(2, c_in, 5, 6, generator=gen, **CPU64)  # (B, C_in, H, W)
    with torch.no_grad():
        by_conv = conv(x)  # (B, C_out, H, W)
        by_linear = linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # pixels as a batch
        per_pixel = max(
            float((linear(x[:, :, i, j]) - by_conv[:, :, i, j]).abs().max())
            for i in range(x.shape[2])
            for j in range(x.shape[3])
        )
    return {
        "c_in": c_in,
        "c_out": c_out,
        "pixels": x.shape[2] * x.shape[3],
        "max_abs_diff": float((by_conv - by_linear).abs().max()),
        "per_pixel_max_abs_diff": per_pixel,
        "shares_weights": linear.weight.data_ptr() == conv.weight.data_ptr(),
        "params_conv": sum(q.numel() for q in conv.parameters()),
        "params_linear": sum(q.numel() for q in linear.parameters()),
    }


def _check_pool(x: torch.Tensor, mode: str, window: int, stride: int, pad: int) -> dict:
    pool = (nn.MaxPool2d if mode == "max" else nn.AvgPool2d)(window, stride, pad)
    out = pool(x)  # (B, C, H', W')
    h, w = x.shape[2:]
    formula = [(h + 2 * pad - window) // stride + 1, (w + 2 * pad - window) // stride + 1]
    explicit = torch.stack([_pool_explicit(xb, mode, window, stride, pad) for xb in x])
    alone = torch.cat([pool(x[:, c : c + 1]) for c in range(x.shape[1])], dim=1)
    return {
        "mode": mode,
        "window": window,
        "stride": stride,
        "padding": pad,
        "in_shape": list(x.shape),
        "out_shape": list(out.shape),
        "formula_hw": formula,
        "max_abs_diff": float((out - explicit).abs().max()),
        "channel_alone_diff": float((out - alone).abs().max()),
    }


@experiment(
    "conv_arithmetic",
    ("A-CH", "A-1x1", "A-POOL"),
    "Convolution and pooling, written out by hand",
)
def conv_arithmetic(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    tol: float = 1e-10,
) -> Result:
    """Compare PyTorch's conv and pooling layers with their definitions, on random tensors.

    A-CH: for several (C_in, C_out, k, stride, padding), ``Conv2d`` equals bias plus the sum
    over input channels of 2-D cross-correlations, and its weight has shape
    ``C_out x C_in x k x k``. A-1x1: a 1x1 conv equals a ``Linear`` (sharing the conv's
    weight storage) applied at every pixel. A-POOL: max and average pooling over window,
    stride and padding combinations give ``floor((H + 2p - k) / s) + 1`` per side, keep the
    channel count, equal the window-by-window definition and pool each channel alone.
    No training; float64 on the CPU (``data``, ``device``, ``stop``, ``callbacks`` unused),
    so it holds at any scale.
    """
    gen = torch.Generator().manual_seed(seed)
    combos = [(1, 2, 3, 1, 0), (3, 4, 3, 1, 1), (4, 2, 5, 2, 2), (2, 3, 2, 2, 0), (3, 1, 1, 1, 0)]
    channels = [_check_channels(gen, *c) for c in combos]
    one_by_one = [_check_1x1(gen, c_in, c_out) for c_in, c_out in ((5, 3), (16, 8))]
    x = torch.randn(2, 3, 11, 9, generator=gen, **CPU64)  # (B, C, H, W), not square
    pools = [
        _check_pool(x, mode, window, stride, pad)
        for mode in ("max", "avg")
        for window in (2, 3, 4)
        for stride in (1, 2, 3)
        for pad in range(window // 2 + 1)
    ]
    # Small integer examples for the figures (readable numbers in every cell).
    example_x = torch.randint(0, 4, (3, 5, 5), generator=gen).double()
    example_k = torch.randint(-1, 2, (3, 3, 3), generator=gen).double()
    example_w = torch.randint(-2, 3, (4, 3), generator=gen).double()
    example_pool = torch.randint(0, 10, (6, 6), generator=gen).double()
    numbers = {
        "channels": channels,
        "one_by_one": one_by_one,
        "pooling": pools,
        "tol": tol,
        "example": {
            "x": example_x,
            "kernel": example_k,
            "weight_1x1": example_w,
            "pool_input": example_pool,
        },
    }
    facts = {
        "sum_of_channels": all(c["max_abs_diff"] < tol for c in channels),
        "kernel_shape": all(
            c["weight_shape"] == [c["c_out"], c["c_in"], c["kernel"], c["kernel"]]
            and c["params"] == c["params_formula"]
            for c in channels
        ),
        "one_by_one_is_linear": all(
            o["max_abs_diff"] < tol and o["per_pixel_max_abs_diff"] < tol and o["shares_weights"]
            for o in one_by_one
        ),
        "pool_shape_formula": all(p["out_shape"][2:] == p["formula_hw"] for p in pools),
        "pool_channels_unchanged": all(
            p["out_shape"][:2] == p["in_shape"][:2] and p["channel_alone_diff"] == 0.0
            for p in pools
        ),
        "pool_values": all(p["max_abs_diff"] < tol for p in pools),
    }
    config = {"seed": seed, "device": "cpu", "dtype": "float64", "combos": combos}
    return Result("conv_arithmetic", ("A-CH", "A-1x1", "A-POOL"), scale, numbers, facts, config)


@drawer("conv_arithmetic")
def draw_conv_arithmetic(result: Result) -> dict[str, tuple[Figure, str]]:
    ex = result.numbers["example"]
    x, k = np.asarray(ex["x"]), np.asarray(ex["kernel"])
    diff = max(c["max_abs_diff"] for c in result.numbers["channels"])
    return {
        "conv_channels": (
            conv_channels(x, k),
            f"One output channel is the sum of per-channel cross-correlations "
            f"(largest gap to Conv2d over all settings: {diff:.1e}).",
        ),
        "conv1x1": (
            conv1x1(x, np.asarray(ex["weight_1x1"]), pixel=(2, 2)),
            "A 1x1 convolution applies one C_out x C_in matrix at every pixel.",
        ),
        "pooling_windows": (
            pooling_windows(np.asarray(ex["pool_input"]), window=3, stride=2),
            "Max pooling 3x3 with stride 2: output side floor((6 - 3) / 2) + 1 = 2.",
        ),
    }


# ---- A-RF ---------------------------------------------------------------------------------
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


# ---- A-ACT --------------------------------------------------------------------------------
def _conv_layers(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


@experiment("activation_gradients", ("A-ACT",), "ReLU vs sigmoid: gradient size per layer")
def activation_gradients(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    blocks: int = 3,
    convs: int = 2,
) -> Result:
    """Per-layer gradient norms of the same VGG net with ReLU and with sigmoid, same weights.

    At initialization (``vizlab.probes.trace`` on one batch): the gradient norm of every
    conv weight. The sigmoid's derivative is at most 1/4, so every layer shrinks the
    backward signal and the first layers get gradients orders of magnitude smaller than the
    ReLU net's. Then both train briefly under ``vizlab.probes.watch`` to show the gradient
    flow and the saturation over steps. The init fact holds at any scale (quick: digits).
    """
    data = dataset(data, "digits", seed=seed, n=pick(scale, 600, None))
    dev = resolve_device(device)
    c, h, _ = data.shape
    x, y = data.train.x[:256].to(dev), data.train.y[:256].to(dev)
    nets, grads, runs = {}, {}, {}
    for act in ("relu", "sigmoid"):
        torch.manual_seed(seed)
        nets[act] = models.vgg(blocks, convs, 16, activation=act, in_channels=c, input_size=h).to(
            dev
        )
        t = trace(nets[act], x, y, layers=nn.Conv2d, rf=False)
        grads[act] = {
            layer: float(t.param_grads[f"{layer}.weight"].norm())
            for layer in _conv_layers(nets[act])
        }
    same_weights = all(
        torch.equal(a, b)
        for a, b in zip(nets["relu"].state_dict().values(), nets["sigmoid"].state_dict().values())
    )
    layers = list(grads["relu"])
    ratio = [grads["sigmoid"][n] / grads["relu"][n] for n in layers]
    epochs = pick(scale, 1, 5)
    for act, model in nets.items():
        if stopped(stop):
            break
        first_act = layers[0].removesuffix(".conv") + ".act"  # saturation shows here
        with watch(
            model, layers=[*layers, first_act], every=2, what=("activations", "gradients"),
            bins=20,
        ) as w:  # fmt: skip
            history = fit(
                model, data, epochs=epochs, batch_size=32, lr=1e-3, device=dev, seed=seed,
                watch=w, stop=stop, callbacks=callbacks,
            )  # fmt: skip
        kept = [
            list(r)
            for r in w.records()
            if (r[2] == "gradients" and r[3] == "act_grad_norm")
            or (r[1] == first_act and r[2] == "activations")
        ]
        runs[act] = {"records": kept, "first_act": first_act, "final": history.final()}
    numbers = {
        "layers": layers,
        "grad_norm": grads,
        "ratio_sigmoid_to_relu": ratio,
        "first_layer_ratio": ratio[0],
        "last_conv_ratio": ratio[-1],
        "same_weights": same_weights,
        "runs": runs,
    }
    facts = {
        "same_weights": same_weights,
        "sigmoid_early_grads_orders_smaller": ratio[0] < 1e-2,
        "gap_grows_toward_input": ratio[0] < ratio[-1],
    }
    config = {"data": data.name, "seed": seed, "blocks": blocks, "convs": convs, "epochs": epochs}
    config["device"] = str(dev)
    return Result("activation_gradients", ("A-ACT",), scale, numbers, facts, config)


@drawer("activation_gradients")
@styled
def draw_activation_gradients(result: Result) -> dict[str, tuple[Figure, str]]:
    n = result.numbers
    fig = new_figure(None, (10.0, 5.0))
    ax = fig.add_subplot()
    xs = np.arange(1, len(n["layers"]) + 1)
    for i, act in enumerate(("relu", "sigmoid")):
        g = [n["grad_norm"][act][layer] for layer in n["layers"]]
        ax.plot(xs, g, marker="o", color=layer_color(i), label=act)
    ax.set_yscale("log")
    ax.set_xticks(xs, [str(v) for v in xs])
    ax.set_xlabel("conv layer (input side first)")
    ax.set_ylabel("weight gradient norm at init")
    ax.legend(loc="best")
    out = {
        "grad_per_layer": (
            fig,
            f"Same weights, sigmoid vs ReLU: the first conv's gradient is "
            f"{1 / n['first_layer_ratio']:.0f}x smaller with sigmoid.",
        )
    }
    for act, run in n["runs"].items():
        rows = [tuple(r) for r in run["records"]]
        flow = new_figure(None, (13.0, 5.0))
        ax_flow, ax_hist = flow.subplots(1, 2)
        draw_grad_flow(ax_flow, rows)
        first = run["first_act"]
        if any(r[1] == first for r in rows):
            stats: dict[str, tuple[list, list]] = {}
            for step, layer, kind, stat, value in rows:
                if layer == first and kind == "activations":
                    stats.setdefault(stat, ([], []))
                    stats[stat][0].append(step)
                    stats[stat][1].append(value)
            draw_activation_hist(
                ax_hist, first, {k: (np.asarray(s), v) for k, (s, v) in stats.items()}
            )
        ax_flow.set_title(f"{act}: gradient norm per layer while training")
        out[f"flow_{act}"] = (flow, f"{act} net: gradient flow and first-layer activations.")
    return out


# ---- A-ZOO --------------------------------------------------------------------------------
def _zoo_kwargs(scale: str) -> dict[str, dict]:
    """Per-family settings: small and fast at quick scale, the families' defaults at full."""
    if scale == "full":
        return {name: {} for name in models.FAMILIES}
    return {
        "mlp": dict(hidden=(64,)),
        "lenet": dict(activation="relu", init="kaiming"),
        "alexnet": dict(width=16, hidden=64, init="kaiming", dropout=0.0),
        "vgg": dict(blocks=2, convs=1, width=16),
        "nin": dict(width=16),
        "googlenet": dict(width=8),
        "resnet": dict(depth=8, width=8),
        "densenet": dict(blocks=2, layers=2, growth=8),
        "convnext": dict(depths=(1, 1), width=16),
    }


def zoo_model(
    family: str,
    shape: Sequence[int],
    num_classes: int,
    *,
    small: bool = True,
    activation: str | None = None,
) -> nn.Module:
    """Build ``family`` for images of ``shape`` (C, H, W): the quick-scale sizes of ``zoo``
    when ``small`` (fast on a CPU), else the family's defaults; ``activation`` overrides the
    family's own (LeNet's small version uses ReLU)."""
    kwargs = dict(_zoo_kwargs("quick" if small else "full").get(family, {}))
    if activation is not None:
        kwargs["activation"] = activation
    c, h, w = shape
    return models.build(family, in_channels=c, num_classes=num_classes, input_size=(h, w), **kwargs)


def _forward_shapes(model: nn.Module, x: torch.Tensor) -> dict[str, list | None]:
    """The output shape of every submodule in one eval forward of a real batch."""
    shapes: dict[str, list | None] = {}
    handles = []
    for name, module in model.named_modules():
        if name:

            def hook(_m, _a, out, name=name):
                shapes[name] = list(out.shape[1:]) if isinstance(out, torch.Tensor) else None

            handles.append(module.register_forward_hook(hook))
    try:
        model.eval()
        with torch.no_grad():
            shapes[""] = list(model(x).shape[1:])
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def _conv_params_ok(model: nn.Module) -> bool:
    """Every conv's weight has C_out x C_in/groups x k_h x k_w entries (plus C_out biases)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            expect = m.out_channels * (m.in_channels // m.groups) * math.prod(m.kernel_size)
            expect += m.out_channels if m.bias is not None else 0
            if sum(p.numel() for p in m.parameters(recurse=False)) != expect:
                return False
    return True


@experiment("zoo", ("A-ZOO",), "The architecture zoo: tables, parameters, training")
def zoo(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    families: Sequence[str] | None = None,
) -> Result:
    """Every family of ``vizlab.models``: its summary table and a short training run.

    For each family: the ``summary`` rows' output shapes equal the shapes a forward hook sees
    on a real batch, the parameter column adds up to ``sum(p.numel())`` and each conv's count
    is ``C_out x C_in/groups x k x k (+ C_out)``; then it trains on the embedded digits
    (quick: 3 epochs, smaller widths; LeNet with ReLU, since its sigmoid original needs many
    more epochs, see ``activation_gradients``) and must beat chance (10 classes) by 2x on the
    test split. Full scale: the families' default sizes on ``shapes``, 10 epochs.
    """
    data = dataset(data, pick(scale, "digits", "shapes"), seed=seed)
    dev = resolve_device(device)
    c, h, _ = data.shape
    chance = 1.0 / len(data.classes)
    settings = _zoo_kwargs(scale)
    names = list(families or models.FAMILIES)
    epochs = pick(scale, 3, 10)
    x = data.test.x[:4].to(dev)  # (4, C, H, W) real images
    table = {}
    for name in names:
        if stopped(stop):
            break
        torch.manual_seed(seed)
        model = zoo_model(name, data.shape, len(data.classes), small=scale == "quick").to(dev)
        rows = models.summary(model, (c, h, h))
        seen = _forward_shapes(model, x)
        shape_ok = all(
            (list(r.output_shape[1:]) if r.output_shape is not None else None) == seen.get(r.name)
            for r in rows
            if r.name in seen
        )
        params = sum(p.numel() for p in model.parameters())
        history = fit(
            model, data, epochs=epochs, batch_size=32, lr=3e-3, device=dev, seed=seed,
            stop=stop, callbacks=callbacks,
        )  # fmt: skip
        final = history.final()
        table[name] = {
            "rows": [[r.name, r.type, r.output_shape, r.params] for r in rows if r.type != "Tap"],
            "table_params": sum(r.params for r in rows),
            "params": params,
            "shapes_match": shape_ok,
            "rows_checked": sum(r.name in seen for r in rows),
            "output_shape": seen[""],
            "conv_params_ok": _conv_params_ok(model),
            "test_acc": final["test_acc"],
            "val_acc": final["val_acc"],
            "seconds": history.seconds,
            "settings": settings.get(name, {}),
        }
    numbers = {"families": table, "chance": chance, "epochs": epochs}
    facts = {
        "tables_match_forward": all(t["shapes_match"] for t in table.values()),
        "params_match_numel": all(
            t["table_params"] == t["params"] and t["conv_params_ok"] for t in table.values()
        ),
        "all_above_chance": all((t["test_acc"] or 0) > 2 * chance for t in table.values()),
    }
    config = {"data": data.name, "seed": seed, "device": str(dev), "families": names}
    return Result("zoo", ("A-ZOO",), scale, numbers, facts, config)


@drawer("zoo")
@styled
def draw_zoo(result: Result) -> dict[str, tuple[Figure, str]]:
    fams = result.numbers["families"]
    fig = new_figure(None, (11.0, 5.0))
    ax_p, ax_a = fig.subplots(1, 2)
    names = list(fams)
    colors = [layer_color(i) for i in range(len(names))]
    ax_p.bar(names, [fams[n]["params"] for n in names], color=colors)
    ax_p.set_yscale("log")
    ax_p.set_ylabel("parameters")
    ax_a.bar(names, [fams[n]["test_acc"] or 0 for n in names], color=colors)
    ax_a.axhline(result.numbers["chance"], color="black", linestyle=":", label="chance")
    ax_a.set_ylabel("test accuracy")
    ax_a.set_ylim(0, 1)
    ax_a.legend(loc="lower right")
    for ax in (ax_p, ax_a):
        ax.tick_params(axis="x", rotation=60)
    out = {
        "zoo_overview": (
            fig,
            f"Every family after {result.numbers['epochs']} epochs: size and test accuracy.",
        )
    }
    for name in names[:]:
        rows = fams[name]["rows"]
        if name in ("vgg", "resnet"):
            out[f"summary_{name}"] = (
                summary_table(rows, title=name),
                f"{name}: layer table measured by a forward pass.",
            )
    first = names[0] if names else None
    if first is not None:
        out["param_bars"] = (
            param_bars(fams[first]["rows"]),
            f"{first}: parameters per layer.",
        )
    return out


# ---- A-FILT -------------------------------------------------------------------------------
@experiment("first_filters", ("A-FILT",), "First-layer filters and feature maps")
def first_filters(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    image: int = 0,
    max_channels: int = 8,
) -> Result:
    """Train a small AlexNet (5x5 stride-2 colour filters, as in the AlexNet figure) on
    ``shapes``, then read its first-layer filters and the feature maps of test image
    ``image`` at each layer with ``vizlab.probes.trace``.

    Facts: the filters in the figure are the live first conv's weights (exactly), the
    feature maps are what the layers compute (checked against running the model's children
    one by one), and training moved the filters away from their initialization. The net
    carries batch norm (not in the 2012 original) so that a few epochs suffice. Quick: 2000
    images, 4 epochs, width 16 (test accuracy about 0.57 against chance 0.1); full: 10000
    images, width 32, 20 epochs.
    """
    data = dataset(data, "shapes", seed=seed, n=pick(scale, 2000, None))
    dev = resolve_device(device)
    c, h, _ = data.shape
    torch.manual_seed(seed)
    size = pick(scale, dict(width=16, hidden=64, dropout=0.0), dict(width=32, hidden=256))
    model = models.alexnet(
        norm="batch", init="kaiming", in_channels=c, num_classes=len(data.classes),
        input_size=h, **size,
    ).to(dev)  # fmt: skip
    before = model.conv1.conv.weight.detach().cpu().clone()
    epochs = pick(scale, 4, 20)
    history = fit(
        model, data, epochs=epochs, batch_size=32, lr=3e-3, device=dev, seed=seed,
        stop=stop, callbacks=callbacks,
    )  # fmt: skip
    x = data.test.x[image : image + 1].to(dev)  # (1, C, H, W)
    layers = ["conv1", "pool1", "conv2", "pool2", "conv5"]
    t = trace(model, x, layers=layers, rf=False)
    weight = model.conv1.conv.weight.detach().cpu()
    direct, h_ = {}, x
    with torch.no_grad():
        for name, child in model.named_children():
            h_ = child(h_)
            if name in layers:
                direct[name] = h_.cpu()
    map_diff = max(float((t.activations[n] - direct[n]).abs().max()) for n in layers)
    numbers = {
        "filters": t.filters,
        "filters_init": before,
        "filters_layer": t.filters_layer,
        "filters_equal_weights": bool(torch.equal(t.filters, weight)),
        "maps": {n: t.activations[n][0, :max_channels] for n in layers},
        "map_shapes": {n: list(t.activations[n].shape[1:]) for n in layers},
        "maps_max_abs_diff": map_diff,
        "filter_change": float((weight - before).norm() / before.norm()),
        "image": x[0].cpu(),
        "label": data.classes[int(data.test.y[image])],
        "final": history.final(),
        "chance": 1.0 / len(data.classes),
    }
    facts = {
        "filters_are_weights": numbers["filters_equal_weights"],
        "maps_are_activations": map_diff == 0.0,
        "filters_learned": numbers["filter_change"] > 0.05,
    }
    config = {"data": data.name, "seed": seed, "epochs": epochs, "image": image}
    config["device"] = str(dev)
    return Result("first_filters", ("A-FILT",), scale, numbers, facts, config)


@drawer("first_filters")
def draw_first_filters(result: Result) -> dict[str, tuple[Figure, str]]:
    n = result.numbers
    acc = n["final"]["test_acc"]
    maps = {"image": np.asarray(n["image"])} | {k: np.asarray(v) for k, v in n["maps"].items()}
    return {
        "filters_init": (filters(np.asarray(n["filters_init"])), "First-layer filters at init."),
        "filters": (
            filters(np.asarray(n["filters"])),
            f"First-layer filters after training (test accuracy {acc:.2f}).",
        ),
        "feature_maps": (
            feature_maps(maps),
            f"Feature maps of one test image ({n['label']}) at each layer.",
        ),
    }
