"""``Residual``: ``out = branch(x) + shortcut(x)``, with the input gradient split by path.

Why residual connections let very deep networks train: the vector-Jacobian product of
``r(x) = f(x) + x`` is ``v^T df/dx + v``. Whatever the branch ``f`` does to the gradient
``v`` coming from above (shrink it, scramble it), the skip path hands ``v`` to the layer below
unchanged. ``Residual`` records both terms separately so that a probe can plot, block by
block, how much of the gradient arrives through the skip and how much through the branch.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from vizlab.nn.resolve import resolve_norm
from vizlab.nn.tap import Tap

__all__ = ["Residual"]


class Residual(nn.Module):
    """A residual block ``out = branch(x) + shortcut(x)`` that exposes its gradient split.

    The shortcut is the identity unless the branch changes the shape. When no ``shortcut`` is
    given and ``in_channels != out_channels`` or ``stride != 1``, a 1x1 convolution with that
    stride is built (followed by a norm from ``norm``, in which case the conv has no bias), as
    in He et al. (2016), option B. A non-linearity after the sum belongs outside this module.

    Gradient split: in grad mode, when ``x`` requires grad, ``x`` enters each path through its
    own identity view carrying a tensor hook. After a backward pass (``loss.backward()`` or
    ``torch.autograd.grad``), ``grad_skip`` holds the gradient that reached ``x`` through the
    shortcut (``v`` itself for an identity shortcut) and ``grad_branch`` the part through the
    branch (``v^T df/dx``); their sum is the gradient of ``x`` from this block. The tensors
    are references to the gradients autograd computed anyway: no copy, no device sync. They
    are reset to ``None`` at every forward that tracks them and left alone otherwise.

    Args:
        branch: the residual function ``f``.
        shortcut: the skip path; ``None`` means identity or an automatic projection.
        in_channels, out_channels: channel counts, needed only to decide on (and build) a
            projection; ``out_channels`` defaults to ``in_channels``.
        stride: the branch's total stride; ``!= 1`` needs a projection.
        norm: anything :func:`~vizlab.nn.resolve_norm` accepts, for the projection.
        spatial: the input's ``(H, W)``, if known; the projection's norm is then built with
            the output size ``ceil(H / stride), ceil(W / stride)`` (norms with per-position
            state, such as ``affine="element"``, need it). ``None`` builds it without one.

    Attributes:
        hook_branch: tap on the branch output ``f(x)``.
        hook_skip: tap on the shortcut output.
        hook_out: tap on the sum.

    Shape:
        - Input: ``(N, C_in, H, W)`` (any shape the paths accept).
        - Output: ``(N, C_out, H / stride, W / stride)``.
        - ``grad_skip``, ``grad_branch``: same as the input.
    """

    def __init__(
        self,
        branch: nn.Module,
        shortcut: nn.Module | None = None,
        *,
        in_channels: int | None = None,
        out_channels: int | None = None,
        stride: int = 1,
        norm: object = None,
        spatial: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(branch, nn.Module):
            raise TypeError(f"branch must be an nn.Module, got {type(branch).__name__}")
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise ValueError(f"stride must be a positive int, got {stride!r}")
        if out_channels is None:
            out_channels = in_channels
        self.branch = branch
        if shortcut is not None:
            if not isinstance(shortcut, nn.Module):
                raise TypeError(f"shortcut must be an nn.Module, got {type(shortcut).__name__}")
            self.shortcut = shortcut
        elif in_channels != out_channels or stride != 1:
            if in_channels is None:
                raise ValueError(
                    f"stride={stride} needs a 1x1 projection on the shortcut; "
                    "pass in_channels (and out_channels) so it can be built"
                )
            if spatial is not None:
                spatial = tuple(-(-int(s) // stride) for s in spatial)
            self.shortcut = _projection(in_channels, out_channels, stride, norm, spatial)
        else:
            self.shortcut = nn.Identity()
        self.hook_branch = Tap()  # (N, C_out, H', W') branch output f(x)
        self.hook_skip = Tap()  # (N, C_out, H', W') shortcut output
        self.hook_out = Tap()  # (N, C_out, H', W') f(x) + shortcut(x)
        self.grad_skip: torch.Tensor | None = None
        self.grad_branch: torch.Tensor | None = None

    @property
    def projection(self) -> bool:
        """Whether the shortcut is something other than the identity."""
        return not isinstance(self.shortcut, nn.Identity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            self.grad_skip = self.grad_branch = None
            x_branch, x_skip = x.view_as(x), x.view_as(x)
            x_branch.register_hook(self._store_branch)
            x_skip.register_hook(self._store_skip)
        else:
            x_branch = x_skip = x
        out_branch = self.hook_branch(self.branch(x_branch))
        out_skip = self.hook_skip(self.shortcut(x_skip))
        if out_branch.shape != out_skip.shape:  # a sum would fail, or silently broadcast
            raise ValueError(
                f"Residual: the branch returns shape {tuple(out_branch.shape)} but the shortcut "
                f"returns {tuple(out_skip.shape)} for an input of shape {tuple(x.shape)}; the "
                "two must match. Pass in_channels=, out_channels= and stride= so that a 1x1 "
                "projection shortcut is built, or give a shortcut module that matches"
            )
        return self.hook_out(out_branch + out_skip)

    def _store_branch(self, grad: torch.Tensor) -> None:
        self.grad_branch = grad.detach()

    def _store_skip(self, grad: torch.Tensor) -> None:
        self.grad_skip = grad.detach()

    def extra_repr(self) -> str:
        return f"projection={self.projection}"


def _projection(
    in_channels: int,
    out_channels: int,
    stride: int,
    norm: object,
    spatial: tuple[int, int] | None,
) -> nn.Module:
    make = resolve_norm(norm)
    conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=make is None)
    if make is None:
        return nn.Sequential(OrderedDict(conv=conv))
    return nn.Sequential(OrderedDict(conv=conv, norm=make(out_channels, spatial)))
