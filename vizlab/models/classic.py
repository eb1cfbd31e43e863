"""The classic architectures of the lecture, scaled down: LeNet, AlexNet and NiN.

They show the ideas in historical order: LeNet (LeCun et al. 1998) alternates convs with
subsampling and ends in fully connected layers; AlexNet (Krizhevsky et al. 2012) is the
same recipe deeper, with ReLU, overlapping max-pooling and dropout on the big fully connected
layers; NiN (Lin et al. 2013) drops the fully connected head altogether, puts a tiny MLP
(two 1x1 convs) after every conv, and reads the class scores off with global average
pooling. All three are sized for 32x32 images but also build for 28x28 and 8x8 inputs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from vizlab.nn.tap import Tap

from .blocks import Activation, ConvUnit, LinearUnit, init_weights, make_dropout
from .sizes import as_size, check_positive, out_size, refuse_too_small

__all__ = ["NiNBlock", "alexnet", "lenet", "nin"]


def lenet(
    *,
    norm: object = None,
    dropout: float = 0.0,
    activation: Activation = "sigmoid",
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: int | Sequence[int] = 32,
    init: str = "xavier",
) -> nn.Sequential:
    """LeNet-5: conv5(6)-avgpool-conv5(16)-avgpool-fc120-fc84-fc(num_classes).

    The first conv pads by 2 so 28x28 digits keep their size, as in the usual modern
    reading of LeNet. The second conv pads only when the map is small (side below 10 after
    the first pool, e.g. 8x8 digits), so that it does not eat the whole image. Sigmoid is the
    default activation, as in the original; ``activation="relu"`` shows why AlexNet switched.

    Args:
        norm: norm after each conv and hidden fully connected layer, or ``None``.
        dropout: dropout probability after the two hidden fully connected layers.
        activation: ``"sigmoid"`` (default), ``"relu"``, ``"tanh"`` or ``"gelu"``.
        in_channels, num_classes, input_size: input channels, logits, input side or (H, W).
        init: weight init, ``"xavier"`` by default (see ``vizlab.models.init_weights``);
            ``"torch"`` keeps PyTorch's default.

    Raises:
        ValueError: for inputs smaller than 4x4 (they would be pooled below 1x1).

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, num_classes)``
    """
    check_positive("lenet", in_channels=in_channels, num_classes=num_classes)
    size = as_size(input_size)
    refuse_too_small("lenet", size, 4)
    conv1 = ConvUnit(in_channels, 6, 5, padding=2, norm=norm, activation=activation, spatial=size)
    size = out_size(conv1.out_size, 2, 2)
    pad2 = 0 if min(size) >= 10 else 2
    conv2 = ConvUnit(6, 16, 5, padding=pad2, norm=norm, activation=activation, spatial=size)
    size = out_size(conv2.out_size, 2, 2)
    fc = dict(norm=norm, activation=activation, dropout=dropout)
    model = nn.Sequential(
        OrderedDict(
            conv1=conv1,
            pool1=nn.AvgPool2d(2),
            conv2=conv2,
            pool2=nn.AvgPool2d(2),
            flatten=nn.Flatten(),
            fc1=LinearUnit(16 * size[0] * size[1], 120, **fc),
            fc2=LinearUnit(120, 84, **fc),
            head=nn.Linear(84, num_classes),
        )
    )
    return init_weights(model, init)


def alexnet(
    width: int = 32,
    hidden: int = 256,
    *,
    norm: object = None,
    dropout: float = 0.5,
    activation: Activation = "relu",
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: int | Sequence[int] = 32,
    init: str = "torch",
) -> nn.Sequential:
    """A small AlexNet: five convs, three overlapping max-pools, three fully connected layers.

    The channel pattern follows the original (96, 256, 384, 384, 256) as ``width`` times
    (1, 2, 3, 3, 2). Like the original's 11x11 stride-4 stem, the first conv is the largest
    (5x5) and strided (2), which keeps the net cheap: a 32x32 image is 16x16 after it and
    2x2 before the fully connected layers. The pools are 3x3 with stride 2 (overlapping, as
    in the paper), which halves the side rounding up, so even an 8x8 input keeps a 1x1 map.
    Dropout sits after the two hidden fully connected layers, where the original used it to
    tame their many parameters.

    Args:
        width: channels of the first conv.
        hidden: width of the two hidden fully connected layers.
        norm: norm after each conv and hidden fully connected layer (the original had none).
        dropout: dropout probability on the hidden fully connected layers (default 0.5).
        activation: ``"relu"`` (default), ``"sigmoid"``, ``"tanh"`` or ``"gelu"``.
        in_channels, num_classes, input_size: input channels, logits, input side or (H, W).
        init: weight init, ``"torch"`` (PyTorch's default), ``"kaiming"`` or
            ``"xavier"`` (see ``vizlab.models.init_weights``).

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, num_classes)``
    """
    check_positive("alexnet", width=width, hidden=hidden, in_channels=in_channels)
    check_positive("alexnet", num_classes=num_classes)
    size = as_size(input_size)
    chans = [in_channels, width, 2 * width, 3 * width, 3 * width, 2 * width]
    pool_after = {0: "pool1", 1: "pool2", 4: "pool3"}  # conv index -> pool name
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i in range(5):
        unit = ConvUnit(
            chans[i],
            chans[i + 1],
            5 if i == 0 else 3,
            stride=2 if i == 0 else 1,
            norm=norm,
            activation=activation,
            spatial=size,
        )
        layers[f"conv{i + 1}"] = unit
        size = unit.out_size
        if i in pool_after:
            layers[pool_after[i]] = nn.MaxPool2d(3, stride=2, padding=1)
            size = out_size(size, 3, 2, 1)
    fc = dict(norm=norm, activation=activation, dropout=dropout)
    layers["flatten"] = nn.Flatten()
    layers["fc1"] = LinearUnit(chans[-1] * size[0] * size[1], hidden, **fc)
    layers["fc2"] = LinearUnit(hidden, hidden, **fc)
    layers["head"] = nn.Linear(hidden, num_classes)
    model = nn.Sequential(layers)
    return init_weights(model, init)


class NiNBlock(nn.Sequential):
    """A conv followed by two 1x1 convs: a small MLP applied at every pixel.

    A 1x1 conv is a fully connected layer shared across positions, hence the unit names
    ``fc1`` and ``fc2``. With ``last=True`` the final 1x1 conv has neither norm nor
    activation, because its output channels are the class scores.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H, W)`` (the first conv keeps the size)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        norm: object = None,
        activation: Activation = "relu",
        last: bool = False,
        spatial: tuple[int, int] | None = None,
    ) -> None:
        kw = dict(norm=norm, activation=activation, spatial=spatial)
        super().__init__(
            OrderedDict(
                conv=ConvUnit(in_channels, out_channels, kernel_size, **kw),
                fc1=ConvUnit(out_channels, out_channels, 1, **kw),
                fc2=ConvUnit(
                    out_channels,
                    out_channels,
                    1,
                    **(dict(spatial=spatial, norm=None, activation=None) if last else kw),
                ),
                hook_out=Tap(),  # (B, out_channels, H, W) block output
            )
        )


def nin(
    width: int = 16,
    *,
    norm: object = None,
    dropout: float = 0.0,
    activation: Activation = "relu",
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: int | Sequence[int] = 32,
    init: str = "kaiming",
) -> nn.Sequential:
    """Network in Network: four NiN blocks, the last one emitting one map per class.

    Three blocks (5x5, 3x3, 3x3 convs; ``width``, ``2*width``, ``3*width`` channels) each
    followed by a 2x2 max-pool, then optional dropout, then a block whose channels are the
    classes; global average pooling turns each class map into its logit. There is no fully
    connected layer at all.

    Args:
        width: channels of the first block.
        norm: norm after each conv except the final class-score conv.
        dropout: dropout probability before the final block (the original used 0.5 there).
        activation: ``"relu"`` (default), ``"sigmoid"``, ``"tanh"`` or ``"gelu"``.
        in_channels, num_classes, input_size: input channels, logits, input side or (H, W).
        init: weight init, ``"kaiming"`` by default (see ``vizlab.models.init_weights``);
            ``"torch"`` keeps PyTorch's default.

    Raises:
        ValueError: for inputs smaller than 8x8 (three pools would go below 1x1).

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, num_classes)``
    """
    check_positive("nin", width=width, in_channels=in_channels, num_classes=num_classes)
    size = as_size(input_size)
    refuse_too_small("nin", size, 8)
    kw = dict(norm=norm, activation=activation)
    chans = [in_channels, width, 2 * width, 3 * width]
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, k in enumerate((5, 3, 3)):
        layers[f"block{i + 1}"] = NiNBlock(chans[i], chans[i + 1], k, spatial=size, **kw)
        layers[f"pool{i + 1}"] = nn.MaxPool2d(2)
        size = out_size(size, 2, 2)
    drop = make_dropout(dropout)
    if drop is not None:
        layers["drop"] = drop
    layers["block4"] = NiNBlock(chans[-1], num_classes, 3, spatial=size, last=True, **kw)
    layers["gap"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    model = nn.Sequential(layers)
    return init_weights(model, init)
