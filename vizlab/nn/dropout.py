"""Dropout that keeps its mask: element, channel (spatial) and cutout variants, and DropConnect.

All variants are *inverted* dropout: during training the kept values are divided by the kept
fraction, so the expected activation equals the input and inference needs no rescaling (the
layer is the identity in ``eval()``). Each forward keeps the mask it drew (``last_mask``) and
passes it through the tap ``hook_mask``, so probes read the real mask instead of guessing it
from the zeros of the output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vizlab.nn.schedule import Schedule, Scheduled, ScheduleSpec, check_rate, resolve_schedule
from vizlab.nn.tap import Tap

__all__ = ["Dropout", "DropConnectLinear", "DROPOUT_KINDS"]

DROPOUT_KINDS = ("element", "channel", "cutout")


class _MaskMixin:
    """Keeps the last mask compactly and expands it to a bool tensor only when asked."""

    _mask: torch.Tensor | None
    _mask_shape: torch.Size | None

    @property
    def last_mask(self) -> torch.Tensor | None:
        """Bool mask of the last training forward (True = kept), expanded to the input's
        shape; ``None`` before the first training forward and after an ``eval()`` forward."""
        if self._mask is None:
            return None
        return (self._mask != 0).expand(self._mask_shape)


class Dropout(_MaskMixin, Scheduled, nn.Module):
    """Inverted dropout with a recorded mask and an optional early/late schedule.

    Kinds:
        - ``"element"``: every value is kept independently with probability 1 - p.
        - ``"channel"`` (spatial dropout, Tompson et al. 2015): whole feature maps are kept
          or dropped, so the mask is constant over H, W. Neighbouring pixels are strongly
          correlated, so dropping single pixels barely removes information; dropping a map
          does. On a 2-D ``(N, F)`` input it is the same as element dropout.
        - ``"cutout"`` (DeVries & Taylor 2017): one square patch per example, the same for
          all channels, of side ``round(sqrt(p * H * W))`` (clipped to fit), placed uniformly
          at random fully inside the image. The kept values are scaled by ``1 / (1 - q)``
          with ``q`` the area fraction actually cut (close to p), so each example's total
          activation is unchanged. Needs a 4-D input.

    Element and channel kinds scale kept values by ``1 / (1 - p)``.

    Args:
        p: drop probability in [0, 1); with a schedule, the rate while it is active.
        kind: ``"element"``, ``"channel"`` or ``"cutout"``.
        schedule: ``None`` (always ``p``), ``"early"``/``"late"`` or a
            :class:`~vizlab.nn.schedule.Schedule` (Liu et al. 2023), or a callable
            ``progress -> rate``. Progress is set by :func:`vizlab.nn.set_progress`.

    Attributes:
        hook_mask: tap called with the float mask (1 = kept, 0 = dropped) in every training
            forward, in its compact shape: input shape for element, ``(N, C, 1, 1)`` for
            channel, ``(N, 1, H, W)`` for cutout.
        last_mask: bool mask of the last training forward (True = kept), expanded to the
            input's shape, so ``last_mask == (output != 0)`` for an input without zeros;
            ``None`` before the first training forward and after an ``eval()`` forward.

    Shape:
        - Input: ``(N, *)`` (``(N, C, H, W)`` for cutout).
        - Output: same as the input.
    """

    def __init__(self, p: float = 0.5, kind: str = "element", schedule: ScheduleSpec = None):
        super().__init__()
        self.p = check_rate(p)
        if kind not in DROPOUT_KINDS:
            raise ValueError(f"dropout kind must be one of {DROPOUT_KINDS}, got {kind!r}")
        self.kind = kind
        self.schedule = resolve_schedule(schedule)
        self.progress = 0.0
        self.hook_mask = Tap()  # float mask, 1 = kept
        self._mask = None
        self._mask_shape = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            self._mask = None
            return x
        p = self.rate
        if self.kind == "cutout":
            keep, scale = self._cutout_mask(x, p)
        else:
            shape = x.shape if self.kind == "element" else x.shape[:2] + (1,) * (x.dim() - 2)
            keep = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(1.0 - p)
            scale = 1.0 / (1.0 - p)
        keep = self.hook_mask(keep)
        self._mask, self._mask_shape = keep, x.shape
        return x * (keep * scale)

    def _cutout_mask(self, x: torch.Tensor, p: float) -> tuple[torch.Tensor, float]:
        if x.dim() != 4:
            raise ValueError(
                f"cutout dropout needs a 4-D (N, C, H, W) input, got shape {tuple(x.shape)}; "
                "use kind='element' for fully connected layers"
            )
        n, _, h, w = x.shape
        side = min(round(math.sqrt(p * h * w)), h, w)
        if side * side >= h * w:  # never cut the whole image: the rescaling would be infinite
            side -= 1
        top = torch.randint(0, h - side + 1, (n, 1), device=x.device)
        left = torch.randint(0, w - side + 1, (n, 1), device=x.device)
        rows = torch.arange(h, device=x.device)
        cols = torch.arange(w, device=x.device)
        in_rows = (rows >= top) & (rows < top + side)  # (N, H)
        in_cols = (cols >= left) & (cols < left + side)  # (N, W)
        cut = in_rows[:, :, None] & in_cols[:, None, :]  # (N, H, W)
        keep = (~cut).to(x.dtype).unsqueeze(1)  # (N, 1, H, W)
        return keep, 1.0 / (1.0 - side * side / (h * w))

    def extra_repr(self) -> str:
        s = f"p={self.p}, kind={self.kind!r}"
        if not (isinstance(self.schedule, Schedule) and self.schedule.kind == "constant"):
            s += f", schedule={self.schedule!r}"
        return s


class DropConnectLinear(_MaskMixin, Scheduled, nn.Linear):
    """A linear layer that drops *weights* instead of activations (Wan et al. 2013).

    In training, each forward draws one Bernoulli(1 - p) mask with the weight's shape (shared
    by the whole batch, which is cheaper than one per example) and uses
    ``weight * mask / (1 - p)``; the bias is not masked. In ``eval()`` it is a plain linear
    layer with the full weights, the mean of the masked weights (Wan et al. use a Gaussian
    moment-matching rule at inference; the mean is the simple, common choice).

    Args:
        in_features, out_features, bias: as for ``nn.Linear``.
        p: drop probability of each weight, in [0, 1).
        schedule: as for :class:`Dropout`.

    Attributes:
        hook_mask: tap called with the float weight mask (1 = kept) in training forwards.
        last_mask: bool mask of shape ``(out_features, in_features)``.

    Shape:
        - Input: ``(N, in_features)``; output: ``(N, out_features)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        p: float = 0.5,
        bias: bool = True,
        *,
        schedule: ScheduleSpec = None,
    ) -> None:
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"DropConnectLinear needs {name} >= 1 (an int), got {value!r}; it is the "
                    "size of the layer's input (in_features) or output (out_features)"
                )
        super().__init__(in_features, out_features, bias=bias)
        self.p = check_rate(p)
        self.schedule = resolve_schedule(schedule)
        self.progress = 0.0
        self.hook_mask = Tap()  # (out_features, in_features) float mask, 1 = kept
        self._mask = None
        self._mask_shape = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            self._mask = None
            return F.linear(x, self.weight, self.bias)
        p = self.rate
        keep = torch.empty_like(self.weight, requires_grad=False).bernoulli_(1.0 - p)
        keep = self.hook_mask(keep)
        self._mask, self._mask_shape = keep, self.weight.shape
        return F.linear(x, self.weight * (keep * (1.0 / (1.0 - p))), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"
