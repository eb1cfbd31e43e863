"""A-FILT: first-layer filters and feature maps of a trained model.

``first_filters``: first-layer filters and per-layer feature maps of one image, taken from a
briefly trained model, equal the live model's weights and activations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from vizlab import models
from vizlab.device import resolve_device
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick
from vizlab.plots import feature_maps, filters
from vizlab.probes import trace
from vizlab.train import fit


@experiment("first_filters", ("A-FILT",), "First-layer filters and feature maps")
def first_filters(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    image: int = 0,
    max_channels: int = 8,
) -> Result:
    """Train a small AlexNet (5x5 stride-2 colour filters, as in the AlexNet figure) on
    ``shapes``, then read its first-layer filters and the feature maps of test image
    ``image`` at each layer with ``vizlab.probes.trace``.

    Facts: the filters in the figure are the live first conv's weights (exactly), the
    feature maps are what the layers compute (checked against running the model's children
    one by one), and training moved the filters away from their initialization. The net
    carries batch norm (not in the 2012 original) so that a few epochs suffice. Quick: 2000
    images, 4 epochs, width 16 (test accuracy about 0.57 against chance 0.1); full: 10000
    images, width 32, 20 epochs.
    """
    data = dataset(data, "shapes", seed=seed, n=pick(scale, 2000, None))
    dev = resolve_device(device)
    c, h, _ = data.shape
    torch.manual_seed(seed)
    size = pick(scale, dict(width=16, hidden=64, dropout=0.0), dict(width=32, hidden=256))
    model = models.alexnet(
        norm="batch", init="kaiming", in_channels=c, num_classes=len(data.classes),
        input_size=h, **size,
    ).to(dev)  # fmt: skip
    before = model.conv1.conv.weight.detach().cpu().clone()
    epochs = pick(scale, 4, 20)
    history = fit(
        model, data, epochs=epochs, batch_size=32, lr=3e-3, device=dev, seed=seed,
        stop=stop, callbacks=callbacks,
    )  # fmt: skip
    x = data.test.x[image : image + 1].to(dev)  # (1, C, H, W)
    layers = ["conv1", "pool1", "conv2", "pool2", "conv5"]
    t = trace(model, x, layers=layers, rf=False)
    weight = model.conv1.conv.weight.detach().cpu()
    direct, h_ = {}, x
    with torch.no_grad():
        for name, child in model.named_children():
            h_ = child(h_)
            if name in layers:
                direct[name] = h_.cpu()
    map_diff = max(float((t.activations[n] - direct[n]).abs().max()) for n in layers)
    numbers = {
        "filters": t.filters,
        "filters_init": before,
        "filters_layer": t.filters_layer,
        "filters_equal_weights": bool(torch.equal(t.filters, weight)),
        "maps": {n: t.activations[n][0, :max_channels] for n in layers},
        "map_shapes": {n: list(t.activations[n].shape[1:]) for n in layers},
        "maps_max_abs_diff": map_diff,
        "filter_change": float((weight - before).norm() / before.norm()),
        "image": x[0].cpu(),
        "label": data.classes[int(data.test.y[image])],
        "final": history.final(),
        "chance": 1.0 / len(data.classes),
    }
    facts = {
        "filters_are_weights": numbers["filters_equal_weights"],
        "maps_are_activations": map_diff == 0.0,
        "filters_learned": numbers["filter_change"] > 0.05,
    }
    config = {"data": data.name, "seed": seed, "epochs": epochs, "image": image}
    config["device"] = str(dev)
    return Result("first_filters", ("A-FILT",), scale, numbers, facts, config)


@drawer("first_filters")
def draw_first_filters(result: Result) -> dict[str, tuple[Figure, str]]:
    n = result.numbers
    acc = n["final"]["test_acc"]
    maps = {"image": np.asarray(n["image"])} | {k: np.asarray(v) for k, v in n["maps"].items()}
    return {
        "filters_init": (filters(np.asarray(n["filters_init"])), "First-layer filters at init."),
        "filters": (
            filters(np.asarray(n["filters"])),
            f"First-layer filters after training (test accuracy {acc:.2f}).",
        ),
        "feature_maps": (
            feature_maps(maps),
            f"Feature maps of one test image ({n['label']}) at each layer.",
        ),
    }
