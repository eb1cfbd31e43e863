"""G-BN2: batch norm at inference: running averages, recomputed statistics, batch statistics."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from vizlab.experiments.base import Result, dataset, drawer, experiment, pick
from vizlab.experiments.normalization.drawing import styled_drawer
from vizlab.experiments.normalization.nets import norm_inputs, norm_layers, norm_net
from vizlab.plots import layer_color, norm_stats
from vizlab.plots.style import MARK, TRAIN, VAL, new_figure
from vizlab.probes import watch
from vizlab.train import evaluate, fit


def _channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and unbiased variance over (N, H, W) (or over N for (N, F))."""
    dims = [0] if x.dim() == 2 else [0, 2, 3]
    var, mean = torch.var_mean(x.double(), dim=dims, correction=1)
    return mean, var


def recompute_stats(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """A copy of ``model`` whose running statistics are those of the whole of ``x``.

    One training-mode forward of all of ``x`` as a single batch with momentum 1: every norm
    layer's running mean and (unbiased) variance become the statistics of exactly what
    reaches it, each layer seeing the inputs the layers before it produce with their own
    full-data statistics.
    """
    out = copy.deepcopy(model)
    saved = [(m, m.momentum) for _, m in norm_layers(out)]
    for m, _ in saved:
        m.momentum = 1.0
    out.train()
    with torch.no_grad():
        out(x)
    for m, momentum in saved:
        m.momentum = momentum
    return out.eval()


def batch_stat_accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int = 0
) -> float:
    """Accuracy when every batch of ``batch_size`` is normalized with its own statistics
    (training mode, running statistics left untouched), in a seeded random order."""
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)).to(y.device)
    saved = [(m, m.momentum) for _, m in norm_layers(model)]
    correct = 0
    try:
        for m, _ in saved:
            m.momentum = 0.0
        model.train()
        with torch.no_grad():
            for i in range(0, len(y) - 1, batch_size):
                idx = order[i : i + batch_size]
                if len(idx) < 2:
                    continue
                correct += int((model(x[idx]).argmax(1) == y[idx]).sum())
    finally:
        for m, momentum in saved:
            m.momentum = momentum
        model.eval()
    used = len(y) if (len(y) % batch_size) != 1 else len(y) - 1
    return correct / used


@experiment(
    "bn_inference",
    ["G-BN2"],
    "Batch norm at inference: running averages vs recomputed statistics",
)
def bn_inference(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    epochs: int | None = None,
    batch_size: int = 32,
    lr: float = 3e-3,
    every: int = 2,
) -> Result:
    """Train a batch-norm conv net, then compare its three ways to normalize at test time.

    - running: the exponential moving averages kept during training (``eval()``);
    - recomputed: the mean and unbiased variance of each norm layer's input over the whole
      training set (:func:`recompute_stats`);
    - batch: every test batch of ``batch_size`` normalized with its own statistics, as in
      training.

    Measured: for every norm layer, the gap between its stored statistics and the real
    per-channel mean/variance of what reaches it over the training set at inference
    (max over channels of ``|mean gap| / std`` and ``|log variance ratio|``); test accuracy
    with each choice; training-split accuracy in train vs eval mode (the train/eval gap);
    and the first layer's batch vs running statistics during training (a ``watch``).

    Quick: ``digits``, 3 epochs. The recomputed statistics equal the dataset's at any scale;
    how far the running averages lag depends on lr and momentum.
    """
    d = dataset(data, "digits", seed=seed)
    epochs = epochs or pick(scale, 3, 15)
    model = norm_net(d, "batch", seed=seed)
    first = norm_layers(model)[0][0]
    probe = watch(model, layers=first, every=every, what=("norms",))
    history = fit(
        model,
        d,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        device=device,
        seed=seed,
        watch=probe,
        stop=stop,
        callbacks=callbacks,
    )
    dev = next(model.parameters()).device
    d = d.to(dev)
    x_train, y_train = d.train.x, d.train.y
    recomputed = recompute_stats(model, x_train)
    layers: dict[str, Any] = {}
    for label, net in (("running", model), ("recomputed", recomputed)):
        inputs = norm_inputs(net, x_train, train=False)  # what reaches each layer at test time
        for name, norm in norm_layers(net):
            mean, var = _channel_stats(inputs[name])
            rm, rv = norm.running_mean.double(), norm.running_var.double()
            layers.setdefault(name, {})[label] = {
                "mean_gap": float(((rm - mean).abs() / var.sqrt()).max()),
                "log_var_ratio": float((rv / var).log().abs().max()),
                "running_mean": rm,
                "running_var": rv,
                "data_mean": mean,
                "data_var": var,
            }
    acc = {
        "running": evaluate(model, d.test)[1],
        "recomputed": evaluate(recomputed, d.test)[1],
        "batch": batch_stat_accuracy(model, d.test.x, d.test.y, batch_size, seed),
    }
    train_gap = {
        "eval_mode": evaluate(model, d.train)[1],
        "train_mode": batch_stat_accuracy(model, x_train, y_train, batch_size, seed),
        "recomputed": evaluate(recomputed, d.train)[1],
    }
    records = [[int(r.step), r.layer, r.kind, r.stat, np.asarray(r.value)] for r in probe.records()]
    worst = {
        label: max(max(v[label]["mean_gap"], v[label]["log_var_ratio"]) for v in layers.values())
        for label in ("running", "recomputed")
    }
    numbers = {
        "layers": layers,
        "worst_gap": worst,
        "test_acc": acc,
        "train_acc": train_gap,
        "history": history.as_dict(),
        "records": records,
        "watched_layer": first,
        "stopped": history.stopped,
    }
    facts = {
        "recomputed_equal_dataset_stats": worst["recomputed"] < 1e-3,
        "running_stats_lag": worst["running"] > worst["recomputed"],
    }
    config = {
        "data": d.name,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "device": str(dev),
        "seed": seed,
    }
    return Result("bn_inference", ("G-BN2",), scale, numbers, facts, config)


@drawer("bn_inference")
@styled_drawer
def _draw_bn_inference(result: Result) -> dict[str, tuple[Figure, str]]:
    num = result.numbers
    records = [tuple(r) for r in num["records"]]
    stats_fig = norm_stats(records, layer=num["watched_layer"])
    fig = new_figure(None, (13.0, 5.0))
    ax_acc, ax_mean = fig.subplots(1, 2)
    labels = list(num["test_acc"])
    values = [num["test_acc"][k] or 0.0 for k in labels]
    ax_acc.bar(labels, values, color=[layer_color(i) for i in range(len(labels))])
    for i, v in enumerate(values):
        ax_acc.text(i, v, f"{v:.3f}", ha="center", va="bottom")
    ax_acc.set_ylabel("test accuracy")
    ax_acc.set_title("normalize test batches with ...")
    layer = num["watched_layer"]
    for label, color, marker in (("running", TRAIN, "o"), ("recomputed", VAL, "x")):
        row = num["layers"][layer][label]
        ax_mean.plot(row["data_mean"], row["running_mean"], marker, color=color, label=label)
    lo = min(min(num["layers"][layer][k]["data_mean"]) for k in ("running", "recomputed"))
    hi = max(max(num["layers"][layer][k]["data_mean"]) for k in ("running", "recomputed"))
    ax_mean.plot([lo, hi], [lo, hi], ":", color=MARK)
    ax_mean.set_xlabel("dataset mean of the layer input")
    ax_mean.set_ylabel("stored mean")
    ax_mean.legend(loc="best")
    ax_mean.set_title(layer)
    gap = num["worst_gap"]
    return {
        "norm_stats": (stats_fig, f"Batch vs running statistics of {layer} during training."),
        "inference_choices": (
            fig,
            f"Stored vs dataset statistics: running gap {gap['running']:.3f}, "
            f"recomputed gap {gap['recomputed']:.1e} (in standard deviations).",
        ),
    }
