"""The lecture's VGG-like network: the blocks x convs grid of the depth experiment.

Simonyan and Zisserman (2014) built networks from one repeated block: a few 3x3 convs with
the same number of filters, then a 2x2 max-pool that halves the image. Changing how many
blocks there are and how many convs each holds gives a whole family, which is exactly the
grid the lecture trains to ask "how many layers are enough?". Following the lecture, the
head is global average pooling plus one linear layer (no large fully connected stack), so
the parameter count comes almost entirely from the convs.

Every pooling halves the image, so depth is bounded by the input: a 32x32 image survives 5
blocks (32 -> 1), an 8x8 digit only 3. Deeper configurations are refused while building.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from vizlab.nn import Residual
from vizlab.nn.tap import Tap

from .blocks import Activation, ConvUnit, init_weights, norm_at
from .sizes import Size, as_size, check_positive, max_halvings, refuse_too_deep

__all__ = ["VGGBlock", "vgg"]


class VGGBlock(nn.Module):
    """``convs`` 3x3 conv units (padding 1), optionally inside a residual, then a 2x2 max-pool.

    With ``residual=True`` the convs become the branch ``f`` of a ``vizlab.nn.Residual``
    (with a 1x1 projection on the skip when the channel count changes) and the pool comes
    after the sum. The activation stays inside the branch, so the plain and residual blocks
    differ by the skip alone.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H // 2, W // 2)``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        convs: int,
        *,
        norm: object = None,
        activation: Activation = "relu",
        dropout: float = 0.0,
        residual: bool = False,
        spatial: Size | None = None,
    ) -> None:
        super().__init__()
        units = OrderedDict(
            (
                f"conv{i + 1}",
                ConvUnit(
                    in_channels if i == 0 else out_channels,
                    out_channels,
                    3,
                    norm=norm,
                    activation=activation,
                    dropout=dropout,
                    spatial=spatial,
                ),
            )
            for i in range(convs)
        )
        self.residual = None
        if residual:
            self.residual = Residual(
                nn.Sequential(units),
                in_channels=in_channels,
                out_channels=out_channels,
                norm=norm_at(norm, spatial),
            )
        else:
            for name, unit in units.items():
                self.add_module(name, unit)
        self.pool = nn.MaxPool2d(2)
        self.hook_out = Tap()  # (B, out_channels, H // 2, W // 2) block output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.residual is not None:
            x = self.residual(x)
        else:
            for name, module in self.named_children():
                if name.startswith("conv"):
                    x = module(x)
        return self.hook_out(self.pool(x))


def vgg(
    blocks: int = 3,
    convs: int = 2,
    width: int = 16,
    *,
    norm: object = None,
    dropout: float = 0.0,
    residual: bool = False,
    activation: Activation = "relu",
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: int | Sequence[int] = 32,
    init: str = "kaiming",
) -> nn.Sequential:
    """Build the VGG-like net: ``blocks`` blocks of ``convs`` convs, GAP, linear head.

    Block ``i`` (from 1) has ``width * 2**(i-1)`` channels. Train it with cross-entropy on
    the logits.

    Args:
        blocks: number of conv+pool blocks (at least 1; at most ``log2`` of the input side).
        convs: 3x3 convs per block (at least 1).
        width: channels of the first block (at least 1).
        norm: norm after every conv (``None``, a preset name, axes, or a factory).
        dropout: dropout probability after every activation.
        residual: wrap each block's convs in ``vizlab.nn.Residual``.
        activation: ``"relu"``, ``"sigmoid"``, ``"tanh"`` or ``"gelu"``.
        in_channels: channels of the input images.
        num_classes: number of logits.
        input_size: side (or ``(H, W)``) of the input images.
        init: weight init, ``"kaiming"`` (the default: He et al.'s init, right for ReLU
            nets), ``"xavier"`` (Keras's default, which the lecture's grid used) or
            ``"torch"`` (PyTorch's own, which shrinks the signal at every layer: without a
            norm, the 3x2 net then stays at chance for the first epochs on ``shapes``).
            See ``vizlab.models.init_weights``.

    Returns:
        ``nn.Sequential`` with children ``features`` (``block1`` ...), ``gap``, ``flatten``,
        ``head``; layer names read like ``features.block2.conv1.act``, or
        ``features.block2.residual.branch.conv1.act`` with ``residual=True``.

    Raises:
        ValueError: for non-positive ``blocks``/``convs``/``width``, or when the blocks would
            pool the input below 1x1 (the message says how many blocks fit).

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, num_classes)``
    """
    check_positive("vgg", blocks=blocks, convs=convs, width=width, in_channels=in_channels)
    check_positive("vgg", num_classes=num_classes)
    size = as_size(input_size)
    refuse_too_deep("vgg", blocks, "blocks", size, max_halvings(size))
    features = OrderedDict()
    channels = in_channels
    for i in range(blocks):
        out = width * 2**i
        features[f"block{i + 1}"] = VGGBlock(
            channels,
            out,
            convs,
            norm=norm,
            activation=activation,
            dropout=dropout,
            residual=residual,
            spatial=size,
        )
        channels, size = out, (size[0] // 2, size[1] // 2)
    model = nn.Sequential(
        OrderedDict(
            features=nn.Sequential(features),
            gap=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            head=nn.Linear(channels, num_classes),
        )
    )
    return init_weights(model, init)
