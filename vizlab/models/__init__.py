"""Model families of the lectures, small enough to train live on a laptop CPU.

Every family is a function returning an ``nn.Sequential`` whose layer names read like the
lecture's diagrams (``features.block2.conv1.act``, ``stages.stage3.block1.branch``), built
from the same conv-norm-act unit with named taps. All take ``norm=``, ``dropout=``,
``activation=``, ``in_channels=``, ``num_classes=`` and ``input_size=``, and refuse while
building a configuration that would pool the input below 1x1.

``FAMILIES`` maps each name to its builder and ``build(name, **kw)`` calls it, which is how
panels and sweeps pick a family from a dropdown.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

from .blocks import ACTIVATIONS, INITS, ConvUnit, LinearUnit, init_weights, make_activation
from .classic import NiNBlock, alexnet, lenet, nin
from .convnext import ConvNeXtBlock, LayerScale, convnext
from .densenet import DenseBlock, Transition, densenet
from .googlenet import Inception, googlenet
from .mlp import mlp
from .resnet import BasicBranch, Bottleneck, PlainBlock, ResidualBlock, resnet
from .summary import SummaryRow, format_summary, summary
from .vgg import VGGBlock, vgg

__all__ = [
    "ACTIVATIONS",
    "FAMILIES",
    "INITS",
    "BasicBranch",
    "Bottleneck",
    "ConvNeXtBlock",
    "ConvUnit",
    "DenseBlock",
    "Inception",
    "LayerScale",
    "LinearUnit",
    "NiNBlock",
    "PlainBlock",
    "ResidualBlock",
    "SummaryRow",
    "Transition",
    "VGGBlock",
    "alexnet",
    "build",
    "convnext",
    "densenet",
    "format_summary",
    "googlenet",
    "init_weights",
    "lenet",
    "make_activation",
    "mlp",
    "nin",
    "resnet",
    "summary",
    "vgg",
]

FAMILIES: dict[str, Callable[..., nn.Module]] = {
    "mlp": mlp,
    "lenet": lenet,
    "alexnet": alexnet,
    "vgg": vgg,
    "nin": nin,
    "googlenet": googlenet,
    "resnet": resnet,
    "densenet": densenet,
    "convnext": convnext,
}


def build(name: str, **kwargs: object) -> nn.Module:
    """Build the family called ``name`` with the given keyword arguments.

    Raises:
        ValueError: for an unknown family; the message lists the known ones.
    """
    try:
        builder = FAMILIES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown model family {name!r}; choose one of {', '.join(FAMILIES)}"
        ) from None
    params = inspect.signature(builder).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise TypeError(
            f"model family {name!r} has no argument(s) {', '.join(unknown)}; it accepts "
            f"{', '.join(params)}"
        )
    return builder(**kwargs)
