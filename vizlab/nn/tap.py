"""``Tap``: a named place in a model where a probe can look.

A tap is an identity module. Models declare one wherever the lectures look (before and after
a norm, after an activation, at a dropout mask, at a block's output) so that "where can I
look?" has an enumerable answer: the taps' dotted names in ``model.named_modules()``. A
forward hook on a tap sees exactly the tensor the lecture talks about, and costs nothing when
no hook is attached.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Tap"]


class Tap(nn.Module):
    """Identity module marking a point of interest; ``forward(x)`` returns ``x`` itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
