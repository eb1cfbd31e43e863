"""G-SMOOTH: the loss landscape along real training steps, with and without batch norm."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.experiments.normalization.drawing import styled_drawer
from vizlab.experiments.normalization.nets import AXES_CHOICES, norm_net
from vizlab.plots import layer_color
from vizlab.plots.style import new_figure
from vizlab.train import fit


class LandscapeProbe:
    """Callback: every ``every`` steps, look along the gradient from the current weights.

    On a fixed training batch ``(x, y)``, with ``g`` the gradient at the current weights
    ``w``, it evaluates the loss and the gradient at ``w - eta * g`` for each ``eta`` and
    records (Santurkar et al., 2018): ``loss_range``, the spread of those losses (how much
    the loss varies along the step); ``grad_change``, the largest ``||grad(w - eta g) - g||``
    (gradient predictiveness: small means the gradient stays a good guide); and
    ``beta``, the largest ``||grad(w - eta g) - g|| / ||eta g||`` (an effective smoothness
    constant). Weights and buffers (running statistics) are restored afterwards, so the
    training run itself is unchanged.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, etas: Sequence[float], every: int):
        self.x, self.y, self.etas, self.every = x, y, list(etas), every
        self.rows: list[dict[str, float]] = []

    def on_step(self, state: Any) -> None:
        if state.step % self.every:
            return
        model = state.model
        x, y = self.x.to(state.device), self.y.to(state.device)
        params = [p for p in model.parameters() if p.requires_grad]
        saved_buffers = {k: v.clone() for k, v in model.named_buffers()}
        saved = [p.detach().clone() for p in params]

        def loss_grad() -> tuple[float, list[torch.Tensor]]:
            loss = F.cross_entropy(model(x), y)
            grads = list(torch.autograd.grad(loss, params))
            return float(loss.detach()), grads

        try:
            loss0, g0 = loss_grad()
            gnorm = float(torch.sqrt(sum((g * g).sum() for g in g0)))
            losses, changes, betas = [loss0], [], []
            for eta in self.etas:
                with torch.no_grad():
                    for p, w, g in zip(params, saved, g0):
                        p.copy_(w - eta * g)
                loss, grads = loss_grad()
                change = float(torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(grads, g0))))
                losses.append(loss)
                changes.append(change)
                betas.append(change / max(eta * gnorm, 1e-12))
        finally:
            with torch.no_grad():
                for p, w in zip(params, saved):
                    p.copy_(w)
                for k, v in model.named_buffers():
                    v.copy_(saved_buffers[k])
        self.rows.append(
            {
                "step": state.step,
                "loss": loss0,
                "grad_norm": gnorm,
                "loss_range": max(losses) - min(losses),
                "grad_change": max(changes),
                "beta": max(betas),
            }
        )


@experiment(
    "smoothness",
    ["G-SMOOTH"],
    "Batch norm smooths the loss landscape along the training path (optional row)",
)
def smoothness(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    epochs: int | None = None,
    batch_size: int = 32,
    lr: float = 0.05,
    steps_along: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
    every: int = 4,
) -> Result:
    """Loss landscape along real training steps, with and without batch norm (G-SMOOTH).

    The section's conv net, with batch norm and without any normalization, trains with SGD
    (momentum 0.9, ``lr``) from the same seed; every ``every`` steps a
    :class:`LandscapeProbe` moves the weights along the current gradient by
    ``eta = lr * s`` for each ``s`` in ``steps_along`` and measures how much the loss and
    the gradient change (Santurkar et al., 2018, figure 4). Reported: those measures per
    sampled step and their medians. Santurkar et al. find smaller values with batch norm
    (a smoother landscape); here that is measured, not assumed: ``bn_smaller`` says, per
    measure, whether it held in this run. Quick: ``digits``, 3 epochs (there the gradient
    change and beta came out about half as large with batch norm; the loss variation was
    about equal).
    """
    d = dataset(data, "digits", seed=seed)
    epochs = epochs or pick(scale, 3, 15)
    gen = torch.Generator().manual_seed(seed)
    pick_idx = torch.randperm(len(d.train), generator=gen)[:batch_size]
    x, y = d.train.x[pick_idx], d.train.y[pick_idx]
    etas = [lr * s for s in steps_along]
    runs: dict[str, Any] = {}
    for name in ("batch", "none"):
        if stopped(stop):
            break
        model = norm_net(d, AXES_CHOICES[name][0], seed=seed)
        probe = LandscapeProbe(x, y, etas, every)
        hist = fit(
            model,
            d,
            epochs=epochs,
            batch_size=batch_size,
            optimizer="sgd",
            lr=lr,
            momentum=0.9,
            device=device,
            seed=seed,
            stop=stop,
            callbacks=[probe, *callbacks],
        )
        rows = probe.rows
        runs[name] = {
            "rows": rows,
            "median": {
                k: float(np.median([r[k] for r in rows])) if rows else None
                for k in ("loss_range", "grad_change", "beta")
            },
            "test_acc": hist.test_acc,
            "history": hist.as_dict(),
            "stopped": hist.stopped,
        }
    done = len(runs) == 2 and all(r["rows"] for r in runs.values())
    finite = done and all(
        np.isfinite(
            [r[k] for r in run["rows"] for k in ("loss_range", "grad_change", "beta")]
        ).all()
        for run in runs.values()
    )
    facts = {"computed_from_real_steps": bool(finite)}
    numbers = {"runs": runs, "etas": etas, "every": every, "epochs": epochs}
    if finite:  # which measures came out smaller with batch norm in this run
        numbers["bn_smaller"] = {
            k: runs["batch"]["median"][k] < runs["none"]["median"][k]
            for k in ("loss_range", "grad_change", "beta")
        }
    config = {"data": d.name, "lr": lr, "batch_size": batch_size, "seed": seed}
    return Result("smoothness", ("G-SMOOTH",), scale, numbers, facts, config)


@drawer("smoothness")
@styled_drawer
def _draw_smoothness(result: Result) -> dict[str, tuple[Figure, str]]:
    runs = result.numbers["runs"]
    fig = new_figure(None, (15.0, 4.5))
    axes = fig.subplots(1, 3)
    labels = {
        "loss_range": "loss variation along the step",
        "grad_change": "gradient change ||g' - g||",
        "beta": "effective beta-smoothness",
    }
    for ax, (key, label) in zip(axes, labels.items()):
        for i, (name, run) in enumerate(runs.items()):
            steps = [r["step"] for r in run["rows"]]
            ax.plot(steps, [r[key] for r in run["rows"]], color=layer_color(i), label=name)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(label, fontsize="medium")
        if ax.lines:
            ax.legend(loc="best")
    med = {n: r["median"] for n, r in runs.items()}
    text = "; ".join(
        f"{n}: loss range {m['loss_range']:.3g}, beta {m['beta']:.3g}"
        for n, m in med.items()
        if m["loss_range"] is not None
    )
    return {"landscape": (fig, f"Medians along training, batch norm vs none: {text}.")}
