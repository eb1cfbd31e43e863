"""Fast path for ``Norm``: torch's fused kernels for the axes choices that have one.

``Norm.forward`` defines the layer with a few plain tensor ops (``var_mean``, one multiply-add),
which is the version to read. For the four classic choices torch ships fused kernels that are
several times faster on a CPU, and each also returns the statistics it used, so ``last_mean``
and ``last_var`` cost nothing extra:

- batch norm (``("N", "H", "W")``, per-channel affine): ``torch.native_batch_norm``;
- layer, instance and group norm with a per-channel affine: all three are group norm
  (with 1, C and G groups), ``torch.native_group_norm``;
- layer norm with a per-element affine: ``torch.native_layer_norm``;
- normalization over ``("C",)`` alone (the per-position layer norm of ConvNeXt and of
  transformers): ``torch.native_layer_norm`` on the channels-last view.

The kernels return ``1 / sqrt(var + eps)``; the variance is recovered from it (detached).
Everything else, and devices without these kernels, takes the generic path. The tests check
both paths against torch's public functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from vizlab.nn.norm import Norm

__all__ = ["fused_forward"]

_DEVICES = ("cpu", "cuda")


def fused_forward(norm: Norm, x: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor | None:
    """Normalize ``x`` with a fused kernel and set ``norm.last_mean/last_var``.

    Returns ``None`` (and does nothing) when no kernel matches ``norm``'s choice, the device
    or the dtypes; the caller then uses the generic path.
    """
    if x.device.type not in _DEVICES or _autocast(x.device.type):
        return None
    weight, bias = norm.weight, norm.bias
    if weight is not None and weight.dtype != x.dtype:
        return None
    axes, c = norm.axes, norm.channels
    if axes == ("N", "H", "W"):
        if norm.affine == "element" or norm.momentum is None:
            return None  # cumulative averages would need the step count on the host
        rm, rv = norm.running_mean, norm.running_var
        if rm.dtype != x.dtype:
            return None
        y, mean, invstd = torch.native_batch_norm(
            x, weight, bias, rm, rv, norm.training, norm.momentum, norm.eps
        )
        if norm.training:
            norm.num_batches_tracked.add_(1)
            _set_last(norm, mean, invstd, (c,))
        else:
            norm.last_mean, norm.last_var = rm, rv
        return y
    if axes == ("C",) and norm.groups == 1 and (norm.affine != "element" or x.dim() == 2):
        if x.dim() == 2:
            y, mean, rstd = torch.native_layer_norm(x, [c], weight, bias, norm.eps)
            _set_last(norm, mean, rstd, (n,))
            return y
        # Channels last, so that C is the trailing axis layer_norm wants; the result is
        # handed back as an (N, C, H, W) view with channels-last strides, without a copy.
        y, mean, rstd = torch.native_layer_norm(x.permute(0, 2, 3, 1), [c], weight, bias, norm.eps)
        _set_last(norm, mean, rstd, (n, h, w))
        return y.permute(0, 3, 1, 2)
    if "N" in axes or not {"H", "W"} <= set(axes):
        return None
    if norm.affine == "element":
        if axes != ("C", "H", "W") or norm.groups != 1:
            return None
        shape = [c, h, w] if x.dim() == 4 else [c]
        y, mean, rstd = torch.native_layer_norm(x, shape, weight, bias, norm.eps)
        _set_last(norm, mean, rstd, (n,))
        return y
    groups = norm.groups if "C" in axes else c
    y, mean, rstd = torch.native_group_norm(x, weight, bias, n, c, h * w, groups, norm.eps)
    _set_last(norm, mean, rstd, (n,) + norm._kept_shape(None))  # H, W normalized
    return y


def _autocast(device_type: str) -> bool:
    """Under autocast torch's public norm functions run in float32; let the plain path
    handle it rather than copy those rules."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4 only knows the CUDA flag
        return torch.is_autocast_enabled()


def _set_last(norm: Norm, mean: torch.Tensor, rstd: torch.Tensor, shape: tuple[int, ...]) -> None:
    norm.last_mean = mean.detach().reshape(shape)
    rstd = rstd.detach().reshape(shape)
    norm.last_var = (rstd.square().reciprocal() - norm.eps).clamp_(min=0.0)
