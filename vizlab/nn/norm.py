"""``Norm``: one normalization layer where batch, layer, instance and group norm are choices.

Every normalization layer of the lectures does the same thing: pick a set of axes of the
``(N, C, H, W)`` activation cube, compute one mean and one variance for every slice along the
remaining axes, standardize, then rescale with learned ``weight`` (alpha) and ``bias`` (beta).
They differ only in *which* axes share statistics:

=============  =======================  ==============================================
name           axes                     torch equivalent
=============  =======================  ==============================================
batch norm     ``("N", "H", "W")``      ``F.batch_norm`` / ``nn.BatchNorm2d``
layer norm     ``("C", "H", "W")``      ``F.layer_norm`` over ``[C, H, W]``
instance norm  ``("H", "W")``           ``F.instance_norm`` / ``nn.InstanceNorm2d``
group norm     ``("C", "H", "W")``, G   ``F.group_norm`` / ``nn.GroupNorm``
=============  =======================  ==============================================

Writing the layer this way lets a learner *choose* the axes (and see the choice as a
highlighted block of the cube) instead of memorizing four classes. The statistics are kept
after each forward (``last_mean``, ``last_var``) so probes can show them without recomputing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from vizlab.nn.norm_args import (
    AFFINE_CHOICES,
    check_groups,
    check_spatial,
    default_groups,
    parse_axes,
)
from vizlab.nn.norm_fused import fused_forward

__all__ = ["Norm"]

# Positions of the named axes in the 5-D view (N, G, C/G, H, W) used for every input.
_DIM = {"N": 0, "C": 2, "H": 3, "W": 4}
_PRESETS = {
    ("N", "H", "W"): "batch",
    ("C", "H", "W"): "layer",
    ("H", "W"): "instance",
}


class Norm(nn.Module):
    """Normalize over any choice of axes of an ``(N, C, H, W)`` or ``(N, F)`` input.

    For every slice that the axes *do not* cover, the layer computes the mean and the biased
    variance over the axes it does cover, standardizes ``(x - mean) / sqrt(var + eps)`` and
    applies the affine map ``weight * x_hat + bias``. A 2-D ``(N, F)`` input is read as
    ``(N, F, 1, 1)``: F plays the channels and H, W are absent (so ``("N", "H", "W")`` is
    batch norm of a fully connected layer, equal to ``nn.BatchNorm1d``).

    Running statistics exist exactly when ``"N"`` is among the axes: only then do the
    statistics depend on the other examples of the batch, so inference needs a fixed estimate.
    As in torch, training uses the batch statistics and updates
    ``running = (1 - momentum) * running + momentum * batch`` (the variance in this update is
    the unbiased one, the one used to normalize is biased); ``momentum=None`` gives the
    cumulative average over all batches seen. ``eval()`` uses the running statistics.

    Statistics whose shape depends on H or W (running stats when ``"N"`` is normalized over
    but H or W is not, e.g. ``("N", "C")``; and ``affine="element"``) need the spatial size
    at construction: pass ``spatial=(H, W)``. Without it such a layer accepts only inputs with
    H = W = 1 (or 2-D inputs) and raises a ``ValueError`` that says so otherwise.

    Args:
        channels: number of channels C (or features F of a 2-D input).
        axes: the axes that share one mean and variance, letters from ``"NCHW"``.
        groups: split the channels into this many groups; ``"C"`` in ``axes`` then means
            "the channels of one group" (group norm). Requires ``"C"`` in ``axes``.
        affine: ``"channel"`` (weight and bias of shape ``(C,)``, as in batch/group norm),
            ``"element"`` (shape ``(C, H, W)``, as torch's ``LayerNorm`` with elementwise
            affine: 2*C*H*W parameters) or ``None`` (no learned parameters).
        eps: added to the variance before the square root.
        momentum: weight of the new batch in the running averages, or ``None`` for a
            cumulative average.
        spatial: ``(H, W)`` of the inputs, needed only as explained above.
        fused: use torch's fused kernel when the choice has one (batch, layer, instance and
            group norm; see ``vizlab.nn.norm_fused``). The result is the same up to float
            rounding; ``False`` always runs the plain definition in ``forward``.

    Shape:
        - Input: ``(N, C, H, W)`` or ``(N, C)``.
        - Output: same as the input.
        - ``last_mean``, ``last_var``: the statistics used by the last forward, with the
          normalized axes removed: ``(N, *kept)`` when ``"N"`` is not normalized over, else
          ``kept``, where ``kept`` is ``C`` (if ``"C"`` is not normalized over) or ``G`` (if
          groups split it) followed by the H and W that are not normalized over. Batch norm:
          ``(C,)``; layer norm: ``(N,)``; instance norm: ``(N, C)``; group norm: ``(N, G)``.
        - ``running_mean``, ``running_var``: ``kept``.

    Example:
        >>> bn = Norm.batch(16)                      # == nn.BatchNorm2d(16)
        >>> ln = Norm(16, "CHW", affine="element", spatial=(8, 8))  # == nn.LayerNorm([16, 8, 8])
    """

    def __init__(
        self,
        channels: int,
        axes: str | Sequence[str] = ("N", "H", "W"),
        *,
        groups: int | None = None,
        affine: str | None = "channel",
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        spatial: tuple[int, int] | None = None,
        fused: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        self.channels = channels
        self.axes = parse_axes(axes)
        self.groups = check_groups(groups, channels, self.axes)
        if affine not in AFFINE_CHOICES:
            raise ValueError(f"affine must be 'channel', 'element' or None; got {affine!r}")
        self.affine = affine
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.eps = float(eps)
        if momentum is not None and (
            isinstance(momentum, bool)
            or not isinstance(momentum, (int, float))
            or not 0.0 <= momentum <= 1.0
        ):
            raise ValueError(f"momentum must be in [0, 1] or None (cumulative), got {momentum!r}")
        self.momentum = momentum
        self.spatial = check_spatial(spatial)
        self.fused = bool(fused)
        self.tracks_running_stats = "N" in self.axes
        # H/W-shaped state: running stats that keep H or W, or a per-element affine.
        self._needs_spatial = affine == "element" or (
            self.tracks_running_stats and not {"H", "W"} <= set(self.axes)
        )
        h, w = self.spatial or (1, 1)
        if affine is not None:
            shape = (channels, h, w) if affine == "element" and self.spatial else (channels,)
            self.weight = nn.Parameter(torch.ones(shape))
            self.bias = nn.Parameter(torch.zeros(shape))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.tracks_running_stats:
            kept = self._kept_shape(self.spatial)
            self.register_buffer("running_mean", torch.zeros(kept))
            self.register_buffer("running_var", torch.ones(kept))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.last_mean: torch.Tensor | None = None
        self.last_var: torch.Tensor | None = None

    # ---- presets -------------------------------------------------------------------------
    @classmethod
    def batch(cls, channels: int, **kw) -> Norm:
        """Batch norm: statistics per channel over ``("N", "H", "W")``."""
        return cls(channels, ("N", "H", "W"), **kw)

    @classmethod
    def layer(cls, channels: int, **kw) -> Norm:
        """Layer norm: statistics per example over ``("C", "H", "W")``.

        The affine default stays ``"channel"`` (2*C parameters), which is what conv nets
        usually want; pass ``affine="element"`` with ``spatial=(H, W)`` for torch's
        ``nn.LayerNorm([C, H, W])`` with its 2*C*H*W parameters.
        """
        return cls(channels, ("C", "H", "W"), **kw)

    @classmethod
    def instance(cls, channels: int, **kw) -> Norm:
        """Instance norm: statistics per example and channel over ``("H", "W")``."""
        return cls(channels, ("H", "W"), **kw)

    @classmethod
    def group(cls, channels: int, groups: int | None = None, **kw) -> Norm:
        """Group norm: per example, over the channels of each group and H, W.

        ``groups`` defaults to the largest of 8, 4, 2, 1 that divides ``channels``.
        """
        groups = default_groups(channels) if groups is None else groups
        return cls(channels, ("C", "H", "W"), groups=groups, **kw)

    @property
    def preset(self) -> str | None:
        """``"batch"``, ``"layer"``, ``"instance"`` or ``"group"`` if the choice is one."""
        if self.groups > 1 and self.axes == ("C", "H", "W"):
            return "group"
        if self.groups == 1:
            return _PRESETS.get(self.axes)
        return None

    # ---- forward -------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w = self._check_input(x)
        if self.training and self.tracks_running_stats:
            self._check_count(n, h, w)
        if self.fused:
            y = fused_forward(self, x, n, h, w)
            if y is not None:
                return y
        g = self.groups
        x5 = x.reshape(n, g, self.channels // g, h, w)  # (N, G, C/G, H, W)
        if self.training or not self.tracks_running_stats:
            dims = tuple(_DIM[a] for a in self.axes)
            var, mean = torch.var_mean(x5, dim=dims, correction=0, keepdim=True)
            if self.training and self.tracks_running_stats:
                self._update_running(mean, var, x5.numel() // mean.numel())
        else:
            view = self._stat_view(h, w)
            mean, var = self.running_mean.view(view), self.running_var.view(view)
        # Fold standardization and affine map into one scale and shift: the per-element
        # work is then a single multiply-add, as in torch's own kernels.
        scale = torch.rsqrt(var + self.eps)
        if self.weight is not None:
            p_view = (1, g, self.channels // g) + ((h, w) if self.weight.dim() == 3 else (1, 1))
            scale = scale * self.weight.view(p_view)
            shift = self.bias.view(p_view) - mean * scale
        else:
            shift = -mean * scale
        y = x5 * scale + shift
        kept = self._kept_shape((h, w) if x.dim() == 4 else None)
        last = ((n,) if "N" not in self.axes else ()) + kept
        self.last_mean = mean.detach().reshape(last)
        self.last_var = var.detach().reshape(last)
        return y.reshape(x.shape)

    def _check_count(self, n: int, h: int, w: int) -> None:
        """Running variances are unbiased estimates: they need two values per statistic."""
        sizes = {"N": n, "C": self.channels // self.groups, "H": h, "W": w}
        if math.prod(sizes[a] for a in self.axes) < 2:
            raise ValueError(
                f"Norm over {self.axes} in training needs more than one value per statistic "
                "to estimate a variance; use a batch larger than 1 or call eval()"
            )

    def _update_running(self, mean: torch.Tensor, var: torch.Tensor, count: int) -> None:
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            rm, rv = self.running_mean, self.running_var
            if self.momentum is None:  # cumulative average, without a host sync
                factor = self.num_batches_tracked.to(rm.dtype).reciprocal()
            else:
                factor = self.momentum
            rm.lerp_(mean.detach().reshape(rm.shape).to(rm.dtype), factor)
            unbiased = var.detach().reshape(rv.shape).to(rv.dtype) * (count / (count - 1))
            rv.lerp_(unbiased, factor)

    # ---- shapes and checks ---------------------------------------------------------------
    def _kept_shape(self, spatial: tuple[int, int] | None) -> tuple[int, ...]:
        """Shape of one example's statistics with the normalized axes removed.

        ``spatial=None`` stands for a 2-D input, which has no H and W to keep.
        """
        if "C" not in self.axes:
            shape: tuple[int, ...] = (self.channels,)
        elif self.groups > 1:
            shape = (self.groups,)
        else:
            shape = ()
        if spatial is not None:
            shape += tuple(size for a, size in zip("HW", spatial) if a not in self.axes)
        return shape

    def _stat_view(self, h: int, w: int) -> tuple[int, ...]:
        """The running statistics as a broadcastable 5-D shape."""
        cg = 1 if "C" in self.axes else self.channels // self.groups
        return (1, self.groups, cg, 1 if "H" in self.axes else h, 1 if "W" in self.axes else w)

    def _check_input(self, x: torch.Tensor) -> tuple[int, int, int]:
        if x.dim() not in (2, 4):
            raise ValueError(
                f"{self._name()} expected a 4-D (N, C, H, W) or 2-D (N, F) input, "
                f"got a {x.dim()}-D input of shape {tuple(x.shape)}"
            )
        if not x.is_floating_point():
            raise TypeError(
                f"{self._name()} needs a floating-point input, got dtype {x.dtype}; "
                "convert images with x.float() (and / 255 for 8-bit pixels)"
            )
        if x.shape[1] != self.channels:
            raise ValueError(
                f"{self._name()} expected {self.channels} channels (dim 1), "
                f"got {x.shape[1]} in an input of shape {tuple(x.shape)}"
            )
        h, w = (x.shape[2], x.shape[3]) if x.dim() == 4 else (1, 1)
        if self._needs_spatial and (h, w) != (self.spatial or (1, 1)):
            if self.spatial is None:
                raise ValueError(
                    f"{self._name()} keeps per-position state (running stats over {self.axes} "
                    f"or affine='element'), so it needs spatial=(H, W) at construction; "
                    f"got an input with H, W = {h}, {w}: pass spatial=({h}, {w})"
                )
            raise ValueError(
                f"{self._name()} was built for spatial size {self.spatial}, got an input with "
                f"H, W = {h}, {w}; build it with spatial=({h}, {w})"
            )
        return x.shape[0], h, w

    def _name(self) -> str:
        return f"Norm({self.channels}, axes={''.join(self.axes)!r})"

    def extra_repr(self) -> str:
        parts = [f"{self.channels}", f"axes={self.axes}"]
        if self.groups > 1:
            parts.append(f"groups={self.groups}")
        parts.append(f"affine={self.affine!r}")
        parts.append(f"eps={self.eps:g}")
        if self.tracks_running_stats:
            parts.append(f"momentum={self.momentum}")
        if self.spatial is not None:
            parts.append(f"spatial={self.spatial}")
        return ", ".join(parts)
