"""F-SCHED: early and late dropout (Liu et al. 2023).

``dropout_schedule``: no, standard, early and late dropout; the rate used at every step of a
real fit is read from the masks drawn (``RateLog``, shared with the panel).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from matplotlib.figure import Figure

from vizlab import plots
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.experiments.dropout.common import stopped_result
from vizlab.models import mlp
from vizlab.nn import Dropout
from vizlab.nn.schedule import Schedule
from vizlab.plots.style import PALETTE, new_figure, styled
from vizlab.train import fit


class RateLog:
    """A ``fit`` callback: per step, the progress and rate one dropout layer used and the
    fraction of its mask that was dropped (read from ``last_mask``, i.e. measured)."""

    def __init__(self, module: Dropout) -> None:
        self.module = module
        self.steps: list[int] = []
        self.progress: list[float] = []
        self.rate: list[float] = []
        self.dropped: list[float] = []
        self.draws: list[int] = []

    def on_step(self, state: Any) -> None:
        m = self.module  # progress and rate are still those of this step's forward
        mask = m.last_mask
        self.steps.append(state.step)
        self.progress.append(m.progress)
        self.rate.append(m.rate)
        self.dropped.append(1.0 - float(mask.float().mean()))
        self.draws.append(mask.numel())


def _expected_rate(kind: str, p: float, switch: float, progress: float) -> float:
    if kind == "none":
        return 0.0
    if kind == "early":
        return p if progress < switch else 0.0
    if kind == "late":
        return p if progress >= switch else 0.0
    return p


@experiment("dropout_schedule", ("F-SCHED",), "Early and late dropout (Liu et al. 2023)")
def dropout_schedule(
    *,
    scale: str = "quick",
    data=None,
    device: str = "auto",
    seed: int = 0,
    stop=None,
    callbacks=(),
    p: float = 0.5,
    switch: float = 0.25,
    n: int | None = 600,
) -> Result:
    """Train the same MLP with no, standard, early and late dropout and log the rate per step.

    At every step a callback reads the progress the layer was given, its rate, and the
    fraction of units its mask actually dropped. The rate must equal the schedule's formula
    at every step; the dropped fraction must be exactly 0 where the rate is 0 and within 5
    binomial standard errors of ``p`` where it is ``p``. Validation curves of the four runs
    are drawn side by side (Liu et al. find early dropout helps underfitting models and late
    dropout overfitting ones; ``n`` limits the training pool so the MLP overfits). The rate
    fact holds at any scale.
    """
    data = dataset(data, "digits", seed=seed, n=n)
    c, h, w = data.shape
    epochs = pick(scale, 8, 40)
    runs: dict[str, Any] = {}
    for kind in ("none", "standard", "early", "late"):
        if stopped(stop):
            return stopped_result("dropout_schedule", ("F-SCHED",), scale, {"runs": runs})
        torch.manual_seed(seed)
        model = mlp([c * h * w, 256, 256, data.num_classes], dropout=p)
        drops = [m for m in model.modules() if isinstance(m, Dropout)]
        for m in drops:
            m.p = 0.0 if kind == "none" else p
            m.schedule = Schedule(kind if kind in ("early", "late") else "constant", switch)
        log = RateLog(drops[0])
        history = fit(
            model, data, epochs=epochs, batch_size=64, lr=1e-3, device=device, seed=seed,
            stop=stop, callbacks=[log, *callbacks],
        )  # fmt: skip
        expected = [_expected_rate(kind, p, switch, g) for g in log.progress]
        se = [math.sqrt(r * (1 - r) / d) for r, d in zip(expected, log.draws)]
        runs[kind] = {
            "steps": log.steps,
            "progress": log.progress,
            "rate": log.rate,
            "expected": expected,
            "dropped": log.dropped,
            "rate_matches": log.rate == expected,
            "off_exact": all(d == 0.0 for d, e in zip(log.dropped, expected) if e == 0.0),
            "on_max_z": max(
                [abs(d - e) / s for d, e, s in zip(log.dropped, expected, se) if e > 0] or [0.0]
            ),
            "history": history.as_dict(),
            "final": history.final(),
        }
    if stopped(stop):
        return stopped_result("dropout_schedule", ("F-SCHED",), scale, {"runs": runs})
    facts = {
        "rate_follows_schedule": all(r["rate_matches"] for r in runs.values()),
        "masks_follow_rate": all(r["off_exact"] and r["on_max_z"] < 5 for r in runs.values()),
    }
    numbers = {"p": p, "switch": switch, "runs": runs}
    config = {"data": data.name, "n": n, "device": device, "seed": seed, "epochs": epochs}
    return Result("dropout_schedule", ("F-SCHED",), scale, numbers, facts, config)


@drawer("dropout_schedule")
@styled
def _draw_schedule(result: Result) -> dict[str, tuple[Figure, str]]:
    runs = result.numbers["runs"]
    rates = plots.dropout_schedule({k: (r["progress"], r["dropped"]) for k, r in runs.items()})
    fig = new_figure(None, (13.0, 4.5))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (kind, r) in enumerate(runs.items()):
        h = r["history"]
        ax_loss.plot(h["epochs"], h["val_loss"], marker="o", color=PALETTE[i], label=kind)
        ax_acc.plot(h["epochs"], h["val_acc"], marker="o", color=PALETTE[i], label=kind)
    for ax, label in ((ax_loss, "validation loss"), (ax_acc, "validation accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.legend(loc="best")
    return {
        "rates": (rates, "Fraction of units each mask dropped, per step (the schedule)."),
        "curves": (fig, "Validation curves with no, standard, early and late dropout."),
    }
