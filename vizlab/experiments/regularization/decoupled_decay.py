"""E-WD: weight decay vs L2, inside Adam and inside SGD (Loshchilov & Hutter 2019).

With one coefficient ``lam``, an L2 penalty ``lam/2 * ||w||^2`` and decoupled decay
``w <- w * (1 - lr * lam)`` are the same update for plain SGD and different ones for Adam
(Adam rescales the penalty's gradient).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from vizlab.data import Dataset
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.experiments.regularization.models import mlp_for
from vizlab.experiments.regularization.weights import flat_weights, weight_norms
from vizlab.plots.style import PALETTE, new_figure, styled
from vizlab.train import fit

__all__ = ["weight_decay"]

_WD_RUNS = (
    # name, optimizer, how the coefficient lam enters (l2 penalty or decoupled decay)
    ("adam + L2", "adam", "l2"),
    ("adamw", "adamw", "decay"),
    ("sgd + L2", "sgd", "l2"),
    ("sgd + decay", "sgd", "decay"),
)


@experiment("weight_decay", ["E-WD"], "Weight decay vs L2 inside Adam and SGD")
def weight_decay(
    *,
    scale: str = "quick",
    data: Dataset | str | None = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Iterable[Any] = (),
    lam: float = 0.01,
) -> Result:
    """Adam + L2 vs AdamW, and SGD + L2 vs SGD + decay, all with one coefficient ``lam``.

    The L2 runs minimise ``loss + lam/2 ||w||^2`` (``fit(l2=lam / 2)``), whose gradient adds
    ``lam * w``; the decay runs shrink ``w <- w (1 - lr lam)`` next to the step
    (``fit(weight_decay=lam)``). Every run starts from the same weights and sees the same
    batches. Plain SGD (momentum 0) makes the two the same update, so its weights agree to
    float rounding; Adam divides ``lam * w`` by the running gradient scale, so Adam + L2 and
    AdamW end with different weights (Loshchilov & Hutter, "Decoupled Weight Decay
    Regularization", 2019). Holds at both scales. The runs are float32 throughout
    (``amp=None``): the comparison is about the update rule, not about bf16 rounding.

    Numbers: ``runs`` (names), ``layer_norms`` (per run ``{layer: ||w||}``), ``test_acc``,
    ``adam_diff`` / ``sgd_diff``: ``max |w1 - w2|`` over all weights of each pair, and
    ``adam_rel_diff`` / ``sgd_rel_diff``: ``||w1 - w2|| / ||w1||``.
    """
    data = dataset(data, "digits", seed=seed)
    weights, layer_norms, test_acc, names = [], [], [], []
    for name, optimizer, rule in _WD_RUNS:
        if stopped(stop):
            break
        model = mlp_for(data, [64], seed)
        penalty = {"l2": lam / 2} if rule == "l2" else {"weight_decay": lam}
        history = fit(
            model, data, epochs=pick(scale, 10, 30), batch_size=64, optimizer=optimizer,
            lr=1e-3 if optimizer.startswith("adam") else 0.2, momentum=0.0, device=device,
            seed=seed, stop=stop, callbacks=callbacks, amp=None, **penalty,
        )  # fmt: skip
        names.append(name)
        weights.append(flat_weights(model).double())
        layer_norms.append({k: v for k, v in weight_norms(model).items()})
        test_acc.append(history.test_acc)

    def diffs(i: int, j: int) -> tuple[float, float]:
        if len(weights) <= max(i, j):
            return math.nan, math.nan
        d = weights[i] - weights[j]
        return float(d.abs().max()), float(d.norm() / weights[i].norm())

    adam_diff, adam_rel = diffs(0, 1)
    sgd_diff, sgd_rel = diffs(2, 3)
    numbers = {
        "lam": lam,
        "runs": names,
        "layer_norms": layer_norms,
        "test_acc": test_acc,
        "adam_diff": adam_diff,
        "adam_rel_diff": adam_rel,
        "sgd_diff": sgd_diff,
        "sgd_rel_diff": sgd_rel,
    }
    facts = {
        "adam_l2_differs_from_adamw": adam_rel > 0.05,
        "sgd_l2_equals_decay": sgd_diff < 1e-4,
    }
    config = {"data": data.name, "train": len(data.train), "seed": seed, "momentum": 0.0}
    return Result("weight_decay", ("E-WD",), scale, numbers, facts, config)


@drawer("weight_decay")
@styled
def _draw_weight_decay(result: Result) -> dict[str, tuple[Figure, str]]:
    n = result.numbers
    fig = new_figure(None, (13.0, 4.8))
    ax_norm, ax_acc = fig.subplots(1, 2, width_ratios=(2, 1))
    layers = [k for k in (n["layer_norms"][0] if n["layer_norms"] else {}) if k != "total"]
    width = 0.8 / max(len(n["runs"]), 1)
    x = np.arange(len(layers))
    for i, (name, norms) in enumerate(zip(n["runs"], n["layer_norms"])):
        ax_norm.bar(x + i * width, [norms[k] for k in layers], width, color=PALETTE[i], label=name)
    ax_norm.set_xticks(x + width * (len(n["runs"]) - 1) / 2, layers)
    ax_norm.set_ylabel("||w|| per layer")
    ax_norm.set_title(f"same coefficient lam={n['lam']:g}")
    ax_norm.legend(loc="best", fontsize="small")
    ax_acc.bar(np.arange(len(n["runs"])), n["test_acc"], color=PALETTE[: len(n["runs"])])
    ax_acc.set_xticks(np.arange(len(n["runs"])), n["runs"], rotation=30, ha="right")
    ax_acc.set_ylim(0, 1)
    ax_acc.set_ylabel("test accuracy")
    caption = (
        f"Adam+L2 vs AdamW: weights differ by {n['adam_rel_diff']:.1%}; "
        f"SGD+L2 vs SGD+decay: max |dw| = {n['sgd_diff']:.1e}"
    )
    return {"weight_decay": (fig, caption)}
