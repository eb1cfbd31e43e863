"""E-L2: the L2 penalty ``lambda * ||w||^2`` from 0 to too large.

The same run for every lambda; the final weight norm shrinks monotonically with lambda, and
a too-large lambda costs accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from vizlab.data import Dataset
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.experiments.regularization.models import mlp_for
from vizlab.experiments.regularization.weights import weight_norms
from vizlab.plots.style import PALETTE, new_figure, styled
from vizlab.train import fit

__all__ = ["l2_sweep"]


class _EpochNorms:
    """Callback: per-layer weight norms after every epoch (and before the first)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_fit_start(self, state: Any) -> None:
        self.rows.append({"epoch": 0, **weight_norms(state.model)})

    def on_epoch_end(self, state: Any) -> None:
        self.rows.append({"epoch": state.epoch, **weight_norms(state.model)})


@experiment("l2_sweep", ["E-L2"], "L2 penalty lambda * ||w||^2: from 0 to too large")
def l2_sweep(
    *,
    scale: str = "quick",
    data: Dataset | str | None = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Iterable[Any] = (),
    lambdas: Sequence[float] = (0.0, 1e-4, 1e-3, 1e-2, 1e-1),
) -> Result:
    """Train the same MLP (same seed, same batches) with ``l2 = lambda`` for each lambda.

    The weight norm of every layer is measured after each epoch. The penalty's gradient
    ``2 lambda w`` pulls every weight toward zero, so the final norm falls as lambda grows;
    at the largest lambda the pull wins over the data and accuracy drops. Holds at both
    scales.

    Numbers: ``lambdas``; ``norms`` (per lambda, rows ``{epoch, <layer>..., total}``);
    ``final_norm``, ``test_acc``, ``val_acc`` (per lambda, in the order of ``lambdas``).
    """
    data = dataset(data, "digits", seed=seed)
    lambdas = [float(v) for v in lambdas]
    if sorted(lambdas) != lambdas or len(set(lambdas)) != len(lambdas):
        raise ValueError(f"lambdas must be increasing and distinct, got {lambdas}")
    norms, final_norm, test_acc, val_acc = [], [], [], []
    for lam in lambdas:
        if stopped(stop):
            break
        model = mlp_for(data, [64], seed)
        trace = _EpochNorms()
        history = fit(
            model, data, epochs=pick(scale, 12, 40), batch_size=64, optimizer="sgd", lr=0.05,
            momentum=0.9, l2=lam, device=device, seed=seed, stop=stop,
            callbacks=[trace, *callbacks],
        )  # fmt: skip
        norms.append(trace.rows)
        final_norm.append(trace.rows[-1]["total"])
        test_acc.append(history.test_acc)
        val_acc.append(history.val_acc[-1] if history.val_acc else math.nan)
    numbers = {
        "lambdas": lambdas[: len(norms)],
        "norms": norms,
        "final_norm": final_norm,
        "test_acc": test_acc,
        "val_acc": val_acc,
    }
    done = len(final_norm) == len(lambdas) and len(lambdas) > 1
    facts = {
        "norm_shrinks_with_lambda": done and all(a > b for a, b in zip(final_norm, final_norm[1:])),
        "too_large_hurts": done and test_acc[-1] < max(test_acc) - 0.05,
    }
    config = {"data": data.name, "train": len(data.train), "seed": seed, "optimizer": "sgd"}
    return Result("l2_sweep", ("E-L2",), scale, numbers, facts, config)


@drawer("l2_sweep")
@styled
def _draw_l2_sweep(result: Result) -> dict[str, tuple[Figure, str]]:
    n = result.numbers
    fig = new_figure(None, (13.0, 4.8))
    ax_norm, ax_final = fig.subplots(1, 2)
    for i, (lam, rows) in enumerate(zip(n["lambdas"], n["norms"])):
        ax_norm.plot(
            [r["epoch"] for r in rows], [r["total"] for r in rows],
            color=PALETTE[i % 7], marker="o", label=f"lambda={lam:g}",
        )  # fmt: skip
    ax_norm.set_xlabel("epoch")
    ax_norm.set_ylabel("||w|| (all layers)")
    ax_norm.legend(loc="best", fontsize="small")
    x = np.arange(len(n["final_norm"]))
    ax_final.bar(x, n["final_norm"], color=PALETTE[0], label="final ||w||")
    ax_final.set_xticks(x, [f"{lam:g}" for lam in n["lambdas"]])
    ax_final.set_xlabel("lambda")
    ax_final.set_ylabel("final ||w||")
    ax_acc = ax_final.twinx()
    ax_acc.plot(x, n["test_acc"], color=PALETTE[1], marker="o", label="test accuracy")
    ax_acc.set_ylim(0, 1)
    ax_acc.set_ylabel("test accuracy")
    ax_acc.legend(loc="upper right", fontsize="small")
    caption = "final weight norm " + " > ".join(f"{v:.2f}" for v in n["final_norm"])
    return {"l2_sweep": (fig, caption)}
