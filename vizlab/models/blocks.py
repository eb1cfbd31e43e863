"""Building blocks shared by every model family: activations, init, conv/linear units.

Every family is assembled from the same conv-norm-act unit so that probes and plots find the
same named places everywhere: the conv output (``hook_pre_norm``), the normalized map
(``hook_post_norm``) and the activated map (``hook_post_act``). Taps exist only for stages
that are really there, so a plot labelled "after the activation" never shows a map that was
not activated.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vizlab.nn import Dropout, resolve_norm
from vizlab.nn.tap import Tap

from .sizes import Size, check_positive, out_size

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "ConvUnit",
    "LinearUnit",
    "NormFactory",
    "INITS",
    "init_weights",
    "make_activation",
    "make_dropout",
    "norm_at",
]

NormFactory = Callable[..., nn.Module]
Activation = str | Callable[[], nn.Module]  # a name from ACTIVATIONS or a module factory

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=False),
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
}


def make_activation(activation: Activation) -> nn.Module:
    """Build a fresh activation module from a name.

    Teaching models never use in-place activations: an in-place ReLU would overwrite the
    tensor a hook just saw, so the probe would show the wrong values.

    Args:
        activation: one of ``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"gelu"``, or a callable
            returning a module (for example ``torch.nn.SiLU``).

    Raises:
        ValueError: for an unknown name; the message lists the known ones.
    """
    if isinstance(activation, str):
        key = activation.lower()
        if key not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}"
            )
        return ACTIVATIONS[key]()
    if callable(activation):
        module = activation()
        if not isinstance(module, nn.Module):
            raise TypeError(f"activation factory returned {type(module).__name__}, not a Module")
        return module
    raise TypeError(f"activation must be a name or a module factory, got {activation!r}")


INITS = ("torch", "kaiming", "xavier")


def init_weights(model: nn.Module, init: str) -> nn.Module:
    """Re-initialize every conv and linear weight of ``model`` in place (biases to zero).

    ``"torch"`` keeps PyTorch's default, a uniform init that shrinks the signal a little at
    every layer: harmless in shallow nets, and the reason deep plain nets without norms get
    stuck, which the depth experiment is meant to show. ``"kaiming"`` (He et al. 2015)
    keeps the variance constant through ReLU layers; ``"xavier"`` (Glorot and Bengio 2010)
    does so for sigmoid and tanh layers near zero.

    Raises:
        ValueError: for an unknown scheme; the message lists the known ones.
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {list(INITS)}")
    if init == "torch":
        return model
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            if init == "kaiming":
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def make_dropout(p: float) -> Dropout | None:
    """Return a ``vizlab.nn.Dropout(p)``, or ``None`` when ``p`` is zero (no module at all)."""
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {p!r}")
    return Dropout(float(p)) if p > 0 else None


def norm_at(norm: object, spatial: Size | None) -> NormFactory | None:
    """Resolve ``norm`` into a factory pinned to one spatial size.

    For norms built by someone else, such as the projection that ``vizlab.nn.Residual``
    adds on a shortcut: it does not know the map size, which norms with per-element affine
    parameters need.
    """
    make = resolve_norm(norm)
    if make is None:
        return None

    pinned_size = spatial

    def pinned(channels: int, spatial: Size | None = None) -> nn.Module:
        return make(channels, pinned_size if spatial is None else spatial)

    return pinned


class ConvUnit(nn.Module):
    """Conv, optional norm, optional activation, optional dropout, with named taps.

    The conv has no bias when a norm follows: the norm subtracts the mean, which would
    cancel any bias anyway, so the bias would only be a parameter that never learns.

    Args:
        in_channels: channels of the input map.
        out_channels: channels produced by the conv.
        kernel_size: square kernel size.
        stride: conv stride.
        padding: conv padding; ``None`` keeps the size at stride 1 (``kernel_size // 2``).
        groups: conv groups (``groups=in_channels`` gives a depthwise conv).
        norm: anything ``vizlab.nn.resolve_norm`` accepts, or ``None``.
        activation: an activation name or factory, or ``None`` for no activation.
        dropout: probability of a ``vizlab.nn.Dropout`` after the activation.
        spatial: ``(H, W)`` of the input; needed by norms with per-element affine
            parameters, and used to report ``out_size``.

    Shape:
        - Input: ``(B, in_channels, H, W)``
        - Output: ``(B, out_channels, H', W')`` with ``H' = out_size`` of the conv.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        padding: int | None = None,
        groups: int = 1,
        norm: object = None,
        activation: Activation | None = "relu",
        dropout: float = 0.0,
        spatial: Size | None = None,
    ) -> None:
        super().__init__()
        check_positive(type(self).__name__, in_channels=in_channels, out_channels=out_channels)
        padding = kernel_size // 2 if padding is None else padding
        make_norm = resolve_norm(norm)
        self.out_size = None if spatial is None else out_size(spatial, kernel_size, stride, padding)
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            groups=groups,
            bias=make_norm is None,
        )
        self.hook_pre_norm = Tap()  # (B, C_out, H', W') conv output
        self.norm = None
        if make_norm is not None:
            self.norm = make_norm(out_channels, self.out_size)
            self.hook_post_norm = Tap()  # (B, C_out, H', W') after the norm
        self.act = None
        if activation is not None:
            self.act = make_activation(activation)
            self.hook_post_act = Tap()  # (B, C_out, H', W') after the activation
        self.drop = make_dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hook_pre_norm(self.conv(x))
        if self.norm is not None:
            x = self.hook_post_norm(self.norm(x))
        if self.act is not None:
            x = self.hook_post_act(self.act(x))
        if self.drop is not None:
            x = self.drop(x)
        return x


class LinearUnit(nn.Module):
    """Linear, optional 1-D norm, optional activation, optional dropout, with named taps.

    The fully connected twin of ``ConvUnit``, used by the MLP and the classic heads
    (LeNet, AlexNet), so their hidden layers can be probed the same way.

    Shape:
        - Input: ``(B, in_features)``
        - Output: ``(B, out_features)``
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        norm: object = None,
        activation: Activation | None = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_positive(type(self).__name__, in_features=in_features, out_features=out_features)
        make_norm = resolve_norm(norm)
        self.linear = nn.Linear(in_features, out_features, bias=make_norm is None)
        self.hook_pre_norm = Tap()  # (B, F) linear output
        self.norm = None
        if make_norm is not None:
            self.norm = make_norm(out_features, None)
            self.hook_post_norm = Tap()  # (B, F) after the norm
        self.act = None
        if activation is not None:
            self.act = make_activation(activation)
            self.hook_post_act = Tap()  # (B, F) after the activation
        self.drop = make_dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hook_pre_norm(self.linear(x))
        if self.norm is not None:
            x = self.hook_post_norm(self.norm(x))
        if self.act is not None:
            x = self.hook_post_act(self.act(x))
        if self.drop is not None:
            x = self.drop(x)
        return x
