"""G-BNSMALL: what batch norm pays for small batches: noisy statistics, examples that
depend on their batch, accuracy vs batch size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from matplotlib.figure import Figure
from torch import nn

from vizlab.data import Dataset, Split
from vizlab.device import resolve_device
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.experiments.normalization.drawing import styled_drawer
from vizlab.experiments.normalization.nets import AXES_CHOICES, norm_inputs, norm_layers, norm_net
from vizlab.plots import batch_spread as batch_spread_figure
from vizlab.plots import layer_color
from vizlab.plots.style import new_figure
from vizlab.train import fit


def _by_size(values: dict) -> dict[int, Any]:
    """Batch-size keys as ints again (JSON turns them into strings)."""
    return {int(k): v for k, v in values.items()}


def _spread(
    features: torch.Tensor, sizes: Sequence[int], draws: int, gen: torch.Generator
) -> dict[str, Any]:
    """Batch estimates of every channel's mean from ``draws`` random batches per size."""
    n = features.shape[0]
    per_example = features.double().mean(dim=(2, 3))  # (N, C): each example's channel means
    truth = per_example.mean(0)  # == the dataset mean over (N, H, W): equal H*W per example
    estimates, spreads = {}, {}
    for size in sizes:
        rows = torch.stack([torch.randperm(n, generator=gen)[:size] for _ in range(draws)])
        est = per_example[rows].mean(1)  # (draws, C)
        estimates[size] = est
        spreads[size] = float(est.std(0).mean())  # mean over channels of the spread
    return {"truth": truth, "estimates": estimates, "spread": spreads}


def _dependence(
    model: nn.Module, x: torch.Tensor, sizes: Sequence[int], draws: int, gen: torch.Generator
) -> dict[int, float]:
    """How much example 0's logits move when only its batch companions change (train mode,
    running statistics untouched): the std over ``draws`` batches, averaged over classes."""
    saved = [(m, m.momentum) for _, m in norm_layers(model)]
    out = {}
    try:
        for m, _ in saved:
            m.momentum = 0.0
        model.train()
        with torch.no_grad():
            for size in sizes:
                logits = []
                for _ in range(draws):
                    others = 1 + torch.randperm(len(x) - 1, generator=gen)[: size - 1]
                    idx = torch.cat([torch.zeros(1, dtype=torch.long), others]).to(x.device)
                    logits.append(model(x[idx])[0])
                out[size] = float(torch.stack(logits).std(0).mean())
    finally:
        for m, momentum in saved:
            m.momentum = momentum
        model.eval()
    return out


@experiment(
    "batch_spread",
    ["G-BNSMALL"],
    "Small batches: noisy batch statistics, dependent examples, accuracy vs batch size",
)
def batch_spread(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    sizes: Sequence[int] = (2, 4, 8, 32, 128),
    draws: int = 300,
    fit_sizes: Sequence[int] | None = None,
    fit_examples: int | None = None,
    epochs: int | None = None,
    lr: float = 3e-3,
) -> Result:
    """What batch norm pays for small batches (G-BNSMALL).

    1. Spread: the first norm layer's input of the (seeded, untrained) batch-norm net on the
       whole training split; for each batch size, ``draws`` random batches each give an
       estimate of every channel's mean; the spread is the standard deviation of those
       estimates (mean over channels). It shrinks like ``1 / sqrt(batch size)``.
    2. Dependence: in training mode, the logits of one fixed example change with the other
       examples of its batch under batch norm (their std over 40 random batches); under
       group norm, which never mixes examples, they do not change at all.
    3. Accuracy: short real fits of the batch-norm and the group-norm net at each batch
       size of ``fit_sizes``, on the first ``fit_examples`` training examples (all when
       ``None``) for the same number of epochs, so small batches take more steps; test
       accuracy (batch norm: with its running statistics) at the end.

    Quick: ``digits``; fits of 1 epoch over 400 examples at batch sizes 2, 8, 32. The
    spread and dependence facts hold at any scale; the accuracy ranking is only reported
    (it mixes the noise of small batches with their larger number of steps).
    """
    d = dataset(data, "digits", seed=seed)
    dev = resolve_device(device)
    d_dev = d.to(dev)
    gen = torch.Generator().manual_seed(seed)
    sizes = sorted(int(s) for s in sizes)
    bn = norm_net(d, "batch", seed=seed).to(dev)
    first = norm_layers(bn)[0][0]
    features = norm_inputs(bn, d_dev.train.x, train=False)[first].cpu()
    spread = _spread(features, sizes, draws, gen)
    gn = norm_net(d, AXES_CHOICES["group"][0], seed=seed).to(dev)
    dep_sizes = [s for s in sizes if s <= len(d.train)]
    dependence = {
        "batch": _dependence(bn, d_dev.train.x, dep_sizes, 40, gen),
        "group": _dependence(gn, d_dev.train.x, dep_sizes, 40, gen),
    }
    fit_sizes = list(fit_sizes or pick(scale, (2, 8, 32), (2, 4, 8, 16, 32, 64, 128)))
    epochs = epochs or pick(scale, 1, 10)
    fit_examples = fit_examples or pick(scale, 400, None)
    fit_data = d
    if fit_examples is not None and fit_examples < len(d.train):
        train = Split(d.train.x[:fit_examples], d.train.y[:fit_examples])
        fit_data = Dataset(d.name, d.classes, train, d.val, d.test)
    accuracy: dict[str, dict[int, float | None]] = {"batch": {}, "group": {}}
    for size in fit_sizes:
        for norm in ("batch", "group"):
            if stopped(stop):
                break
            model = norm_net(d, AXES_CHOICES[norm][0], seed=seed)
            hist = fit(
                model,
                fit_data,
                epochs=epochs,
                batch_size=size,
                lr=lr,
                device=device,
                seed=seed,
                stop=stop,
                callbacks=callbacks,
            )
            accuracy[norm][size] = None if hist.stopped else hist.test_acc
    spreads = [spread["spread"][s] for s in sizes]
    numbers = {
        "layer": first,
        "sizes": sizes,
        "spread": spread["spread"],
        "spread_times_sqrt_size": {s: spread["spread"][s] * s**0.5 for s in sizes},
        "estimates": {s: spread["estimates"][s][:, 0] for s in sizes},  # channel 0
        "truth": spread["truth"],
        "dependence": dependence,
        "test_acc": accuracy,
        "epochs": epochs,
        "fit_examples": len(fit_data.train),
    }
    facts = {
        "spread_grows_as_batch_shrinks": all(a > b for a, b in zip(spreads, spreads[1:])),
        "batch_norm_mixes_examples": dependence["batch"][dep_sizes[0]] > 1e-4,
        "group_norm_does_not": max(dependence["group"].values()) < 1e-5,
    }
    config = {"data": d.name, "draws": draws, "lr": lr, "device": str(dev), "seed": seed}
    return Result("batch_spread", ("G-BNSMALL",), scale, numbers, facts, config)


@drawer("batch_spread")
@styled_drawer
def _draw_batch_spread(result: Result) -> dict[str, tuple[Figure, str]]:
    num = result.numbers
    estimates = _by_size(num["estimates"])
    spread_fig = batch_spread_figure(estimates, truth=float(num["truth"][0]))
    spread_fig.axes[0].set_title(f"channel 0 of {num['layer']}: one dot per batch")
    fig = new_figure(None, (13.0, 5.0))
    ax_dep, ax_acc = fig.subplots(1, 2)
    for i, (norm, values) in enumerate(num["dependence"].items()):
        pts = sorted(_by_size(values).items())
        ax_dep.plot(*zip(*pts), "o-", color=layer_color(i), label=f"{norm} norm")
    ax_dep.set_xscale("log", base=2)
    ax_dep.set_xlabel("batch size")
    ax_dep.set_ylabel("std of one example's logits")
    ax_dep.set_title("dependence on the rest of the batch")
    ax_dep.legend(loc="best")
    for i, (norm, values) in enumerate(num["test_acc"].items()):
        pts = sorted((k, v) for k, v in _by_size(values).items() if v is not None)
        if pts:
            ax_acc.plot(*zip(*pts), "o-", color=layer_color(i), label=f"{norm} norm")
    ax_acc.set_xscale("log", base=2)
    ax_acc.set_xlabel("batch size")
    ax_acc.set_ylabel("test accuracy")
    ax_acc.set_title(f"after {num['epochs']} epoch(s) of {num['fit_examples']} examples")
    if ax_acc.lines:
        ax_acc.legend(loc="best")
    spreads = _by_size(num["spread"])
    first, last = min(spreads), max(spreads)
    return {
        "batch_spread": (
            spread_fig,
            f"Spread of batch means: {spreads[first]:.3f} at batch {first}, "
            f"{spreads[last]:.3f} at batch {last}.",
        ),
        "batch_size_effects": (fig, "Batch-norm output depends on the batch; accuracy vs size."),
    }
