"""The statistics probes compute, as a few cheap reductions on the tensor's own device.

The device-side functions here return small device tensors and never read a value back to
the host: the caller queues them in a staging buffer, and the decoders of ``decode.py`` turn
the raw sums into means, fractions and norms on the host once the buffer has been copied.
The reductions are chosen for speed as well as meaning. On a CPU, ``torch.var_mean`` and
``torch.count_nonzero`` take about 20 ms on a 2-million-element activation and summing a
bool tensor 2.5 ms, while a plain sum or a dot product takes 0.05-0.1 ms. So the variance
is computed as ``E[x^2] - E[x]^2`` from a sum and a sum of squares (exact enough unless the
mean is hundreds of standard deviations away from zero, which activations are not), and
zeros are counted by writing the comparison into a float tensor and summing that.

Activation statistics (mean, std, fraction of zeros and of saturated units, histogram) are
all computed on one fixed strided sample of at most ``HIST_SAMPLE`` = 2,048 elements of the
layer's output (the whole output when it is that small, so small layers stay exact). On a
small net, a watched step used to spend most of its time on full-size passes and full-size
scratch tensors; the sample makes every layer's cost a few microseconds. What is left grows
with the sample: copying it out of a freshly written activation (a cache line per element),
binning it and counting it. On the digits net at ``every=1``, 2,048 elements cost 0.03
less of the step than 4,096 (and 4,096 0.03 less than 8,192), measured with
``benchmarks/probe_overhead.py``. The error this adds is below what a plot or a lecture
fact can show. With ``n`` sampled elements (all of them up to 2,048; above that
``ceil(numel / stride)``, e.g. 2,017 for a 128x16x8x8 output and 1,928 for 128x16x4x4) the
standard error of the mean is ``sigma / sqrt(n)``, under 0.023 standard deviations for
``n >= 1,900``; that of a fraction (zeros, saturated, a histogram bin) is
``sqrt(p (1 - p) / n)`` <= 0.0115; and the relative standard error of the std is about
``sqrt((kurtosis - 1) / (4 n))``, around 2% for activations. A histogram bin holding 3%
of the values is known to about 13% of its height, which the eye does not tell from the 9%
of twice the sample. These are bounds for independent draws; the sample is systematic
(every ``stride``-th element, with the stride coprime with the size of one example so it
visits every channel and pixel position instead of, say, always column 0), which over a
batch of examples is usually more precise still.
The sample is taken in the tensor's logical (NCHW) order whatever its memory layout, so a
channels-last model records the same numbers as its NCHW twin.

Histograms count the bins ``torch.histc`` would give on a fixed range after clamping, so
values beyond the range pile up in the edge bins instead of silently disappearing.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import nn

__all__ = [
    "HIST_SAMPLE",
    "SATURATING",
    "sample_stride",
    "strided_sample",
    "storage_view",
    "memory_positions",
    "bin_index",
    "count_bins",
    "segment_sums",
    "float32_range",
    "histogram",
    "activation_head",
    "norms",
    "vector_norm32",
    "sum_of_squares",
    "saturation_bounds",
    "first_range",
    "weight_range",
]

HIST_SAMPLE = 2_048
_ZERO = torch.zeros(())  # the addend of bin_index's addcdiv on a CPU
_PIECE = 1 << 18  # longest index vector one CPU bincount call gets (see count_bins)

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


def flat_view(x: torch.Tensor) -> torch.Tensor:
    """``x`` as one dimension in *memory* order: a view, not a copy, for NCHW and NHWC.

    ``fit`` trains in channels-last layout on CPU and GPU, where ``x.reshape(-1)`` would
    copy the whole activation to get logical order. Sums, sums of squares, zero counts and
    a strided histogram sample do not care about element order, so they read the memory as
    it lies. The batch axis stays outermost in both layouts, so a per-example period holds.
    """
    if x.is_contiguous():
        return x.view(-1)
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return x.permute(0, 2, 3, 1).view(-1)
    return x.reshape(-1)


def strided_sample(
    x: torch.Tensor, cap: int = HIST_SAMPLE, period: int | None = None
) -> torch.Tensor:
    """At most ``cap`` elements of ``x`` spread evenly over it, in logical order.

    The sample is ``x.reshape(-1)[::stride]`` whatever the memory layout: a view when ``x``
    is contiguous, otherwise a gathered copy of just the sampled elements (their memory
    positions are computed once per shape and layout), so a channels-last activation is
    never copied whole and gives the same sample as its NCHW twin.

    Args:
        x: any tensor; its first axis is taken as the batch (or output units of a weight).
        cap: largest sample size.
        period: the size of one repeating unit to cycle through; by default the size of
            one slice along the first axis.

    Shape:
        - Input: ``(N, *)``; output: ``(ceil(numel / stride),)``.
    """
    numel = x.numel()
    if x.is_contiguous():
        flat = x.view(-1)
        if numel <= cap:
            return flat
    elif numel <= cap:
        return x.reshape(-1)
    if period is None:
        period = numel // x.shape[0] if x.dim() > 1 else 1
    stride = sample_stride(numel, period, cap)
    if x.is_contiguous():
        return flat[::stride]
    return storage_view(x).index_select(0, memory_positions(x, stride))


def storage_view(x: torch.Tensor) -> torch.Tensor:
    """The memory ``x`` reads from, as one dimension from its first element (a view)."""
    span = 1 + sum((size - 1) * step for size, step in zip(x.shape, x.stride()))
    return x.as_strided((span,), (1,))


def memory_positions(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Positions in :func:`storage_view` of logical elements ``0, stride, 2 * stride, ...``
    of ``x`` (so gathering them gives ``x.reshape(-1)[::stride]`` without copying ``x``)."""
    return _positions(tuple(x.shape), x.stride(), stride, x.device)


@functools.lru_cache(maxsize=256)
def _positions(
    shape: tuple[int, ...], strides: tuple[int, ...], stride: int, device: torch.device
) -> torch.Tensor:
    """Memory offsets of logical elements ``0, stride, 2 * stride, ...`` of a tensor."""
    index = torch.arange(0, math.prod(shape), stride, dtype=torch.int64)
    offsets = torch.zeros_like(index)
    for size, step in zip(reversed(shape), reversed(strides)):
        offsets += (index % size) * step
        index = index // size
    return offsets.to(device)


def bin_index(
    sample: torch.Tensor,
    lo: float | torch.Tensor,
    width: float | torch.Tensor,
    bins: int,
    *,
    scratch: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """The ``histc`` bin of every element of ``sample``, out-of-range values in the edge bins.

    The index is computed with ``histc``'s own float32 arithmetic, ``(x - lo) * bins /
    (hi - lo)`` truncated, so the counts are identical to ``torch.histc`` of the sample
    clamped to ``[lo, hi]``. Clamping the index to ``[0, bins - 1]`` instead of the values
    gives the same bins (the arithmetic is monotone) in one pass less, and also puts the top
    edge in the last bin as ``histc`` does. ``lo`` and ``width = hi - lo`` (both float32
    values) may be per-element tensors, so that several layers' samples, each with its own
    range, are binned in one go.

    A NaN (a diverging run) lands in the first bin instead of becoming a negative index
    that would make ``bincount`` raise inside the training step; the layer's mean and std
    are NaN as well, which is how the plots and ``fit`` tell the learner what happened.

    ``scratch`` (float32) and ``out`` (int32), shaped like ``sample``, are used instead of
    fresh tensors when given: on a CPU, a fresh megabyte-sized tensor costs more in page
    faults than the arithmetic done in it.

    Shape:
        - ``sample``: ``(n,)`` float32 (or any shape that ``lo`` and ``width``, scalars or
          tensors, broadcast against, such as ``(T, n)`` with ``(T, 1)`` columns).
        - Output: the shape of ``sample``, int32.
    """
    if isinstance(lo, float) and lo == 0.0:  # x - 0 is x: one pass less after a ReLU
        shifted = sample
    else:
        shifted = torch.sub(sample, lo, out=scratch)
    if isinstance(width, torch.Tensor) and sample.device.type == "cpu":
        # one pass for the product and the quotient: the CPU kernel of addcdiv computes
        # 0 + (bins * x) / width, rounding exactly as the two separate operations do
        index = torch.addcdiv(_ZERO, shifted, width, value=bins, out=scratch)
    else:
        index = torch.mul(shifted, bins, out=scratch).div_(width)
    index = index.nan_to_num_(nan=0.0, posinf=bins - 1, neginf=0.0)
    index = index.clamp_(0, bins - 1)
    return index.to(torch.int32) if out is None else out.copy_(index)


def count_bins(index: torch.Tensor, size: int) -> torch.Tensor:
    """How often each of ``0 .. size - 1`` occurs in ``index``.

    On a CPU this is ``torch.bincount``, in pieces of at most 262,144 (each call also scans
    its input for the minimum and the maximum). With torch 2.13 on two cores, one call on
    65,536 indices took 69 us against 82 us in two pieces of 32,768, and the p99 stayed
    below 0.2 ms up to 262,144. On other devices it is an ``index_add_`` of ones, because
    ``bincount`` would wait for the device to learn its output size.

    Shape:
        - Output: ``(size,)`` (int64 on a CPU, float32 elsewhere).
    """
    if index.device.type != "cpu":
        ones = torch.ones(index.numel(), device=index.device)
        return torch.zeros(size, device=index.device).index_add_(0, index, ones)
    if index.numel() <= _PIECE:
        return torch.bincount(index, minlength=size)
    counts = [torch.bincount(part, minlength=size) for part in index.split(_PIECE)]
    return torch.stack(counts).sum(0)


def segment_sums(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Sums of consecutive segments of ``values``, ``lengths[k]`` elements for segment ``k``.

    One ``segment_reduce`` call on any device: on a CPU about half the time of a weighted
    ``bincount`` or an ``index_add_`` over the same elements (both add one element at a
    time into the same few counters), and a fraction of one reduction per segment.
    (numpy's ``add.reduceat`` takes a quarter of the time in a loop of its own, but inside
    a training step, where each library's code starts cold, its first call of the step
    cost 95 us against 39 us for this, measured on the digits net's weights.)

    Shape:
        - ``values``: ``(n,)`` with ``n == lengths.sum()``; ``lengths``: ``(K,)`` int64 on
          the same device; output: ``(K,)``.
    """
    return torch.segment_reduce(values, "sum", lengths=lengths, unsafe=True)


def float32_range(lo: float, hi: float) -> tuple[float, float]:
    """``(lo, hi - lo)`` as the float32 values ``histc`` computes with."""
    lo32, hi32 = np.float32(lo), np.float32(hi)
    return float(lo32), float(hi32 - lo32)


def histogram(sample: torch.Tensor, lo: float, hi: float, bins: int) -> torch.Tensor:
    """Counts of ``sample`` in ``bins`` equal bins over ``[lo, hi]``; outliers go to the edges.

    On a CUDA device this is ``torch.histc`` of the clamped sample. On a CPU the same bins
    are counted with ``bincount`` of :func:`bin_index`, about twice as fast there. (On
    CUDA, ``bincount`` would wait for the device to learn its output size.)

    Shape:
        - Output: ``(bins,)``, float32, summing to ``sample.numel()``.
    """
    x = sample.float()
    if x.device.type != "cpu":
        return torch.histc(x.clamp(lo, hi), bins, lo, hi)
    return count_bins(bin_index(x, *float32_range(lo, hi), bins), bins).float()


def activation_head(sample: torch.Tensor, bounds: tuple[float, float] | None) -> list[torch.Tensor]:
    """Raw sums for the mean, std, fraction of zeros (and saturated) of one layer's sample.

    The host finishes the job (see ``decode_activations``): mean = sum / n, var = sum of
    squares / n - mean^2, zeros = count / n, saturated = count / n, with ``n`` the sample
    size (see the module docstring for the sample and its error).

    Args:
        sample: the layer's strided sample (``strided_sample``), 1-d, float32 or float64.
        bounds: the output range of a bounded activation, to count saturated units.

    Returns:
        ``[sum, sum of squares, zeros]`` (and ``saturated`` with ``bounds``), 0-d tensors
        on the sample's device, of its dtype.
    """
    # Comparisons written into a float scratch tensor: summing floats is several times
    # faster than summing the bool tensor a plain ``x == 0`` gives (and still exact).
    flags = torch.empty_like(sample)
    head = [sample.sum(), torch.dot(sample, sample), torch.eq(sample, 0, out=flags).sum()]
    if bounds is not None:
        center, half = (bounds[0] + bounds[1]) / 2, (bounds[1] - bounds[0]) / 2
        limit = half * (1.0 - 2 * SATURATION_MARGIN)
        head.append(torch.gt(torch.sub(sample, center, out=flags).abs_(), limit, out=flags).sum())
    return head


def sum_of_squares(x: torch.Tensor) -> torch.Tensor:
    """``(x * x).sum()``, accumulated in float32 at least, as a 0-d tensor.

    A dot product of the flattened tensor with itself where possible: on a CPU that is two
    to three times faster than ``vector_norm`` (0.08 ms against 0.22 ms on 2 million
    elements), and in our measurements more accurate.
    """
    contiguous = x.is_contiguous() or (
        x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
    )
    if x.dtype in (torch.float32, torch.float64) and contiguous:
        flat = flat_view(x)
        return torch.dot(flat, flat)
    return vector_norm32(x).square()


def norms(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The 2-norm of every tensor in one batched call where possible.

    16-bit tensors are measured in float32 (their own range overflows easily).

    Shape:
        - Output: ``(len(tensors),)``.
    """
    if all(t.dtype == torch.float32 for t in tensors):
        return torch.stack(torch._foreach_norm(tensors))
    return torch.stack([vector_norm32(t) for t in tensors])


def vector_norm32(t: torch.Tensor) -> torch.Tensor:
    """2-norm of ``t``, accumulated in float32 at least."""
    low = t.dtype in (torch.float16, torch.bfloat16)
    return torch.linalg.vector_norm(t, dtype=torch.float32 if low else None)


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


def weight_range(top: float) -> tuple[float, float]:
    """A symmetric histogram range for a layer's weights: 1.25 times their largest
    magnitude ``top``."""
    if not math.isfinite(top) or top == 0.0:
        return -1.0, 1.0
    return -1.25 * top, 1.25 * top
