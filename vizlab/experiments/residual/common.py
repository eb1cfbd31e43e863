"""What the section's topics share: the ResNet they build, their data, and its blocks."""

from __future__ import annotations

from torch import nn

from vizlab.experiments.base import dataset, pick
from vizlab.models import resnet
from vizlab.models.resnet import PlainBlock, ResidualBlock

__all__ = ["resnet_for", "data_for", "blocks_of"]


def resnet_for(depth: int, data, *, residual: bool, norm: object = "batch", width: int = 8, **kw):
    """A ``resnet`` of ``depth`` layers (its plain twin if not ``residual``) sized for ``data``."""
    channels, height, width_px = data.shape
    return resnet(
        depth,
        residual=residual,
        norm=norm,
        width=width,
        in_channels=channels,
        input_size=(height, width_px),
        num_classes=data.num_classes,
        **kw,
    )


def data_for(data, scale: str, seed: int):
    """The given data, else digits (quick) or 10,000 shapes (full)."""
    if data is None and scale == "full":
        return dataset("shapes", "shapes", seed=seed, n=10000)
    return dataset(data, pick(scale, "digits", "shapes"), seed=seed)


def blocks_of(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The residual or plain blocks of a ``resnet``, input side first, with dotted names."""
    return [
        (name, m) for name, m in model.named_modules() if isinstance(m, (ResidualBlock, PlainBlock))
    ]
