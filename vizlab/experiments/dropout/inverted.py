"""F-INV: inverted dropout keeps the expectation.

``inverted_dropout``: the mean of many training passes equals the input within a tolerance
set by the standard error; in eval mode the layer is the identity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.experiments.dropout.common import stopped_result
from vizlab.nn import DropConnectLinear, Dropout
from vizlab.plots.style import MARK, PALETTE, new_figure, styled


@torch.no_grad()
def _mean_of_passes(layer: nn.Module, x: torch.Tensor, samples: int) -> torch.Tensor:
    total = torch.zeros_like(layer(x), dtype=torch.float64)
    for _ in range(samples):
        total += layer(x).double()
    return total / samples


@experiment(
    "inverted_dropout", ("F-INV",), "Inverted dropout: same mean in training, identity after"
)
def inverted_dropout(
    *,
    scale: str = "quick",
    data=None,
    device: str = "auto",
    seed: int = 0,
    stop=None,
    callbacks=(),
    rates: Sequence[float] = (0.2, 0.5, 0.8),
    samples: int | None = None,
) -> Result:
    """Average many training passes of each dropout layer and compare with the input.

    The input ``H`` is the tanh feature maps of a seeded conv layer on 32 real images (no
    zeros). For a kept probability ``1 - p`` an inverted-dropout output is ``H / (1 - p)``
    or 0, so each element has standard deviation ``|H| sqrt(p / (1 - p))`` and the mean of
    ``S`` passes has standard error ``|H| sqrt(p / (1 - p)) / sqrt(S)``. Every element's mean
    must lie within 6 standard errors of ``H`` (for ~16k elements a correct layer fails this
    with probability below 1e-4); the z-scores of element dropout must have a standard
    deviation of 1 +- 0.1, which checks the error model itself. Plain (non-inverted) dropout
    would be off by ``p |H|``, many standard errors. In eval mode every variant returns
    exactly its input (DropConnect: the plain linear layer). Holds at any scale.
    """
    gen = torch.Generator().manual_seed(seed)
    data = dataset(data, "digits", seed=seed)
    dev = torch.device("cpu")  # tiny tensors: the device would only add transfers
    samples = samples or pick(scale, 1000, 20000)
    x = data.test.x[:32].to(dev)
    conv = nn.Conv2d(data.shape[0], 8, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.5)
        conv.bias.copy_(torch.rand(conv.bias.shape, generator=gen) * 0.2 + 0.05)
        h = torch.tanh(conv(x))  # (32, 8, H, W)
    torch.manual_seed(seed)

    cases: dict[str, dict[str, Any]] = {}
    for kind in ("element", "channel"):
        for p in rates:
            if stopped(stop):
                return stopped_result("inverted_dropout", ("F-INV",), scale, {"cases": cases})
            layer = Dropout(p, kind).train()
            mean = _mean_of_passes(layer, h, samples).float()
            se = h.abs() * math.sqrt(p / (1 - p)) / math.sqrt(samples)
            z = (mean - h) / se
            cases[f"{kind} p={p}"] = {
                "kind": kind,
                "p": p,
                "max_abs_z": float(z.abs().max()),
                "z_std": float(z.std()),
                "z_mean": float(z.mean()),
                "max_rel_err": float(((mean - h) / h).abs().max()),
                "plain_dropout_z": float((p * h.abs() / se).median()),  # bias if not rescaled
                "input": h.flatten()[:400].tolist(),
                "mean": mean.flatten()[:400].tolist(),
            }

    # DropConnect: E[x (W * M)^T / (1 - p)] = x W^T, per output with its own standard error
    p_dc = 0.5
    flat = h.flatten(1)  # (32, 8*H*W)
    dc = DropConnectLinear(flat.shape[1], 16, p_dc).train()
    with torch.no_grad():
        exact = F.linear(flat, dc.weight, dc.bias)
        var = (flat**2) @ (dc.weight**2).T * (p_dc / (1 - p_dc))  # (32, 16)
        mean = _mean_of_passes(dc, flat, samples).float()
        z = (mean - exact) / (var.sqrt() / math.sqrt(samples))
    cases[f"dropconnect p={p_dc}"] = {
        "kind": "dropconnect",
        "p": p_dc,
        "max_abs_z": float(z.abs().max()),
        "z_std": float(z.std()),
        "z_mean": float(z.mean()),
        "input": exact.flatten()[:400].tolist(),
        "mean": mean.flatten()[:400].tolist(),
    }

    eval_exact = {}
    with torch.no_grad():
        for kind in ("element", "channel", "cutout"):
            eval_exact[kind] = bool(torch.equal(Dropout(0.5, kind).eval()(h), h))
        eval_exact["dropconnect"] = bool(torch.equal(dc.eval()(flat), exact))

    tolerance = 6.0
    facts = {
        "training_mean_equals_input": all(c["max_abs_z"] < tolerance for c in cases.values()),
        "standard_error_model_fits": all(
            abs(c["z_std"] - 1) < 0.1 for c in cases.values() if c["kind"] == "element"
        ),
        "eval_output_equals_input": all(eval_exact.values()),
    }
    numbers = {
        "samples": samples,
        "tolerance_se": tolerance,
        "elements": int(h.numel()),
        "cases": cases,
        "eval_exact": eval_exact,
    }
    config = {"data": data.name, "device": str(dev), "seed": seed, "input_shape": list(h.shape)}
    return Result("inverted_dropout", ("F-INV",), scale, numbers, facts, config)


@drawer("inverted_dropout")
@styled
def _draw_inverted(result: Result) -> dict[str, tuple[Figure, str]]:
    cases = result.numbers["cases"]
    fig = new_figure(None, (15.0, 4.8))
    ax_mean, ax_z = fig.subplots(1, 2)
    for i, (name, c) in enumerate(cases.items()):
        if c["kind"] == "element" or c["kind"] == "dropconnect":
            ax_mean.scatter(c["input"], c["mean"], s=8, color=PALETTE[i % 7], label=name)
    lo = min(min(c["input"]) for c in cases.values())
    hi = max(max(c["input"]) for c in cases.values())
    ax_mean.plot([lo, hi], [lo, hi], color=MARK, linestyle="--", label="mean = input")
    ax_mean.set_xlabel("input (or x W^T for DropConnect)")
    ax_mean.set_ylabel(f"mean of {result.numbers['samples']} training passes")
    ax_mean.legend(loc="best", fontsize="small")
    names = list(cases)
    ax_z.bar(range(len(names)), [cases[n]["max_abs_z"] for n in names], color=PALETTE[0])
    ax_z.axhline(result.numbers["tolerance_se"], color=MARK, linestyle="--", label="tolerance")
    ax_z.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax_z.set_ylabel("max |mean - input| / SE")
    ax_z.legend(loc="best")
    caption = "Training-mode mean equals the input within the standard error; eval is identity."
    return {"expectation": (fig, caption)}
