"""A small ConvNeXt (Liu et al. 2022): a ResNet modernized with transformer habits.

A ConvNeXt block mixes space and channels separately: a 7x7 depthwise conv looks at the
neighbourhood of each channel on its own, then a per-position MLP (1x1 conv expanding 4x,
GELU, 1x1 conv back) mixes the channels. There is one norm per block, a layer norm over the
channels at each position, and no activation after the residual sum. The stem cuts the image
into non-overlapping patches with a stride-``p`` conv, like a vision transformer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from vizlab.nn import Residual, resolve_norm

from .blocks import Activation, ConvUnit, init_weights
from .sizes import Size, as_size, check_positive, fmt_size, max_halvings, out_size, refuse_too_deep

__all__ = ["ConvNeXtBlock", "LayerScale", "convnext"]

CHANNEL_NORM = ("C",)  # layer norm over the channels of each position ("channels last")


class LayerScale(nn.Module):
    """Multiply each channel by a learned scale that starts tiny (``init``).

    ConvNeXt starts every branch almost silent this way, so a deep stack begins close to
    the identity, the same idea as zero-initializing the last norm of a ResNet branch.

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: same shape.
    """

    def __init__(self, channels: int, init: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels, 1, 1), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class ConvNeXtBlock(Residual):
    """``x + project(act(expand(norm(dwconv(x)))))`` as a ``vizlab.nn.Residual``.

    The branch units are ``dwconv`` (7x7 depthwise conv then the norm), ``expand`` (1x1 conv
    to ``4 * channels`` with the activation, GELU by default, and optional dropout) and
    ``project`` (1x1 conv back to ``channels``), plus ``scale`` when ``layer_scale`` is set.

    Shape:
        - Input: ``(B, channels, H, W)``
        - Output: same shape.
    """

    def __init__(
        self,
        channels: int,
        *,
        kernel_size: int = 7,
        norm: object = CHANNEL_NORM,
        activation: Activation = "gelu",
        dropout: float = 0.0,
        layer_scale: float | None = None,
        spatial: Size | None = None,
    ) -> None:
        kw = dict(spatial=spatial)
        branch = OrderedDict(
            dwconv=ConvUnit(
                channels, channels, kernel_size, groups=channels, norm=norm, activation=None, **kw
            ),
            expand=ConvUnit(
                channels, 4 * channels, 1, activation=activation, dropout=dropout, **kw
            ),
            project=ConvUnit(4 * channels, channels, 1, activation=None, **kw),
        )
        if layer_scale is not None:
            branch["scale"] = LayerScale(channels, layer_scale)
        super().__init__(nn.Sequential(branch))


def convnext(
    depths: Sequence[int] = (2, 2, 2),
    width: int = 24,
    *,
    patch: int | None = None,
    kernel_size: int = 7,
    layer_scale: float | None = None,
    norm: object = CHANNEL_NORM,
    dropout: float = 0.0,
    activation: Activation = "gelu",
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: int | Sequence[int] = 32,
    init: str = "torch",
) -> nn.Sequential:
    """Build patchify stem, stages of ConvNeXt blocks with downsampling, GAP, norm, linear.

    Stage ``i`` has ``width * 2**i`` channels; between stages a norm and a 2x2 stride-2
    conv halve the side (norm first, as in the paper). The default norm is ``("C",)``:
    ``vizlab.nn.Norm`` over the channels of each position, the "channels last" layer norm
    of the paper; any other ``norm=`` works too.

    Args:
        depths: number of blocks per stage (the paper's ConvNeXt-T uses (3, 3, 9, 3)).
        width: channels of the first stage.
        patch: stem patch size; default 2 for inputs of side 16 or more, else 1, so that
            32x32 images start from a 16x16 grid and 8x8 digits keep every pixel.
        kernel_size: depthwise kernel size (7 in the paper).
        layer_scale: initial per-channel scale of each branch (the paper uses 1e-6);
            ``None`` (default) leaves it out, which trains faster in short runs.
        norm: norm spec for the blocks, the downsampling layers and the head.
        dropout: dropout probability after the activation inside each block.
        activation: ``"gelu"`` (default), ``"relu"``, ``"sigmoid"`` or ``"tanh"``.
        in_channels, num_classes, input_size: input channels, logits, input side or (H, W).
        init: weight init, ``"torch"`` (PyTorch's default), ``"kaiming"`` or
            ``"xavier"`` (see ``vizlab.models.init_weights``).

    Raises:
        ValueError: for bad sizes, or when the stages would downsample below 1x1.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, num_classes)``
    """
    if isinstance(depths, (str, bytes)) or not isinstance(depths, Sequence):
        raise TypeError(
            f"convnext depths must be a list of blocks per stage such as (2, 2, 2), got {depths!r}"
        )
    depths = list(depths)
    if not depths:
        raise ValueError("convnext needs at least one stage in depths, e.g. depths=(2, 2, 2)")
    if layer_scale is not None and (
        isinstance(layer_scale, bool)
        or not isinstance(layer_scale, (int, float))
        or not 0 < layer_scale < float("inf")
    ):
        raise ValueError(
            f"convnext layer_scale is the initial scale of each branch and must be a number "
            f"> 0 (the paper uses 1e-6) or None to leave it out, got {layer_scale!r}"
        )
    check_positive("convnext", **{f"depths[{i}]": d for i, d in enumerate(depths)})
    check_positive("convnext", width=width, in_channels=in_channels, num_classes=num_classes)
    size = as_size(input_size)
    patch = (2 if min(size) >= 16 else 1) if patch is None else patch
    check_positive("convnext", patch=patch, kernel_size=kernel_size)
    if patch > min(size):
        raise ValueError(f"convnext patch {patch} is larger than the {fmt_size(size)} input")
    stem = ConvUnit(
        in_channels, width, patch, stride=patch, padding=0, norm=norm, activation=None, spatial=size
    )
    size = stem.out_size
    refuse_too_deep("convnext", len(depths), "stages", size, max_halvings(size) + 1)
    make_norm = resolve_norm(norm)
    parts: OrderedDict[str, nn.Module] = OrderedDict(stem=stem)
    channels = width
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    for i, depth in enumerate(depths):
        stage: OrderedDict[str, nn.Module] = OrderedDict()
        if i > 0:
            down: OrderedDict[str, nn.Module] = OrderedDict()
            if make_norm is not None:
                down["norm"] = make_norm(channels, size)
            down["conv"] = nn.Conv2d(channels, 2 * channels, 2, stride=2)
            stage["down"] = nn.Sequential(down)
            channels, size = 2 * channels, out_size(size, 2, 2)
        for b in range(depth):
            stage[f"block{b + 1}"] = ConvNeXtBlock(
                channels,
                kernel_size=kernel_size,
                norm=norm,
                activation=activation,
                dropout=dropout,
                layer_scale=layer_scale,
                spatial=size,
            )
        stages[f"stage{i + 1}"] = nn.Sequential(stage)
    parts["stages"] = nn.Sequential(stages)
    parts["gap"] = nn.AdaptiveAvgPool2d(1)
    parts["flatten"] = nn.Flatten()
    if make_norm is not None:
        parts["norm"] = make_norm(channels, None)
    parts["head"] = nn.Linear(channels, num_classes)
    model = nn.Sequential(parts)
    return init_weights(model, init)
