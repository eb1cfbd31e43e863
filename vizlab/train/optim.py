"""Optimizers and weight penalties, written so the lecture's comparisons are fair.

Two ways to keep weights small look alike and are not (Loshchilov & Hutter, "Decoupled
Weight Decay Regularization", 2019):

- an **L2 penalty** ``l2 * sum ||w||^2`` is added to the loss, so its gradient ``2 * l2 * w``
  goes through the optimizer. Adam divides every gradient by its running scale, so weights
  with large gradients are barely decayed.
- **decoupled weight decay** shrinks the weights directly, ``w <- w * (1 - lr * wd)``, next
  to the optimizer's step, whatever the gradients are. That is AdamW.

With plain SGD (no momentum) the two coincide: ``l2 = c`` is exactly ``weight_decay = 2c``.
Both act on the same parameters, :func:`decay_parameters`, so comparing them compares the
rule and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

__all__ = ["OPTIMIZERS", "SGDW", "decay_parameters", "make_optimizer", "penalty"]

OPTIMIZERS = ("adam", "adamw", "sgd")

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)


def _is_norm(module: nn.Module) -> bool:
    # vizlab.nn.Norm and other custom norms are recognised by name: their affine weights
    # can be (C, H, W) ("element" affine) and would otherwise pass the ndim test.
    return isinstance(module, _NORM_TYPES) or type(module).__name__.endswith("Norm")


def decay_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split trainable parameters into ``(decayed, not_decayed)``.

    Decay and the ``l1``/``l2`` penalties apply to the weights of convolutions and linear
    layers (every parameter with two or more dimensions) and not to biases or the scale and
    shift of normalization layers: shrinking a bias or a norm's gain toward zero does not
    make a function simpler, it only fights the normalization.
    """
    decayed: list[nn.Parameter] = []
    others: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        for p in module.parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            (decayed if p.ndim > 1 and not _is_norm(module) else others).append(p)
    return decayed, others


class SGDW(torch.optim.SGD):
    """SGD (with optional momentum) plus decoupled weight decay.

    Before each update every parameter of a group with ``decoupled_weight_decay = wd`` is
    scaled by ``1 - lr * wd``: the decay never enters the gradient, so momentum does not
    accumulate it (the same rule AdamW applies to Adam).
    """

    def __init__(self, params: Iterable, lr: float, momentum: float = 0.0) -> None:
        super().__init__(params, lr=lr, momentum=momentum)
        for group in self.param_groups:
            group.setdefault("decoupled_weight_decay", 0.0)

    @torch.no_grad()
    def step(self, closure: Callable | None = None):  # type: ignore[override]
        for group in self.param_groups:
            wd = group["decoupled_weight_decay"]
            if wd:
                for p in group["params"]:
                    if p.grad is not None:
                        p.mul_(1.0 - group["lr"] * wd)
        return super().step(closure)


def make_optimizer(
    model: nn.Module,
    optimizer: str | Callable,
    *,
    lr: float,
    weight_decay: float,
    momentum: float,
    fused: bool = False,
) -> torch.optim.Optimizer:
    """Build the optimizer ``fit`` uses.

    Args:
        optimizer: ``"adam"`` (AdamW when ``weight_decay > 0``), ``"adamw"``, ``"sgd"``
            (with ``momentum``), or a callable ``params -> torch.optim.Optimizer`` that
            receives the list of trainable parameters and sets its own learning rate and
            decay.
        weight_decay: decoupled decay, applied to :func:`decay_parameters` only.
        fused: use torch's fused Adam/AdamW kernels (one launch for all parameters, step
            counts kept on the device); ``fit`` asks for it on CUDA. SGD is never fused.
    """
    if callable(optimizer):
        params = [p for p in model.parameters() if p.requires_grad]
        opt = optimizer(params)
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(
                f"the optimizer callable must return a torch.optim.Optimizer, got {type(opt)}"
            )
        return opt
    decayed, others = decay_parameters(model)
    groups = [
        {"params": decayed, "weight_decay": weight_decay},
        {"params": others, "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    extra = {"fused": True} if fused else {}
    if optimizer == "adam" and weight_decay == 0:
        return torch.optim.Adam(groups, lr=lr, **extra)
    if optimizer in ("adam", "adamw"):
        return torch.optim.AdamW(groups, lr=lr, **extra)
    if optimizer == "sgd":
        for g in groups:
            g["decoupled_weight_decay"] = g.pop("weight_decay")
        return SGDW(groups, lr=lr, momentum=momentum)
    raise ValueError(f"unknown optimizer {optimizer!r}: use one of {OPTIMIZERS} or a callable")


def penalty(params: list[nn.Parameter], *, l2: float, l1: float) -> torch.Tensor | None:
    """``l2 * sum ||w||^2 + l1 * sum |w|`` over ``params``, or ``None`` when both are 0.

    Shape:
        returns a 0-d tensor on the parameters' device
    """
    if not params or (l2 == 0 and l1 == 0):
        return None
    total = params[0].new_zeros(())
    if l2:
        total = total + l2 * sum(p.pow(2).sum() for p in params)
    if l1:
        total = total + l1 * sum(p.abs().sum() for p in params)
    return total
