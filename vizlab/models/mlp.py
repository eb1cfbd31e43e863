"""A multilayer perceptron: the baseline that ignores the image's spatial structure.

Useful as the reference point for every convolutional family (same data, no weight
sharing) and for the normalization and dropout lessons in their simplest, 1-D form.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from .blocks import Activation, LinearUnit, init_weights, make_activation
from .sizes import as_size, check_positive

__all__ = ["mlp"]


def _sizes(
    sizes: Sequence[int] | None,
    hidden: Sequence[int],
    in_channels: int | None,
    num_classes: int | None,
    input_size: int | Sequence[int] | None,
) -> list[int]:
    named = {"in_channels": in_channels, "num_classes": num_classes}
    check_positive("mlp", **{k: v for k, v in named.items() if v is not None})
    given_in = None
    if in_channels is not None or input_size is not None:
        h, w = as_size(32 if input_size is None else input_size)
        given_in = (3 if in_channels is None else in_channels) * h * w
    if sizes is None:
        first = 3 * 32 * 32 if given_in is None else given_in
        return [first, *hidden, 10 if num_classes is None else num_classes]
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least [in_features, num_classes], got {sizes!r}")
    if given_in is not None and sizes[0] != given_in:
        raise ValueError(
            f"mlp sizes start with {sizes[0]} input features but in_channels x input_size "
            f"gives {given_in}; drop one of them or make them agree"
        )
    if num_classes is not None and sizes[-1] != num_classes:
        raise ValueError(
            f"mlp sizes end with {sizes[-1]} outputs but num_classes={num_classes}; make them agree"
        )
    return sizes


def mlp(
    sizes: Sequence[int] | None = None,
    *,
    norm: object = None,
    dropout: float = 0.0,
    activation: Activation = "relu",
    hidden: Sequence[int] = (128,),
    in_channels: int | None = None,
    num_classes: int | None = None,
    input_size: int | Sequence[int] | None = None,
    init: str = "torch",
) -> nn.Sequential:
    """Build ``flatten -> [linear, norm, act, dropout] x hidden -> linear``.

    Args:
        sizes: layer widths, first = input features, last = number of logits, e.g.
            ``[64, 128, 10]`` for 8x8 grey digits. When omitted, it is built from
            ``in_channels * H * W`` (defaults 3 and 32x32), ``hidden`` and ``num_classes``
            (default 10), so ``mlp`` can be called like the convolutional families.
        norm: 1-D norm on each hidden layer (``"batch"`` normalizes each feature over the
            batch, ``"layer"`` each sample over its features), or ``None``.
        dropout: dropout probability after each hidden activation.
        activation: ``"relu"``, ``"sigmoid"``, ``"tanh"`` or ``"gelu"``.
        hidden: hidden widths, used only when ``sizes`` is omitted.
        in_channels, num_classes, input_size: optional; checked against ``sizes`` if both
            are given.
        init: weight init, ``"torch"`` (PyTorch's default), ``"kaiming"`` or
            ``"xavier"`` (see ``vizlab.models.init_weights``).

    Returns:
        ``nn.Sequential`` with ``flatten``, ``layer1`` ... (``LinearUnit``), ``head``.

    Shape:
        - Input: ``(B, *)`` with ``sizes[0]`` elements per sample (images are flattened).
        - Output: ``(B, sizes[-1])``
    """
    make_activation(activation)  # fail early on a bad name, even without hidden layers
    sizes = _sizes(sizes, hidden, in_channels, num_classes, input_size)
    check_positive("mlp", **{f"sizes[{i}]": s for i, s in enumerate(sizes)})
    layers = OrderedDict(flatten=nn.Flatten())
    for i, (a, b) in enumerate(zip(sizes[:-2], sizes[1:-1])):
        layers[f"layer{i + 1}"] = LinearUnit(
            a, b, norm=norm, activation=activation, dropout=dropout
        )
    layers["head"] = nn.Linear(sizes[-2], sizes[-1])
    model = nn.Sequential(layers)
    return init_weights(model, init)
