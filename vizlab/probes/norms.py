"""Batch statistics of normalization layers: vizlab's ``Norm`` and torch's own norm modules.

A normalization layer standardizes its input with a mean and a variance computed over some
axes. ``vizlab.nn.Norm`` keeps the statistics it used (``last_mean``, ``last_var``), so
reading them costs nothing. Torch's ``BatchNorm``, ``InstanceNorm``, ``GroupNorm`` and
``LayerNorm`` keep nothing, so the probe recomputes them from the layer's input over the
same axes, on sampled steps only.

Two views are offered. ``norm_stats_full`` gives the statistics in their native shape (batch
norm ``(C,)``, layer norm ``(N,)``, instance norm ``(N, C)``, group norm ``(N, G)``), which
is what ``trace`` shows. ``channel_view`` turns any of them into one value per channel (or
per group): statistics kept per example are averaged over the batch, and those kept per
position are averaged over positions, which is what ``watch`` records over time.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from vizlab.nn import Norm

__all__ = [
    "is_norm",
    "batch_stats",
    "used_stats",
    "channel_view",
    "stat_layout",
    "norm_params",
    "norm_param_key",
]

_TORCH_NORMS = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)
# Rank of a batched input for each instance norm (an unbatched one has one axis less).
_INSTANCE_RANK = ((nn.InstanceNorm1d, 3), (nn.InstanceNorm2d, 4), (nn.InstanceNorm3d, 5))
# Where each named axis sits in Norm's 5-D working view (N, G, C/G, H, W).
_DIM5 = {"N": 0, "C": 2, "H": 3, "W": 4}


def is_norm(module: nn.Module) -> bool:
    """Whether the probe knows how to read this layer's normalization statistics."""
    return isinstance(module, (Norm, *_TORCH_NORMS))


def batch_stats(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (biased) variance of ``x`` over the axes ``module`` normalizes over.

    This is what the layer uses in training mode, whatever mode it is in now.

    Shape:
        - ``x``: the layer's input.
        - Output: two tensors in the native shape of the module's statistics (see the
          module docstring).
    """
    x = x.detach()
    if isinstance(module, Norm):
        return _vizlab_batch_stats(module, x)
    if isinstance(module, _BatchNorm):
        dims = [0, *range(2, x.dim())]
        return _var_mean(x, dims)
    if isinstance(module, _InstanceNorm):
        rank = next((r for cls, r in _INSTANCE_RANK if isinstance(module, cls)), x.dim())
        if x.dim() < rank:  # unbatched (C, *) input: one example
            x = x.unsqueeze(0)
        return _var_mean(x, list(range(2, x.dim())))
    if isinstance(module, nn.GroupNorm):
        grouped = x.reshape(x.shape[0], module.num_groups, -1)  # (N, G, C/G * spatial)
        return _var_mean(grouped, [2])
    if isinstance(module, nn.LayerNorm):
        k = len(module.normalized_shape)
        return _var_mean(x, list(range(x.dim() - k, x.dim())))
    raise TypeError(f"{type(module).__name__} is not a normalization layer the probes know")


def used_stats(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """The statistics the layer actually used in its last forward, and whether they were
    the running averages (eval mode with running statistics)."""
    if isinstance(module, Norm) and module.last_mean is not None:
        uses_running = module.tracks_running_stats and not module.training
        return module.last_mean, module.last_var, uses_running
    running = getattr(module, "running_mean", None)
    if running is not None and not module.training:
        return module.running_mean, module.running_var, True
    mean, var = batch_stats(module, x)
    return mean, var, False


def channel_view(stat: torch.Tensor, per_example: bool, has_channel: bool) -> torch.Tensor:
    """One value per channel (or group): average out the batch axis and any positions.

    Args:
        stat: a statistic or parameter in its native shape.
        per_example: whether its first axis is the batch (statistics not pooled over N).
        has_channel: whether the next axis is channels or groups; if not (layer norm, or
            axes that pool the channels without groups), everything is averaged to one value.

    Shape:
        - Output: ``(K,)`` with ``K`` channels or groups, ``(1,)`` without a channel axis.
    """
    stat = stat.detach().float()
    if per_example and stat.dim() > 0:
        stat = stat.mean(0)
    if not has_channel or stat.dim() == 0:
        return stat.mean().reshape(1)
    if stat.dim() > 1:
        stat = stat.reshape(stat.shape[0], -1).mean(1)
    return stat


def stat_layout(module: nn.Module) -> tuple[bool, bool]:
    """``(per_example, has_channel)`` of the module's batch statistics (see ``channel_view``)."""
    if isinstance(module, Norm):
        return "N" not in module.axes, "C" not in module.axes or module.groups > 1
    if isinstance(module, _BatchNorm):
        return False, True
    return True, not isinstance(module, nn.LayerNorm)


def norm_params(module: nn.Module) -> dict[str, torch.Tensor]:
    """The running averages and the affine scale (alpha) and shift (beta) the layer has."""
    out = {}
    for stat, attr in (
        ("running_mean", "running_mean"),
        ("running_var", "running_var"),
        ("alpha", "weight"),
        ("beta", "bias"),
    ):
        value = getattr(module, attr, None)
        if isinstance(value, torch.Tensor):
            out[stat] = value.detach()
    return out


_NORM_PARAMS = (("running_mean", "_buffers"), ("running_var", "_buffers"))
_NORM_PARAMS += (("weight", "_parameters"), ("bias", "_parameters"))


def norm_param_key(module: nn.Module) -> tuple | None:
    """What :func:`norm_params` would read, as the identity and memory address of each
    tensor: equal keys mean the same tensors in the same memory (moving a model changes
    the memory). ``None`` when one of them is a plain attribute rather than a registered
    buffer or parameter, which could be swapped unseen."""
    key = []
    for attr, registry in _NORM_PARAMS:
        if attr in module.__dict__:
            return None
        t = getattr(module, registry).get(attr)
        key.append(None if t is None else (id(t), t.data_ptr()))
    return tuple(key)


def _var_mean(x: torch.Tensor, dims: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    # E[x^2] - E[x]^2 in float32: far faster than torch.var_mean on a CPU (see stats.py).
    xf = x.float()
    mean = xf.mean(dims)
    var = (xf * xf).mean(dims) - mean * mean
    return mean, var.clamp_(min=0)


def _vizlab_batch_stats(module: Norm, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n = x.shape[0]
    h, w = (x.shape[2], x.shape[3]) if x.dim() == 4 else (1, 1)
    g = module.groups
    x5 = x.reshape(n, g, module.channels // g, h, w)  # (N, G, C/G, H, W)
    mean, var = _var_mean(x5, [_DIM5[a] for a in module.axes])
    shape = [n] if "N" not in module.axes else []
    if "C" not in module.axes:
        shape.append(module.channels)
    elif g > 1:
        shape.append(g)
    shape += [h] if "H" not in module.axes else []
    shape += [w] if "W" not in module.axes else []
    return mean.reshape(shape), var.reshape(shape)
