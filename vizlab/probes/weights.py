"""Weight statistics of every watched layer, in one batched pass per sampled step.

Weights only change when the optimizer steps, so a watch reads them once per sampled step,
when its forward ends. Measured layer by layer, that is a dozen tiny device operations
per layer; here all layers that live on one device are measured together instead:

- one copy of all their weights, end to end, into a buffer kept from step to step;
- every layer's sum of squares and near-zero count in one segment sum: the squares and
  the near-zero flags laid end to end, each element tagged with its layer (the host takes
  the square root);
- every layer's histogram in one pass: each sample element carries its layer's range and
  bin offset (per-element tensors built once), and one ``bincount`` counts all layers.

The per-layer sample, range and bins are exactly those of the one-layer computation (see
``strided_sample``, ``weight_range`` and ``bin_index`` in ``stats.py``).
"""

from __future__ import annotations

import numpy as np
import torch

from vizlab.probes.context import Context
from vizlab.probes.decode import decode_weights
from vizlab.probes.stats import (
    HIST_SAMPLE,
    bin_index,
    count_bins,
    float32_range,
    sample_stride,
    segment_sums,
    weight_range,
)
from vizlab.probes.store import Record

__all__ = ["WeightStats"]


class WeightStats:
    """Queues the weight statistics of the given layer probes (those with ``weights``).

    Each probe needs ``name``, ``weights`` (its own parameters) and ``weight_range`` (set
    here at the first sampled step, from the weights' largest magnitude).
    """

    def __init__(self, probes: list, ctx: Context) -> None:
        self.probes = [p for p in probes if p.weights]
        self.ctx = ctx
        self._key: tuple | None = None
        self._plans: list[_Plan] = []

    def record(self, step: int) -> None:
        """Queue this step's weight statistics of every layer."""
        if not self.probes:
            return
        with torch.no_grad():
            key = tuple((w.device, w.dtype, w.shape) for p in self.probes for w in p.weights)
            if key != self._key:  # first sampled step, or the model moved or changed
                self._fix_ranges(step)
                groups: dict[torch.device, list] = {}
                for p in self.probes:
                    groups.setdefault(p.weights[0].device, []).append(p)
                self._plans = [_Plan(group, self.ctx.bins) for group in groups.values()]
                self._key = key
            for plan in self._plans:
                plan.record(step, self.ctx)

    def _fix_ranges(self, step: int) -> None:
        rows = []
        for p in self.probes:
            if p.weight_range is None:
                tops = [float(w.detach().abs().amax()) for w in p.weights if w.numel()]
                p.weight_range = weight_range(max(tops, default=0.0))
                rng = np.array(p.weight_range)
                rows.append(Record(step, p.name, "weights", "weight_hist_range", rng))
        if rows:
            self.ctx.add_rows(rows)


class _Plan:
    """The fixed layout of one device's layers: which elements go into each histogram, each
    element's range and bin offset, and each element's layer."""

    def __init__(self, probes: list, bins: int) -> None:
        self.params = [w for p in probes for w in p.weights]
        self.size = len(probes) * bins
        layers, positions, lo, width, offset, lengths = [], [], [], [], [], []
        start = 0
        for k, p in enumerate(probes):
            n = sum(w.numel() for w in p.weights)
            first = p.weights[0]
            period = first[0].numel() if first.dim() > 1 else 1
            stride = 1 if n <= HIST_SAMPLE else sample_stride(n, period)
            positions.append(torch.arange(start, start + n, stride))
            m = positions[-1].numel()
            layers.append((p.name, n, m))
            lo32, width32 = float32_range(*p.weight_range)
            lo += [lo32] * m
            width += [width32] * m
            offset += [k * bins] * m
            lengths.append(n)
            start += n
        device = first.device
        gather = any(n != m for _, n, m in layers)
        self.positions = torch.cat(positions).to(device) if gather else None
        self.lo = torch.tensor(lo, dtype=torch.float32, device=device)
        self.width = torch.tensor(width, dtype=torch.float32, device=device)
        self.offset = torch.tensor(offset, dtype=torch.int32, device=device)
        # The squares and the near-zero flags laid end to end, each a segment per layer:
        # one segment sum gives every layer's sum of squares, then its near-zero count.
        self.lengths = torch.tensor(lengths * 2, dtype=torch.int64, device=device)
        both = torch.empty(2 * start, dtype=torch.float32, device=device)
        self.both, self.squares, self.flags = both, both[:start], both[start:]
        # All weights laid end to end, in float32, refilled at every sampled step with one
        # _foreach_copy_ (a dozen fewer calls than flattening and concatenating them).
        self.flat = torch.empty(start, dtype=torch.float32, device=device)
        sizes = [w.numel() for w in self.params]
        self.slots = [v.view(w.shape) for v, w in zip(self.flat.split(sizes), self.params)]
        # The sample and the binning's scratch tensors persist too: the same calls as the
        # activations' binning just before, writing into memory already in use.
        self.sample = torch.empty(len(lo), dtype=torch.float32, device=device) if gather else None
        self.scratch = torch.empty(len(lo), dtype=torch.float32, device=device)
        self.index = torch.empty(len(lo), dtype=torch.int32, device=device)
        self.info = (tuple(layers), bins)
        self.bins = bins

    def record(self, step: int, ctx: Context) -> None:
        flat = self.flat  # (n,)
        torch._foreach_copy_(self.slots, self.params)
        sample = flat
        if self.positions is not None:  # (m,)
            sample = torch.index_select(flat, 0, self.positions, out=self.sample)
        index = bin_index(
            sample, self.lo, self.width, self.bins, scratch=self.scratch, out=self.index
        )
        hist = count_bins(index.add_(self.offset), self.size)
        # the histogram is binned: flat (our own copy) may now change in place
        torch.mul(flat, flat, out=self.squares)
        torch.lt(flat.abs_(), ctx.near_zero, out=self.flags)
        sums = segment_sums(self.both, self.lengths)  # (2L,)
        ctx.buffer.write(step, "", "weights", [sums, hist], decode_weights, self.info)
