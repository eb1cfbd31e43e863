"""A small GoogLeNet built from real Inception blocks (Szegedy et al. 2015).

An Inception block looks at the same input through four parallel paths (1x1, 3x3, 5x5
convs and a pooled path) and concatenates what they find along the channels, so the
network does not have to choose one kernel size per layer. The 1x1 convs in front of the
3x3 and 5x5 convs shrink the channel count first, which keeps the block cheap.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from vizlab.nn.tap import Tap

from .blocks import Activation, ConvUnit, init_weights, make_dropout
from .sizes import Size, as_size, check_positive, refuse_too_small

__all__ = ["Inception", "googlenet"]

# Channel plans of the original blocks 3a, 3b and 4a: c1, (c2 reduce, c2), (c3 reduce, c3), c4.
_PLANS = (
    (64, (96, 128), (16, 32), 32),
    (128, (128, 192), (32, 96), 64),
    (192, (96, 208), (16, 48), 64),
)


class Inception(nn.Module):
    """Four parallel paths concatenated on the channel axis.

    Paths: ``branch1x1`` (1x1 conv), ``branch3x3`` (1x1 reduce then 3x3),
    ``branch5x5`` (1x1 reduce then 5x5), ``branch_pool`` (3x3 max-pool then 1x1). Every
    path keeps the spatial size, so their outputs can be stacked.

    Args:
        in_channels: channels of the input.
        c1: channels of the 1x1 path.
        c2: (reduce, out) channels of the 3x3 path.
        c3: (reduce, out) channels of the 5x5 path.
        c4: channels of the pooled path.
        norm, activation, spatial: as for ``ConvUnit``.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, c1 + c2[1] + c3[1] + c4, H, W)``
    """

    def __init__(
        self,
        in_channels: int,
        c1: int,
        c2: tuple[int, int],
        c3: tuple[int, int],
        c4: int,
        *,
        norm: object = None,
        activation: Activation = "relu",
        spatial: Size | None = None,
    ) -> None:
        super().__init__()
        kw = dict(norm=norm, activation=activation, spatial=spatial)
        self.branch1x1 = ConvUnit(in_channels, c1, 1, **kw)
        self.branch3x3 = nn.Sequential(
            OrderedDict(
                reduce=ConvUnit(in_channels, c2[0], 1, **kw),
                conv=ConvUnit(c2[0], c2[1], 3, **kw),
            )
        )
        self.branch5x5 = nn.Sequential(
            OrderedDict(
                reduce=ConvUnit(in_channels, c3[0], 1, **kw),
                conv=ConvUnit(c3[0], c3[1], 5, **kw),
            )
        )
        self.branch_pool = nn.Sequential(
            OrderedDict(
                pool=nn.MaxPool2d(3, stride=1, padding=1),
                proj=ConvUnit(in_channels, c4, 1, **kw),
            )
        )
        self.hook_out = Tap()  # (B, out_channels, H, W) the concatenated paths
        self.out_channels = c1 + c2[1] + c3[1] + c4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        paths = [self.branch1x1(x), self.branch3x3(x), self.branch5x5(x), self.branch_pool(x)]
        return self.hook_out(torch.cat(paths, dim=1))


def googlenet(
    width: int = 16,
    *,
    norm: object = None,
    dropout: float = 0.0,
    activation: Activation = "relu",
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: int | Sequence[int] = 32,
    init: str = "torch",
) -> nn.Sequential:
    """A three-Inception GoogLeNet: stem, pool, 3a, 3b, pool, 4a, GAP, linear.

    The Inception blocks keep the channel proportions of the original blocks 3a, 3b and 4a,
    scaled by ``width / 64`` (``width=64`` gives the paper's channel counts). The stem is a
    single 3x3 conv with ``2 * width`` channels instead of the original's 7x7 and 3x3
    stack, which is too aggressive for 32x32 inputs.

    Args:
        width: scale; the 1x1 path of the first block has ``width`` channels.
        norm: norm after every conv (the original had none; it came with Inception v2).
        dropout: dropout probability before the linear head (the original used 0.4).
        activation: ``"relu"`` (default), ``"sigmoid"``, ``"tanh"`` or ``"gelu"``.
        in_channels, num_classes, input_size: input channels, logits, input side or (H, W).
        init: weight init, ``"torch"`` (PyTorch's default), ``"kaiming"`` or
            ``"xavier"`` (see ``vizlab.models.init_weights``).

    Raises:
        ValueError: for inputs smaller than 4x4 (two pools would go below 1x1).

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, num_classes)``
    """
    check_positive("googlenet", width=width, in_channels=in_channels, num_classes=num_classes)
    size = as_size(input_size)
    refuse_too_small("googlenet", size, 4)

    def scale(c: int) -> int:
        return max(1, round(c * width / 64))

    kw = dict(norm=norm, activation=activation)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    layers["stem"] = ConvUnit(in_channels, 2 * width, 3, spatial=size, **kw)
    layers["pool1"] = nn.MaxPool2d(2)
    size, channels = (size[0] // 2, size[1] // 2), 2 * width
    for i, (c1, c2, c3, c4) in enumerate(_PLANS):
        if i == 2:
            layers["pool2"] = nn.MaxPool2d(2)
            size = (size[0] // 2, size[1] // 2)
        block = Inception(
            channels,
            scale(c1),
            (scale(c2[0]), scale(c2[1])),
            (scale(c3[0]), scale(c3[1])),
            scale(c4),
            spatial=size,
            **kw,
        )
        layers[f"inception{i + 1}"] = block
        channels = block.out_channels
    layers["gap"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    drop = make_dropout(dropout)
    if drop is not None:
        layers["drop"] = drop
    layers["head"] = nn.Linear(channels, num_classes)
    model = nn.Sequential(layers)
    return init_weights(model, init)
