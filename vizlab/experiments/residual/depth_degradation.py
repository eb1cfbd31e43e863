"""H-DEGRADE (He et al. 2016): deeper plain nets train worse; residual nets do not."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from vizlab.experiments.base import Result, drawer, experiment, pick, stopped
from vizlab.experiments.residual.common import data_for, resnet_for
from vizlab.plots.style import layer_color, new_figure, styled
from vizlab.train import fit

__all__ = ["ROWS_DEGRADE", "degradation"]

ROWS_DEGRADE = ("H-DEGRADE",)


@experiment("degradation", ROWS_DEGRADE, "Deeper plain nets train worse; residual nets do not")
def degradation(
    *,
    scale: str = "quick",
    data=None,
    device: str = "auto",
    seed: int = 0,
    stop=None,
    callbacks=(),
    depths: Sequence[int] | None = None,
    epochs: int | None = None,
) -> Result:
    """Plain vs residual nets at a shallow and a deep depth, equal training budget.

    All four nets are CIFAR-style ResNets (batch norm, as in He et al. 2016) or their plain
    twins (same convs, no skips), trained with the same optimizer, lr, batch size, seed and
    number of epochs. The training loss per epoch is recorded (it is an optimization
    effect, not overfitting: the training loss is what degrades).

    Scale: at quick scale (digits, width 8, depths 8 and 32, 4 epochs of Adam, ~10 s on one
    CPU core) the deep plain net ends far above the shallow one (about 1.65 vs 0.65) and the
    deep residual net below the shallow residual one (about 0.12 vs 0.46). Full scale uses
    shapes (32x32), width 16, depths 20 and 56 and 15 epochs, the paper's pair of depths.

    Numbers: ``train_loss[kind][depth]`` (per epoch), ``step_loss[kind][depth]``,
    ``final[kind][depth]``, ``params[kind][depth]``, ``depths``, ``epochs``.
    """
    data = data_for(data, scale, seed)
    shallow, deep = depths or pick(scale, (8, 32), (20, 56))
    epochs = epochs or pick(scale, 4, 15)
    width = pick(scale, 8, 16)
    train_loss: dict[str, dict[str, list]] = {"plain": {}, "residual": {}}
    step_loss: dict[str, dict[str, list]] = {"plain": {}, "residual": {}}
    final: dict[str, dict[str, float]] = {"plain": {}, "residual": {}}
    params: dict[str, dict[str, int]] = {"plain": {}, "residual": {}}
    for depth in (shallow, deep):
        for kind in ("plain", "residual"):
            if stopped(stop):
                break
            torch.manual_seed(seed)
            model = resnet_for(depth, data, residual=kind == "residual", width=width)
            history = fit(
                model, data, epochs=epochs, batch_size=64, lr=1e-3, optimizer="adam",
                device=device, seed=seed, stop=stop, callbacks=callbacks,
            )  # fmt: skip
            key = str(depth)
            train_loss[kind][key] = list(history.train_loss)
            step_loss[kind][key] = list(history.loss)
            final[kind][key] = history.train_loss[-1] if history.train_loss else math.nan
            params[kind][key] = sum(p.numel() for p in model.parameters())
    s, d = str(shallow), str(deep)
    done = all(k in final[kind] for kind in final for k in (s, d))
    facts = {}
    if done:
        facts = {
            "deep_plain_worse": final["plain"][d] > final["plain"][s],
            "deep_residual_not_worse": final["residual"][d] <= final["residual"][s],
            "residual_beats_plain_deep": final["residual"][d] < final["plain"][d],
        }
    return Result(
        "degradation",
        ROWS_DEGRADE,
        scale,
        numbers={
            "depths": [shallow, deep],
            "epochs": epochs,
            "train_loss": train_loss,
            "step_loss": step_loss,
            "final": final,
            "params": params,
        },
        facts=facts,
        config={"data": data.name, "width": width, "norm": "batch", "optimizer": "adam",
                "lr": 1e-3, "batch_size": 64, "seed": seed, "device": device},
    )  # fmt: skip


@drawer("degradation")
@styled
def _draw_degradation(result: Result) -> dict[str, tuple[Figure, str]]:
    nums = result.numbers
    shallow, deep = (str(d) for d in nums["depths"])
    fig = new_figure(None, (13.0, 4.8))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind in zip(axes, ("plain", "residual")):
        for i, depth in enumerate((shallow, deep)):
            losses = nums["train_loss"][kind].get(depth, [])
            steps = nums["step_loss"][kind].get(depth, [])
            color = layer_color(i)
            if steps:
                per_epoch = len(steps) / max(len(losses), 1)
                x = (np.arange(len(steps)) + 1) / per_epoch
                ax.plot(x, steps, color=color, alpha=0.25, linewidth=1)
            ax.plot(np.arange(1, len(losses) + 1), losses, "o-", color=color,
                    label=f"{depth} layers")  # fmt: skip
        ax.set_title(f"{kind} nets")
        ax.set_xlabel("epoch")
        ax.legend(loc="best")
    axes[0].set_ylabel("training loss")
    caption = (
        f"Training loss at equal budget: the {deep}-layer plain net trains worse than the "
        f"{shallow}-layer one; with skips the deeper net trains better."
    )
    return {"degradation": (fig, caption)}
