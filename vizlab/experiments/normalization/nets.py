"""The section's small conv net, its norm choices, and helpers that look at its norm layers."""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from vizlab.data import Dataset
from vizlab.models import vgg
from vizlab.nn import Norm

# The choices of G-AXES: what the model builders accept as ``norm=`` and the axes it means.
AXES_CHOICES: dict[str, tuple[Any, tuple[str, ...] | None]] = {
    "batch": ("batch", ("N", "H", "W")),
    "layer": ("layer", ("C", "H", "W")),
    "instance": ("instance", ("H", "W")),
    "group": (functools.partial(Norm.group, groups=4), ("C", "H", "W")),
    "none": (None, None),
}


def norm_net(data: Dataset, norm: Any = "batch", *, width: int = 8, seed: int = 0) -> nn.Module:
    """The section's small conv net: two VGG blocks of one conv each, ``norm`` after each
    conv, global average pooling and a linear head (seeded)."""
    torch.manual_seed(seed)
    c, h, w = data.shape
    return vgg(
        blocks=2,
        convs=1,
        width=width,
        norm=norm,
        in_channels=c,
        num_classes=data.num_classes,
        input_size=(h, w),
    )


def norm_layers(model: nn.Module) -> list[tuple[str, Norm]]:
    """Every ``Norm`` layer of ``model`` with its dotted name, in module order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, Norm)]


def norm_inputs(model: nn.Module, x: torch.Tensor, train: bool) -> dict[str, torch.Tensor]:
    """The input of every ``Norm`` of ``model`` for the batch ``x`` (no statistic updates)."""
    seen: dict[str, torch.Tensor] = {}
    handles = [
        m.register_forward_pre_hook(lambda mod, args, name=name: seen.__setitem__(name, args[0]))
        for name, m in norm_layers(model)
    ]
    saved = [(m, m.momentum) for _, m in norm_layers(model)]
    try:
        for m, _ in saved:
            m.momentum = 0.0  # train mode would otherwise move the running averages
        model.train(train)
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        for m, momentum in saved:
            m.momentum = momentum
        model.eval()
    return seen
