"""CIFAR-style ResNets (He et al. 2016) and their plain twins, for the degradation experiment.

A residual block computes ``relu(f(x) + s(x))``: the branch ``f`` is conv-norm-relu-conv-norm
(or the 1x1-3x3-1x1 bottleneck), the skip ``s`` is the identity, or a 1x1 projection when
the block changes the channel count or the stride. The ReLU sits after the sum, outside
``f``, so a block can push its input down as well as up.

The plain twin keeps every conv and norm of the branches and only drops the skip, which is
what He et al. compared: deeper plain nets train worse, deeper residual nets train better.
Because the skip is gone, the plain twin also has no projection convs; its parameter count
is the residual net's minus exactly those projections.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from vizlab.nn import Residual, resolve_norm
from vizlab.nn.tap import Tap

from .blocks import Activation, ConvUnit, init_weights, make_activation, norm_at
from .sizes import Size, as_size, check_positive

__all__ = ["BasicBranch", "Bottleneck", "PlainBlock", "ResidualBlock", "resnet"]


class BasicBranch(nn.Sequential):
    """The basic branch ``f``: 3x3 conv-norm-act, 3x3 conv-norm (no activation: it comes
    after the sum). The first conv carries the stride; dropout, if any, follows its activation.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H / stride, W / stride)``
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        stride: int = 1,
        norm: object = "batch",
        activation: Activation = "relu",
        dropout: float = 0.0,
        spatial: Size | None = None,
    ) -> None:
        conv1 = ConvUnit(
            in_channels,
            out_channels,
            3,
            stride=stride,
            norm=norm,
            activation=activation,
            dropout=dropout,
            spatial=spatial,
        )
        conv2 = ConvUnit(
            out_channels, out_channels, 3, norm=norm, activation=None, spatial=conv1.out_size
        )
        super().__init__(OrderedDict(conv1=conv1, conv2=conv2))
        self.out_size = conv1.out_size


class Bottleneck(nn.Sequential):
    """The bottleneck branch ``f``: 1x1 reduce, 3x3 (with the stride), 1x1 expand.

    The 3x3 conv works on ``mid_channels`` (typically a quarter of ``out_channels``), which
    makes deep nets affordable: most of the channels only meet cheap 1x1 convs. Each conv
    has a norm; the last one has no activation (it comes after the sum).

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H / stride, W / stride)``
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        *,
        stride: int = 1,
        norm: object = "batch",
        activation: Activation = "relu",
        dropout: float = 0.0,
        spatial: Size | None = None,
    ) -> None:
        reduce = ConvUnit(
            in_channels, mid_channels, 1, norm=norm, activation=activation, spatial=spatial
        )
        conv = ConvUnit(
            mid_channels,
            mid_channels,
            3,
            stride=stride,
            norm=norm,
            activation=activation,
            dropout=dropout,
            spatial=reduce.out_size,
        )
        expand = ConvUnit(
            mid_channels, out_channels, 1, norm=norm, activation=None, spatial=conv.out_size
        )
        super().__init__(OrderedDict(conv1=reduce, conv2=conv, conv3=expand))
        self.out_size = conv.out_size


class ResidualBlock(Residual):
    """``act(branch(x) + shortcut(x))``: a ``vizlab.nn.Residual`` with the ReLU after the sum.

    Being a ``Residual``, it has the skip/branch taps and gradient split that the probes
    read; ``hook_post_act`` shows the block's final output. ``spatial`` is the block's
    output size, passed to the norm of the projection shortcut when one is built.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H / stride, W / stride)``
    """

    def __init__(
        self,
        branch: nn.Module,
        *,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        norm: object = "batch",
        activation: Activation = "relu",
        spatial: Size | None = None,
    ) -> None:
        super().__init__(
            branch,
            in_channels=in_channels,
            out_channels=out_channels,
            stride=stride,
            norm=norm_at(norm, spatial),
        )
        self.act = make_activation(activation)
        self.hook_post_act = Tap()  # (B, C_out, H', W') after the activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_post_act(self.act(super().forward(x)))


class PlainBlock(nn.Module):
    """``act(branch(x))``: the same branch as ``ResidualBlock`` with the skip removed.

    The submodule names match the residual block's (``branch``, ``act``), so layer names
    line up when the two twins are compared side by side.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H / stride, W / stride)``
    """

    def __init__(self, branch: nn.Module, *, activation: Activation = "relu") -> None:
        super().__init__()
        self.branch = branch
        self.hook_out = Tap()  # (B, C_out, H', W') branch output, before the activation
        self.act = make_activation(activation)
        self.hook_post_act = Tap()  # (B, C_out, H', W') after the activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_post_act(self.act(self.hook_out(self.branch(x))))


def _blocks_per_stage(depth: object, bottleneck: bool) -> int:
    per_block = 9 if bottleneck else 6
    kind = "bottleneck" if bottleneck else "basic"
    if not isinstance(depth, int) or isinstance(depth, bool):
        raise ValueError(f"resnet depth must be an int, got {depth!r}")
    if depth >= per_block + 2 and (depth - 2) % per_block == 0:
        return (depth - 2) // per_block
    lower = max(1, (depth - 2) // per_block)
    near = sorted({per_block * lower + 2, per_block * (lower + 1) + 2})
    examples = ", ".join(str(per_block * n + 2) for n in (1, 2, 3, 5, 7, 9))
    raise ValueError(
        f"resnet depth {depth} is not of the form {per_block}n+2 needed with {kind} blocks "
        f"({examples}, ...); nearest valid depths: {' or '.join(map(str, near))}"
    )


def resnet(
    depth: int = 20,
    *,
    residual: bool = True,
    bottleneck: bool = False,
    norm: object = "batch",
    width: int = 16,
    activation: Activation = "relu",
    dropout: float = 0.0,
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: int | Sequence[int] = 32,
    zero_init: bool = False,
    init: str = "torch",
) -> nn.Sequential:
    """Build a CIFAR-style ResNet (``residual=True``) or its plain twin (``residual=False``).

    Layout: a 3x3 stem conv with ``width`` channels, three stages of ``n`` blocks with
    ``width``, ``2*width``, ``4*width`` channels (bottleneck stages output 4x that), stride 2
    at the first block of stages 2 and 3, then global average pooling and a linear head.
    Depth counts convs plus the head: ``6n+2`` with basic blocks, ``9n+2`` with bottlenecks.

    Args:
        depth: total number of weight layers (20, 32, 44, 56, 110 ... for basic blocks).
        residual: ``False`` removes every skip (and hence every projection).
        bottleneck: use 1x1-3x3-1x1 bottleneck branches instead of two 3x3 convs.
        norm: norm after every conv (default batch norm, as in the paper).
        width: channels of the stem and of the first stage.
        activation: activation inside the branch and after each sum.
        dropout: dropout probability inside each branch (after its first activation).
        in_channels: channels of the input images.
        num_classes: number of logits.
        input_size: side or ``(H, W)`` of the inputs (stride-2 convs never go below 1x1).
        zero_init: set the scale (gamma) of the last norm of every branch to zero, so each
            block starts as its skip (Goyal et al. 2017; see De and Smith 2020). In the plain
            twin this silences every block at init, which is allowed but rarely useful.
        init: weight init, ``"torch"`` (PyTorch's default), ``"kaiming"`` or
            ``"xavier"`` (see ``vizlab.models.init_weights``).

    Returns:
        ``nn.Sequential`` with ``stem``, ``stages`` (``stage1.block1`` ...), ``gap``,
        ``flatten``, ``head``. In the residual net each block is a ``ResidualBlock`` (a
        ``vizlab.nn.Residual``); in the plain twin a ``PlainBlock``.

    Raises:
        ValueError: for a depth that is not ``6n+2`` (``9n+2``), naming the nearest valid
            ones; for ``zero_init`` without a norm that has a scale.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, num_classes)``
    """
    n = _blocks_per_stage(depth, bottleneck)
    check_positive("resnet", width=width, in_channels=in_channels, num_classes=num_classes)
    if zero_init and resolve_norm(norm) is None:
        raise ValueError("zero_init=True sets the last norm's scale to zero; it needs norm=...")
    size = as_size(input_size)
    stem = ConvUnit(in_channels, width, 3, norm=norm, activation=activation, spatial=size)
    size, channels = stem.out_size, width
    stages = OrderedDict()
    for s in range(3):
        blocks = OrderedDict()
        for b in range(n):
            stride = 2 if (s > 0 and b == 0) else 1
            mid = width * 2**s
            out = 4 * mid if bottleneck else mid
            kw = dict(stride=stride, norm=norm, activation=activation, dropout=dropout)
            if bottleneck:
                branch = Bottleneck(channels, mid, out, spatial=size, **kw)
            else:
                branch = BasicBranch(channels, out, spatial=size, **kw)
            if zero_init:
                last = list(branch.children())[-1].norm
                if getattr(last, "weight", None) is None:
                    raise ValueError("zero_init=True needs a norm with a scale (affine weights)")
                nn.init.zeros_(last.weight)
            if residual:
                block = ResidualBlock(
                    branch,
                    in_channels=channels,
                    out_channels=out,
                    stride=stride,
                    norm=norm,
                    activation=activation,
                    spatial=branch.out_size,
                )
            else:
                block = PlainBlock(branch, activation=activation)
            blocks[f"block{b + 1}"] = block
            channels, size = out, branch.out_size
        stages[f"stage{s + 1}"] = nn.Sequential(blocks)
    model = nn.Sequential(
        OrderedDict(
            stem=stem,
            stages=nn.Sequential(stages),
            gap=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            head=nn.Linear(channels, num_classes),
        )
    )
    return init_weights(model, init)
