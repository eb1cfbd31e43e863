"""The statistics probes compute, as a few cheap reductions on the tensor's own device.

The device-side functions here return small device tensors and never read a value back to
the host: the caller queues them in a staging buffer, and the ``decode_*`` functions turn
the raw sums into means, fractions and norms on the host once the buffer has been copied.
The reductions are chosen for speed as well as meaning. On a CPU, ``torch.var_mean`` and
``torch.count_nonzero`` take about 20 ms on a 2-million-element activation and summing a
bool tensor 2.5 ms, while a plain sum or a 2-norm takes 0.1-0.2 ms. So the variance is
computed as ``E[x^2] - E[x]^2`` from a sum and a norm (exact enough unless the mean is
hundreds of standard deviations away from zero, which activations are not), and zeros are
counted by writing the comparison into a float tensor and summing that.

Histograms use ``torch.histc`` on a fixed range after clamping, so values beyond the range
pile up in the edge bins instead of silently disappearing, and on a strided sample of at
most ``HIST_SAMPLE`` elements. ``histc`` costs about 5 ns per element on a CPU, which made it
the largest part of a watched step on small nets; 16,384 elements keep the standard error
of any bin's fraction below 0.004, far below what a plot can show. The stride is chosen
coprime with the size of one example, so the sample visits every channel and pixel
position instead of, say, always column 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "decode_activation",
    "decode_act_grad",
    "decode_mask",
    "decode_param_grad",
    "decode_residual_grad",
    "decode_residual_var",
    "decode_split",
    "decode_weights",
    "HIST_SAMPLE",
    "SATURATING",
    "sample_stride",
    "strided_sample",
    "activation_summary",
    "histogram",
    "saturation_bounds",
    "first_range",
    "weight_range",
]

HIST_SAMPLE = 16_384

# Bounded activations and their output range: a unit is "saturated" within 1% of the range
# width from either bound, where its derivative has all but vanished.
SATURATING: dict[type, tuple[float, float]] = {
    nn.Sigmoid: (0.0, 1.0),
    nn.Hardsigmoid: (0.0, 1.0),
    nn.Tanh: (-1.0, 1.0),
    nn.Softsign: (-1.0, 1.0),
}
SATURATION_MARGIN = 0.01


def saturation_bounds(module: nn.Module) -> tuple[float, float] | None:
    """Output range of a bounded activation module, or ``None`` for any other module."""
    if isinstance(module, nn.Hardtanh):  # also ReLU6
        return float(module.min_val), float(module.max_val)
    for cls, bounds in SATURATING.items():
        if isinstance(module, cls):
            return bounds
    return None


def sample_stride(numel: int, period: int, cap: int = HIST_SAMPLE) -> int:
    """Smallest stride >= ``numel / cap`` that is coprime with ``period``.

    Taking every ``stride``-th element of a flattened ``(N, ...)`` tensor whose examples have
    ``period`` elements then cycles through every position inside an example.
    """
    stride = max(1, math.ceil(numel / cap))
    while stride > 1 and math.gcd(stride, period) != 1:
        stride += 1
    return stride


def strided_sample(
    x: torch.Tensor, cap: int = HIST_SAMPLE, period: int | None = None
) -> torch.Tensor:
    """At most ``cap`` elements of ``x`` spread evenly over it (a view when ``x`` is contiguous).

    Args:
        x: any tensor; its first axis is taken as the batch (or output units of a weight).
        cap: largest sample size.
        period: the size of one repeating unit to cycle through; by default the size of
            one slice along the first axis.

    Shape:
        - Input: ``(N, *)``; output: ``(ceil(numel / stride),)``.
    """
    flat = x.reshape(-1)
    if flat.numel() <= cap:
        return flat
    if period is None:
        period = flat.numel() // x.shape[0] if x.dim() > 1 else 1
    return flat[:: sample_stride(flat.numel(), period, cap)]


def histogram(sample: torch.Tensor, lo: float, hi: float, bins: int) -> torch.Tensor:
    """Counts of ``sample`` in ``bins`` equal bins over ``[lo, hi]``; outliers go to the edges.

    On a CUDA device this is ``torch.histc`` of the clamped sample. On a CPU the same bins
    are counted with ``torch.bincount``, about twice as fast there: the bin index is
    computed with ``histc``'s own float32 arithmetic, ``(x - lo) * bins / (hi - lo)``
    truncated, with the top edge in the last bin, so the counts are identical. (On CUDA,
    ``bincount`` would wait for the device to learn its output size.)

    Shape:
        - Output: ``(bins,)``, float32, summing to ``sample.numel()``.
    """
    x = sample.float()
    if x.device.type != "cpu":
        return torch.histc(x.clamp(lo, hi), bins, lo, hi)
    lo32, hi32 = np.float32(lo), np.float32(hi)
    index = x.clamp(float(lo32), float(hi32)).sub_(float(lo32)).mul_(bins)
    index = index.div_(float(hi32 - lo32)).to(torch.int64).clamp_(max=bins - 1)
    return torch.bincount(index, minlength=bins).float()


def activation_summary(
    x: torch.Tensor,
    sample: torch.Tensor,
    lo: float,
    hi: float,
    bins: int,
    bounds: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Raw sums for the mean, std, fraction of zeros (and saturated), plus a histogram.

    The host finishes the job (see ``decode_activation`` in the watch): mean = sum / n,
    var = norm^2 / n - mean^2, zeros = count / n, saturated = count / n, hist / sample size.

    Args:
        x: one layer's output.
        sample: the elements of ``x`` that go into the histogram (``strided_sample(x)``).
        lo, hi, bins: the layer's fixed histogram range and bin count.
        bounds: the output range of a bounded activation, to count saturated units.

    Shape:
        - Output: ``(3 + bins,)`` or ``(4 + bins,)`` with ``bounds``: ``[sum, 2-norm, zeros,
          (saturated,) counts...]``.
    """
    acc = torch.float32 if x.dtype != torch.float64 else torch.float64
    # Comparisons written into a float scratch tensor: summing floats is several times
    # faster than summing the bool tensor a plain ``x == 0`` gives (and still exact).
    flags = torch.empty_like(x, dtype=acc)
    head = [
        x.sum(dtype=acc),
        torch.linalg.vector_norm(x, dtype=acc),
        torch.eq(x, 0, out=flags).sum(),
    ]
    if bounds is not None:
        center, half = (bounds[0] + bounds[1]) / 2, (bounds[1] - bounds[0]) / 2
        limit = half * (1.0 - 2 * SATURATION_MARGIN)
        head.append(torch.gt(torch.sub(x, center, out=flags).abs_(), limit, out=flags).sum())
    return torch.cat([torch.stack(head).float(), histogram(sample, lo, hi, bins)])


def first_range(sample: torch.Tensor, bounds: tuple[float, float] | None) -> tuple[float, float]:
    """A histogram range for a layer, decided once from its first sampled batch.

    Bounded activations use their output range. Otherwise the observed ``[min, max]`` is
    widened by a quarter of its width on each side, so later growth stays visible for a
    while before it piles up in the edge bins; a non-negative layer (after a ReLU) keeps 0
    as its lower edge, so dead units stay in the first bin. This reads two numbers back to
    the host, once per layer per run.
    """
    if bounds is not None:
        return bounds
    lo, hi = (float(v) for v in torch.aminmax(sample.float()))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return -1.0, 1.0
    span = hi - lo
    if span <= 1e-6 * max(1.0, abs(lo), abs(hi)):
        return lo - 1.0, hi + 1.0
    pad = 0.25 * span
    return (0.0 if lo >= 0 else lo - pad), hi + pad


def weight_range(flat: torch.Tensor) -> tuple[float, float]:
    """A symmetric histogram range for a layer's weights: 1.25 times the largest magnitude."""
    top = float(flat.detach().abs().amax()) if flat.numel() else 0.0
    if not math.isfinite(top) or top == 0.0:
        return -1.0, 1.0
    return -1.25 * top, 1.25 * top


# ---- host side: raw buffer values -> [(stat, value), ...] -------------------------------------
def decode_activation(raw: np.ndarray, info: tuple[int, int, bool]) -> list:
    n, n_sample, saturating = info
    mean = float(raw[0]) / n
    var = max(float(raw[1]) ** 2 / n - mean * mean, 0.0)
    rows = [("mean", mean), ("std", math.sqrt(var)), ("zeros", float(raw[2]) / n)]
    start = 3
    if saturating:
        rows.append(("saturated", float(raw[3]) / n))
        start = 4
    rows.append(("hist", (raw[start:] / n_sample).astype(np.float32)))
    return rows


def decode_split(raw: np.ndarray, info: tuple[tuple[str, int], ...]) -> list:
    rows, at = [], 0
    for stat, size in info:
        rows.append((stat, raw[at : at + size].copy()))
        at += size
    return rows


def decode_act_grad(raw: np.ndarray, info: Any) -> list:
    return [("act_grad_norm", float(raw[0]))]


def decode_param_grad(raw: np.ndarray, info: Any) -> list:
    # One row per parameter; the watch merges a layer's rows into one norm.
    return [("param_grad_norm", float(raw[0]))]


def decode_mask(raw: np.ndarray, info: tuple[int, int]) -> list:
    return [("kept", float(raw[0])), ("mask", raw[1:].reshape(info) > 0.5)]


def decode_weights(raw: np.ndarray, info: tuple[int, int]) -> list:
    n, n_sample = info
    hist = (raw[2:] / n_sample).astype(np.float32)
    return [("weight_norm", float(raw[0])), ("near_zero", float(raw[1]) / n), ("weight_hist", hist)]


def decode_residual_var(raw: np.ndarray, info: tuple[int, int]) -> list:
    var_branch = _var_from(raw[0], raw[1], info[0])
    var_skip = _var_from(raw[2], raw[3], info[1])
    ratio = var_branch / var_skip if var_skip > 0 else math.inf
    return [("var_branch", var_branch), ("var_skip", var_skip), ("var_ratio", ratio)]


def decode_residual_grad(raw: np.ndarray, info: Any) -> list:
    skip, branch, dot = (float(v) for v in raw)
    total = math.sqrt(max(skip * skip + branch * branch + 2 * dot, 0.0))
    return [("grad_skip", skip), ("grad_branch", branch), ("grad_total", total)]


def _var_from(total: float, norm: float, n: int) -> float:
    mean = float(total) / n
    return max(float(norm) ** 2 / n - mean * mean, 0.0)
