"""E-L1 and E-REPARAM: L1 gives sparse weights, ``w = a * b`` gets exact zeros.

Ziyin & Wang, "Sparsity by Redundancy: Solving L1 with a Simple Reparametrization", 2022.

L1 drives many more weights to about zero than L2 at the same accuracy; writing
``w = a * b`` and putting L2 on ``a`` and ``b`` gives the same objective as L1 on ``w`` but,
with plain SGD, reaches weights that are zero to numerical precision, which the L1
subgradient (it flips sign around zero forever) does not.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from vizlab.data import Dataset
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.experiments.regularization.models import mlp_for, reparameterize
from vizlab.experiments.regularization.weights import (
    EXACT_ZERO,
    NEAR_ZERO,
    flat_weights,
    layer_weights,
    zero_fractions,
)
from vizlab.plots import constrained_optimum, lasso_ridge
from vizlab.plots.style import MARK, PALETTE, new_figure, styled
from vizlab.train import fit

__all__ = ["sparsity"]

_THRESHOLDS = (1e-2, 1e-3, 1e-4, 1e-6, 1e-8)
_LOG_EDGES = np.linspace(-12.0, 1.0, 53)  # log10 |w| bins; |w| < 1e-12 counts in the first


def _log_hist(w: torch.Tensor) -> list[int]:
    logs = np.log10(np.maximum(w.abs().double().numpy(), 10.0**-12))
    counts, _ = np.histogram(np.clip(logs, _LOG_EDGES[0], _LOG_EDGES[-1]), bins=_LOG_EDGES)
    return counts.tolist()


def _lasso_ridge_data(
    center: Sequence[float] = (1.2, 0.5), a: Any = ((1.0, 0.4), (0.4, 0.6)), radius: float = 1.0
) -> dict[str, Any]:
    """The 2-D picture: where a quadratic loss first touches the L1 diamond and the L2 disc."""
    l1 = constrained_optimum(center, a, norm=1, radius=radius)
    l2 = constrained_optimum(center, a, norm=2, radius=radius)
    return {
        "center": list(center),
        "a": [list(row) for row in a],
        "radius": radius,
        "l1_optimum": l1.tolist(),
        "l2_optimum": l2.tolist(),
    }


@experiment("sparsity", ["E-L1", "E-REPARAM"], "L1 gives sparse weights; w = a*b gets exact zeros")
def sparsity(
    *,
    scale: str = "quick",
    data: Dataset | str | None = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Iterable[Any] = (),
    c: float = 5e-3,
    l2_factors: Sequence[float] = (1.0, 2.0),
    epochs: int | None = None,
) -> Result:
    """L1 vs L2 vs ``w = a * b`` with L2 on ``a, b``, all with plain SGD (momentum 0).

    Every run starts from the same initial function and sees the same batches:

    - ``fit(l1=c)``;
    - a :func:`reparameterize`-d copy with ``fit(l2=c/2)``: the same objective as L1 with
      coefficient ``c`` (see :class:`ReparamLinear`);
    - ``fit(l2=f*c)`` for each ``f`` of ``l2_factors``. The L2 run whose test accuracy is
      closest to the L1 run's is the *matched* one: L2 keeps more accuracy than L1 at the
      same coefficient, so matching accuracy needs a larger L2 coefficient.

    Facts:

    - E-L1: at matched test accuracy (within 0.02), L1 leaves a larger fraction of weights
      near zero (``|w| < NEAR_ZERO``) than L2, which shrinks weights without zeroing them.
    - E-REPARAM: the L1 subgradient ``c * sign(w)`` overshoots zero at every step, so L1
      weights hover around zero at about ``lr * c`` and almost none get below
      ``EXACT_ZERO``; in the reparameterization an unused ``a`` and ``b`` shrink
      geometrically, so several percent of the weights become zero to numerical precision
      (the gap grows with the number of steps; ``full`` trains longer).

    Numbers: ``runs`` (``L2`` matched, ``L1``, ``a*b + L2``), ``test_acc``, ``near_zero``,
    ``exact_zero``, ``fractions`` (``|w| <`` each of ``thresholds``), ``log_hist`` /
    ``log_edges`` (histograms of log10 |w|) and ``layer_exact_zero``, all per run;
    ``l2_runs`` (every L2 coefficient with its accuracy and near-zero fraction),
    ``matched_l2`` and ``lasso_ridge`` (the 2-D picture: each constrained optimum).
    """
    data = dataset(data, "digits", seed=seed)
    plan = [("L1", {"l1": c}, False), ("a*b + L2", {"l2": c / 2}, True)]
    plan += [(f"L2 {f * c:g}", {"l2": f * c}, False) for f in l2_factors]
    runs: list[dict[str, Any]] = []
    for name, penalty, reparam in plan:
        if stopped(stop):
            break
        model = mlp_for(data, [32], seed, activation="tanh")
        if reparam:
            reparameterize(model)
        history = fit(
            model, data, epochs=epochs or pick(scale, 40, 150), batch_size=32, optimizer="sgd",
            lr=0.3, momentum=0.0, device=device, seed=seed, stop=stop, callbacks=callbacks,
            **penalty,
        )  # fmt: skip
        w = flat_weights(model)
        runs.append({
            "name": name, "penalty": penalty, "test_acc": history.test_acc, "weights": w,
            **zero_fractions(w),
            "layer_exact_zero": {
                k: zero_fractions(v.float().cpu())["exact_zero"]
                for k, v in layer_weights(model).items()
            },
        })  # fmt: skip
    l2_runs = [
        {"l2": r["penalty"]["l2"], "test_acc": r["test_acc"], "near_zero": r["near_zero"]}
        for r in runs[2:]
    ]
    facts: dict[str, bool] = {}
    if len(runs) == len(plan):
        l1_run = runs[0]
        matched = min(runs[2:], key=lambda r: abs(r["test_acc"] - l1_run["test_acc"]))
        runs = [{**matched, "name": "L2"}, *runs[:2]]
    shown = runs if len(runs) == 3 and runs[0]["name"] == "L2" else []
    lasso = _lasso_ridge_data()
    numbers = {
        "c": c,
        "runs": [r["name"] for r in shown],
        "matched_l2": shown[0]["penalty"]["l2"] if shown else None,
        "l2_runs": l2_runs,
        "test_acc": [r["test_acc"] for r in shown],
        "near_zero": [r["near_zero"] for r in shown],
        "exact_zero": [r["exact_zero"] for r in shown],
        "thresholds": list(_THRESHOLDS),
        "fractions": [
            {f"{t:g}": float((r["weights"].abs() < t).float().mean()) for t in _THRESHOLDS}
            for r in shown
        ],
        "layer_exact_zero": [r["layer_exact_zero"] for r in shown],
        "log_edges": _LOG_EDGES.tolist(),
        "log_hist": [_log_hist(r["weights"]) for r in shown],
        "lasso_ridge": lasso,
    }
    if shown:
        acc, near, exact = numbers["test_acc"], numbers["near_zero"], numbers["exact_zero"]
        facts = {
            "l1_sparser_than_l2": abs(acc[1] - acc[0]) <= 0.02 and near[1] > near[0],
            "reparam_exactly_sparser": exact[2] > exact[1],
        }
    facts["lasso_corner"] = (
        min(abs(v) for v in lasso["l1_optimum"]) < 1e-9
        and min(abs(v) for v in lasso["l2_optimum"]) > 1e-3
    )
    config = {"data": data.name, "train": len(data.train), "seed": seed, "optimizer": "sgd"}
    return Result("sparsity", ("E-L1", "E-REPARAM"), scale, numbers, facts, config)


@drawer("sparsity")
@styled
def _draw_sparsity(result: Result) -> dict[str, tuple[Figure, str]]:
    n = result.numbers
    fig = new_figure(None, (13.0, 4.8))
    ax_hist, ax_frac = fig.subplots(1, 2)
    edges = np.asarray(n["log_edges"])
    for i, (name, counts) in enumerate(zip(n["runs"], n["log_hist"])):
        ax_hist.stairs(counts, edges, color=PALETTE[i], linewidth=2, label=name)
    for t, style in ((NEAR_ZERO, "--"), (EXACT_ZERO, ":")):
        ax_hist.axvline(math.log10(t), color=MARK, linestyle=style)
    ax_hist.set_yscale("symlog")
    ax_hist.set_xlabel("log10 |w|  (first bin: |w| < 1e-12)")
    ax_hist.set_ylabel("weights")
    ax_hist.legend(loc="upper left", fontsize="small")
    x = np.arange(len(n["thresholds"]))
    width = 0.8 / max(len(n["runs"]), 1)
    for i, (name, fr) in enumerate(zip(n["runs"], n["fractions"])):
        acc = n["test_acc"][i]
        label = f"{name} (test acc {acc:.2f})"
        ax_frac.bar(x + i * width, list(fr.values()), width, color=PALETTE[i], label=label)
    ax_frac.set_xticks(x + width * (len(n["runs"]) - 1) / 2, [f"<{t:g}" for t in n["thresholds"]])
    ax_frac.set_xlabel("|w| below")
    ax_frac.set_ylabel("fraction of weights")
    ax_frac.legend(loc="upper right", fontsize="small")
    near, exact = n["near_zero"], n["exact_zero"]
    caption = "near zero: " + ", ".join(f"{r} {v:.0%}" for r, v in zip(n["runs"], near))
    caption += "; exactly zero: " + ", ".join(f"{r} {v:.2%}" for r, v in zip(n["runs"], exact))
    lr = n["lasso_ridge"]
    picture = lasso_ridge(lr["center"], lr["a"], radius=lr["radius"])
    return {
        "sparsity": (fig, caption),
        "lasso_ridge": (
            picture,
            "the loss ellipses touch the L1 diamond at a corner (w1 or w2 = 0)",
        ),
    }
