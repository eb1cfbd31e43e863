"""A-ZOO: the architecture zoo.

``zoo``: every family of ``vizlab.models``: its layer table agrees with a forward pass and
``numel``, and it learns the embedded digits well above chance. ``zoo_model`` builds one
family at the zoo's sizes (the panels use it too).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import nn

from vizlab import models
from vizlab.device import resolve_device
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.plots import param_bars, summary_table
from vizlab.plots.style import layer_color, new_figure, styled
from vizlab.train import fit


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
