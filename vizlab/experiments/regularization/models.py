"""The models section E trains: an MLP sized for the data, and its ``w = a * b`` rewrite.

:class:`ReparamLinear` (E-REPARAM) is the only new module of the section; the penalties and
the decay it is trained with live in ``vizlab.train.optim``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vizlab.data import Dataset
from vizlab.models import mlp

__all__ = ["ReparamLinear", "reparameterize", "mlp_for"]


class ReparamLinear(nn.Module):
    """A linear layer whose weight is the elementwise product ``w = a * b`` (E-REPARAM).

    ``a`` and ``b`` are 2-D parameters, so ``fit(l2=c)`` penalises ``c (||a||^2 + ||b||^2)``.
    For a fixed ``w`` that sum is smallest when ``|a| = |b| = sqrt|w|``, where it equals
    ``2c |w|``: the penalty is L1 on ``w`` with coefficient ``2c`` (Ziyin & Wang, "Sparsity by
    Redundancy: Solving L1 with a Simple Reparametrization", 2022). Unlike ``|w|`` it is
    smooth, so gradient descent shrinks an unused ``a`` and ``b`` geometrically to zero
    instead of stepping back and forth across it.

    Shape:
        x: (B, in_features) -> (B, out_features); a, b, weight: (out_features, in_features)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.a = nn.Parameter(torch.empty(out_features, in_features))
        self.b = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.set_weight(nn.Linear(in_features, out_features).weight.detach())

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> ReparamLinear:
        """The same function as ``linear``: ``a * b`` equals its weight (to float rounding)."""
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        layer.set_weight(linear.weight.detach())
        if linear.bias is not None:
            with torch.no_grad():
                layer.bias.copy_(linear.bias)
        return layer

    @torch.no_grad()
    def set_weight(self, w: torch.Tensor) -> None:
        """Balanced split ``a = sign(w) sqrt|w|``, ``b = sqrt|w|`` (where the penalty is L1)."""
        root = w.abs().sqrt()
        self.a.copy_(torch.where(w < 0, -root, root))
        self.b.copy_(root)

    @property
    def weight(self) -> torch.Tensor:
        return self.a * self.b  # (out, in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, w=a*b"


def reparameterize(model: nn.Module) -> nn.Module:
    """Replace every ``nn.Linear`` of ``model`` in place by an equal :class:`ReparamLinear`."""
    for name, child in list(model.named_children()):
        if type(child) is nn.Linear:
            setattr(model, name, ReparamLinear.from_linear(child))
        else:
            reparameterize(child)
    return model


def mlp_for(data: Dataset, hidden: Sequence[int], seed: int, activation: str = "relu") -> nn.Module:
    """An MLP sized for ``data``, initialised from ``seed`` (same seed, same weights)."""
    c, h, w = data.shape
    torch.manual_seed(seed)
    return mlp([c * h * w, *hidden, data.num_classes], activation=activation)
