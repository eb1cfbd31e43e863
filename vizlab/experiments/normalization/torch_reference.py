"""G-BN1, G-BN3, G-AXES, G-LNPARAMS: ``Norm`` against torch's own norm layers, and the
affine parameter counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from vizlab.experiments.base import Result, drawer, experiment, stopped
from vizlab.experiments.normalization.drawing import axes_cubes, styled_drawer
from vizlab.nn import Norm
from vizlab.plots import layer_color
from vizlab.plots.style import MARK, new_figure


def _reference_cases(c: int, h: int, w: int, f: int) -> dict[str, dict[str, Any]]:
    """Each choice with its torch reference: ``ours(fused)`` builds our layer, ``ref(x, p)``
    computes torch's output from the parameters ``p = (weight, bias)``; batch norms carry a
    torch module so that its running statistics can be compared too."""

    def ln_channel(x, p):  # layer norm over (C, H, W), then a per-channel affine map
        return F.layer_norm(x, [c, h, w]) * p[0].view(1, c, 1, 1) + p[1].view(1, c, 1, 1)

    return {
        "batch1d": {
            "shape": "NF",
            "ours": lambda fused: Norm(f, ("N", "H", "W"), fused=fused),
            "module": lambda: nn.BatchNorm1d(f),
            "torch": "nn.BatchNorm1d",
        },
        "batch2d": {
            "shape": "NCHW",
            "ours": lambda fused: Norm.batch(c, fused=fused),
            "module": lambda: nn.BatchNorm2d(c),
            "torch": "nn.BatchNorm2d",
        },
        "layer": {
            "shape": "NCHW",
            "ours": lambda fused: Norm(c, "CHW", affine="element", spatial=(h, w), fused=fused),
            "ref": lambda x, p: F.layer_norm(x, [c, h, w], p[0], p[1]),
            "torch": "F.layer_norm over [C, H, W]",
        },
        "layer_channel_affine": {
            "shape": "NCHW",
            "ours": lambda fused: Norm.layer(c, fused=fused),
            "ref": ln_channel,
            "torch": "F.layer_norm over [C, H, W] + per-channel affine",
        },
        "layer1d": {
            "shape": "NF",
            "ours": lambda fused: Norm(f, ("C",), fused=fused),
            "ref": lambda x, p: F.layer_norm(x, [f], p[0], p[1]),
            "torch": "F.layer_norm over [F]",
        },
        "instance": {
            "shape": "NCHW",
            "ours": lambda fused: Norm.instance(c, fused=fused),
            "ref": lambda x, p: F.instance_norm(x, weight=p[0], bias=p[1]),
            "torch": "F.instance_norm",
        },
        "group": {
            "shape": "NCHW",
            "ours": lambda fused: Norm.group(c, 3, fused=fused),
            "ref": lambda x, p: F.group_norm(x, 3, p[0], p[1]),
            "torch": "F.group_norm, 3 groups",
        },
    }


def _max_diff(a: torch.Tensor | None, b: torch.Tensor | None) -> float:
    if a is None or b is None:
        return float("nan")
    return float((a.detach() - b.detach()).abs().max())


def _compare(case: dict[str, Any], fused: bool, inputs: list[torch.Tensor], gen) -> dict:
    """Our layer vs the reference on the same inputs: outputs and gradients in training
    mode, running statistics after every batch, outputs in eval mode."""
    ours = case["ours"](fused)
    shape = ours.weight.shape
    weight = 1.0 + 0.5 * torch.randn(shape, generator=gen)
    bias = torch.randn(shape, generator=gen)
    with torch.no_grad():
        ours.weight.copy_(weight)
        ours.bias.copy_(bias)
    module = case.get("module", lambda: None)()
    if module is not None:
        with torch.no_grad():
            module.weight.copy_(weight)
            module.bias.copy_(bias)
    out = {"train": 0.0, "grad_x": 0.0, "grad_params": 0.0, "running": 0.0, "eval": 0.0}
    for x in inputs[:-1]:
        xa = x.clone().requires_grad_(True)
        xb = x.clone().requires_grad_(True)
        wb = weight.clone().requires_grad_(True)
        bb = bias.clone().requires_grad_(True)
        ya = ours(xa)
        if module is not None:
            yb = module(xb)
        else:
            yb = case["ref"](xb, (wb, bb))
        g = torch.randn(ya.shape, generator=gen)  # a random upstream gradient
        ours.zero_grad()
        (ya * g).sum().backward()
        (yb * g).sum().backward()
        ref_w = module.weight.grad if module is not None else wb.grad
        ref_b = module.bias.grad if module is not None else bb.grad
        if module is not None:
            module.zero_grad()
        out["train"] = max(out["train"], _max_diff(ya, yb))
        out["grad_x"] = max(out["grad_x"], _max_diff(xa.grad, xb.grad))
        out["grad_params"] = max(
            out["grad_params"], _max_diff(ours.weight.grad, ref_w), _max_diff(ours.bias.grad, ref_b)
        )
        if module is not None:
            out["running"] = max(
                out["running"],
                _max_diff(ours.running_mean, module.running_mean),
                _max_diff(ours.running_var, module.running_var),
            )
    ours.eval()
    x = inputs[-1]
    with torch.no_grad():
        if module is not None:
            module.eval()
            ref = module(x)
        else:
            ref = case["ref"](x, (weight, bias))
        out["eval"] = _max_diff(ours(x), ref)
    out["stat_shape"] = list(ours.last_mean.shape) if ours.last_mean is not None else None
    return out


@experiment(
    "norm_reference",
    ["G-BN1", "G-BN3", "G-AXES", "G-LNPARAMS"],
    "Every axes choice against torch's own norm layers; affine parameter counts",
)
def norm_reference(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    shape: tuple[int, int, int, int] = (8, 6, 5, 4),
    features: int = 10,
    batches: int = 3,
) -> Result:
    """``vizlab.nn.Norm`` for each axes choice vs torch's reference (G-BN1, G-BN3, G-AXES),
    and the affine parameter counts (G-LNPARAMS).

    On random float32 inputs with a non-zero mean (``shape = (N, C, H, W)``, and
    ``(2N, features)`` for the fully connected cases), with random affine parameters, for
    ``batches`` training batches then one eval batch, and with both of ``Norm``'s paths
    (torch's fused kernel and the plain definition): the largest absolute difference of the
    outputs (train and eval mode), of the gradients with respect to the input and to the
    affine parameters, and of the running statistics (batch norm: ``nn.BatchNorm1d`` per
    column of an ``(N, F)`` input, ``nn.BatchNorm2d`` per channel over ``(N, H, W)``).

    The parameter counts: ``Norm`` over ``(C, H, W)`` with ``affine`` ``None``,
    ``"channel"`` and ``"element"`` next to torch's ``nn.LayerNorm([C, H, W])``, for the
    small shape and for a 16-channel 32x32 map. Runs on the CPU (a numeric check; ``data``
    and ``device`` are not used); both scales are the same.
    """
    gen = torch.Generator().manual_seed(seed)
    n, c, h, w = shape
    cases = _reference_cases(c, h, w, features)
    inputs = {
        "NCHW": [2.0 + 3.0 * torch.randn(shape, generator=gen) for _ in range(batches + 1)],
        "NF": [
            2.0 + 3.0 * torch.randn((2 * n, features), generator=gen) for _ in range(batches + 1)
        ],
    }
    diffs: dict[str, Any] = {}
    for name, case in cases.items():
        if stopped(stop):
            break
        per_path = {
            path: _compare(case, fused, inputs[case["shape"]], gen)
            for path, fused in (("fused", True), ("plain", False))
        }
        keys = ("train", "eval", "grad_x", "grad_params", "running")
        row = {k: max(per_path["fused"][k], per_path["plain"][k]) for k in keys}
        row["max"] = max(row.values())
        row["torch"] = case["torch"]
        row["stat_shape"] = per_path["plain"]["stat_shape"]
        row["by_path"] = {p: {k: per_path[p][k] for k in keys} for p in per_path}
        diffs[name] = row

    params = {}
    for label, (pc, ph, pw) in (("small", (c, h, w)), ("conv16x32x32", (16, 32, 32))):
        counts = {
            str(affine): sum(
                p.numel() for p in Norm(pc, "CHW", affine=affine, spatial=(ph, pw)).parameters()
            )
            for affine in ("channel", "element", None)
        }
        counts["torch_layernorm"] = sum(p.numel() for p in nn.LayerNorm([pc, ph, pw]).parameters())
        counts["torch_layernorm_no_affine"] = sum(
            p.numel() for p in nn.LayerNorm([pc, ph, pw], elementwise_affine=False).parameters()
        )
        counts["2C"], counts["2CHW"] = 2 * pc, 2 * pc * ph * pw
        counts["shape"] = [pc, ph, pw]
        params[label] = counts

    tol = 1e-4
    facts = {
        "matches_batchnorm1d": diffs.get("batch1d", {}).get("max", 1.0) < tol,
        "matches_batchnorm2d": diffs.get("batch2d", {}).get("max", 1.0) < tol,
        "every_choice_matches_torch": len(diffs) == len(cases)
        and all(row["max"] < tol for row in diffs.values()),
        "layernorm_element_params_2CHW": all(
            p["element"] == p["2CHW"] == p["torch_layernorm"] for p in params.values()
        ),
    }
    numbers = {"diffs": diffs, "params": params, "tolerance": tol, "shape": list(shape)}
    config = {"shape": list(shape), "features": features, "batches": batches, "seed": seed}
    rows = ("G-BN1", "G-BN3", "G-AXES", "G-LNPARAMS")
    return Result("norm_reference", rows, scale, numbers, facts, config)


@drawer("norm_reference")
@styled_drawer
def _draw_norm_reference(result: Result) -> dict[str, tuple[Figure, str]]:
    num = result.numbers
    diffs = num["diffs"]
    fig = new_figure(None, (12.0, 5.5))
    ax = fig.add_subplot()
    names = list(diffs)
    kinds = ("train", "eval", "grad_x", "grad_params")
    width = 0.8 / len(kinds)
    for k, kind in enumerate(kinds):
        values = [max(diffs[nm][kind], 1e-12) for nm in names]
        ax.bar(np.arange(len(names)) + k * width, values, width, label=kind, color=layer_color(k))
    ax.axhline(num["tolerance"], color=MARK, linestyle=":", label="tolerance")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=20)
    ax.set_ylabel("max |ours - torch|")
    ax.legend(loc="upper left", ncols=3)
    ax.set_title("Norm vs torch's batch/layer/instance/group norm (float32)")
    small = num["params"]["small"]
    cube = axes_cubes(("batch", "layer", "instance", "group"))
    cube.suptitle(
        f"C, H, W = {small['shape']}: layer norm affine per channel 2C = {small['channel']}, "
        f"per element 2CHW = {small['element']} (torch LayerNorm: {small['torch_layernorm']})"
    )
    worst = max(row["max"] for row in diffs.values()) if diffs else float("nan")
    return {
        "reference_diffs": (fig, f"Largest difference from torch over all checks: {worst:.1e}."),
        "axes_cubes": (cube, "Which elements share one mean and variance, per choice of axes."),
    }
