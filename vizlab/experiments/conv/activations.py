"""A-ACT: ReLU vs sigmoid, gradient size per layer.

``activation_gradients``: with the same weights, a sigmoid net's early layers get gradients
orders of magnitude smaller than a ReLU net's at initialization.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from vizlab import models
from vizlab.device import resolve_device
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.plots import draw_activation_hist, draw_grad_flow
from vizlab.plots.style import layer_color, new_figure, styled
from vizlab.probes import trace, watch
from vizlab.train import fit


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
