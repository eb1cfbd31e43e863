"""A small DenseNet (Huang et al. 2017): every layer sees all earlier maps of its block.

Where a residual block adds its output to its input, a dense layer concatenates it: the
block's channel count grows by the growth rate ``k`` with every layer, and each layer
reads everything produced so far. Transition layers (1x1 conv to compress the channels,
then 2x2 average pooling) keep the width in check between blocks.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from vizlab.nn.tap import Tap

from .blocks import Activation, ConvUnit, init_weights
from .sizes import Size, as_size, check_positive, max_halvings, refuse_too_deep

__all__ = ["DenseBlock", "Transition", "densenet"]


class DenseBlock(nn.Module):
    """``layers`` 3x3 conv units, each fed the concatenation of the block input and all
    earlier outputs.

    The units are conv-norm-act like everywhere else in vizlab (the paper orders them
    norm-act-conv); since each unit's output is normalized and activated before it is
    concatenated, every later layer still sees well-scaled inputs.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, in_channels + layers * growth, H, W)``
    """

    def __init__(
        self,
        in_channels: int,
        layers: int,
        growth: int,
        *,
        norm: object = "batch",
        activation: Activation = "relu",
        dropout: float = 0.0,
        spatial: Size | None = None,
    ) -> None:
        super().__init__()
        for i in range(layers):
            unit = ConvUnit(
                in_channels + i * growth,
                growth,
                3,
                norm=norm,
                activation=activation,
                dropout=dropout,
                spatial=spatial,
            )
            self.add_module(f"layer{i + 1}", unit)
        self.hook_out = Tap()  # (B, out_channels, H, W) all maps of the block
        self.out_channels = in_channels + layers * growth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name, unit in self.named_children():
            if name.startswith("layer"):
                x = torch.cat([x, unit(x)], dim=1)
        return self.hook_out(x)


class Transition(nn.Sequential):
    """1x1 conv unit that compresses the channels, then a 2x2 average pool.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H // 2, W // 2)``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        norm: object = "batch",
        activation: Activation = "relu",
        spatial: Size | None = None,
    ) -> None:
        super().__init__(
            OrderedDict(
                conv=ConvUnit(
                    in_channels, out_channels, 1, norm=norm, activation=activation, spatial=spatial
                ),
                pool=nn.AvgPool2d(2),
            )
        )


def densenet(
    blocks: int = 3,
    layers: int = 4,
    growth: int = 8,
    *,
    compression: float = 0.5,
    norm: object = "batch",
    dropout: float = 0.0,
    activation: Activation = "relu",
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: int | Sequence[int] = 32,
    init: str = "torch",
) -> nn.Sequential:
    """Build stem, ``blocks`` dense blocks with transitions between them, GAP, linear head.

    Args:
        blocks: number of dense blocks; there is one 2x2 pooling transition between each
            pair, so ``blocks - 1`` halvings must fit the input.
        layers: conv units per dense block.
        growth: channels each unit adds (the growth rate ``k``); the stem has ``2 * k``.
        compression: fraction of channels a transition keeps (the paper's theta; 0.5).
        norm: norm after every conv (batch norm by default, as in the paper).
        dropout: dropout probability after each dense unit.
        activation: ``"relu"`` (default), ``"sigmoid"``, ``"tanh"`` or ``"gelu"``.
        in_channels, num_classes, input_size: input channels, logits, input side or (H, W).
        init: weight init, ``"torch"`` (PyTorch's default), ``"kaiming"`` or
            ``"xavier"`` (see ``vizlab.models.init_weights``).

    Raises:
        ValueError: for bad sizes, a compression outside (0, 1], or when the transitions
            would pool the input below 1x1.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, num_classes)``
    """
    check_positive("densenet", blocks=blocks, layers=layers, growth=growth)
    check_positive("densenet", in_channels=in_channels, num_classes=num_classes)
    if not 0.0 < compression <= 1.0:
        raise ValueError(f"densenet compression must be in (0, 1], got {compression!r}")
    size = as_size(input_size)
    refuse_too_deep("densenet", blocks, "blocks", size, max_halvings(size) + 1)
    kw = dict(norm=norm, activation=activation)
    parts: OrderedDict[str, nn.Module] = OrderedDict()
    parts["stem"] = ConvUnit(in_channels, 2 * growth, 3, spatial=size, **kw)
    channels = 2 * growth
    for i in range(blocks):
        block = DenseBlock(channels, layers, growth, dropout=dropout, spatial=size, **kw)
        parts[f"block{i + 1}"] = block
        channels = block.out_channels
        if i < blocks - 1:
            reduced = max(1, int(channels * compression))
            parts[f"trans{i + 1}"] = Transition(channels, reduced, spatial=size, **kw)
            channels, size = reduced, (size[0] // 2, size[1] // 2)
    parts["gap"] = nn.AdaptiveAvgPool2d(1)
    parts["flatten"] = nn.Flatten()
    parts["head"] = nn.Linear(channels, num_classes)
    model = nn.Sequential(parts)
    return init_weights(model, init)
