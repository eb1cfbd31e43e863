"""The state a watch shares with its layer probes, and the batching of one step's results.

On a small net, what a watched step costs is mostly the number of device operations and
Python calls, not the arithmetic: each layer's statistics are a handful of tiny reductions.
So the layer hooks only compute what must be computed at that moment (an activation may be
overwritten later in the forward, an activation gradient is freed as soon as backward moves
on) and hand the small results to the :class:`Context`, which lays a whole step's worth into
the staging buffer at once:

- activation statistics of every layer, when the root module's forward ends
  (:meth:`Context.end_forward`): a hook only keeps a small strided sample of its output,
  and all samples are summed, counted and binned together in a dozen operations;
- activation-gradient norms and parameter gradients of every layer, when autograd finishes
  the backward pass (:meth:`Context.end_backward`, queued as an autograd engine callback by
  the first gradient hook of the pass). The parameter gradients are complete then, and stay
  put until the optimizer or the loop touches them, so they are read there, all in one
  batched call, instead of from one hook per parameter: those hooks would run at every
  step, sampled or not, a dozen Python calls per backward on a small net.

A batched slot holds many layers; its decoder (``decode.py``) names them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.hooks import RemovableHandle

from vizlab.probes.buffer import DeviceBuffer
from vizlab.probes.decode import decode_activations, decode_gradients, decode_norms
from vizlab.probes.stats import (
    SATURATION_MARGIN,
    bin_index,
    count_bins,
    memory_positions,
    norms,
    sample_stride,
    storage_view,
    strided_sample,
)

__all__ = ["Context", "SPREAD"]

SPREAD = 2  # interleaved copies of the histogram counters (see Context._bin_plan)


@dataclass
class Context:
    """State shared by a watch and all its layer probes.

    ``fwd`` is true inside a sampled training forward of the root module, ``grad`` from
    then until the next forward (the backward of a sampled step).
    """

    buffer: DeviceBuffer
    bins: int
    mask_sample: tuple[int, int]
    near_zero: float
    add_rows: Callable[[list], None]  # takes a list of Records, for values known on the host
    fwd: bool = False
    grad: bool = False
    step: int = 0
    tensor_handles: list[RemovableHandle] = field(default_factory=list)
    # (layer, its parameters that require grad) for every watched layer that has any
    param_layers: list[tuple[str, list[torch.Tensor]]] = field(default_factory=list)
    # Work shared within one forward, by output tensor: taps return their input, so several
    # watched layers (a block and its last activation) can share one output tensor. Both
    # are cleared when the forward ends, so no activation is kept alive by them.
    summaries: dict[int, tuple[torch.Tensor, int, tuple, tuple[int, int]]] = field(
        default_factory=dict
    )
    grad_layers: dict[int, tuple[torch.Tensor, int, list[str]]] = field(default_factory=dict)
    # This forward's layer outputs as (probe, output, its version): those measured when the
    # forward ends, and those measured in their hook whose deferral is still undecided
    # (see layer.measure_deferred).
    deferred: list[tuple[Any, torch.Tensor, int]] = field(default_factory=list)
    undecided: list[tuple[Any, torch.Tensor, int]] = field(default_factory=list)
    # This forward's sample sizes (one per summarized tensor) with their float32
    # (lo, width), saturation counts of bounded layers, and per layer (layer, tensor index,
    # saturation index or -1); the cached binning plan of the last layout.
    _sizes: list[int] = field(default_factory=list)
    _ranges: list[tuple[float, float]] = field(default_factory=list)
    _sats: list[torch.Tensor] = field(default_factory=list)
    _act_rows: list[tuple] = field(default_factory=list)
    # This forward's normalization statistics: tensors, and (layer, ((stat, size), ...)).
    _norm_parts: list[torch.Tensor] = field(default_factory=list)
    _norm_rows: list[tuple] = field(default_factory=list)
    _plan_key: tuple | None = None
    _plan: tuple = ()
    # The persistent (rows, longest sample) matrix the samples are copied into, its scratch
    # twins (float32 and int32), and how much of each row was written last.
    _matrix: torch.Tensor | None = None
    _scratch: torch.Tensor | None = None
    _index: torch.Tensor | None = None
    _row_len: list[int] = field(default_factory=list)
    _samplers: list[tuple | None] = field(default_factory=list)  # see _sampler
    # This backward's activation gradients: 0-d sums of squares with (layers, stat).
    _grad_norms: list[torch.Tensor] = field(default_factory=list)
    _grad_rows: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    _callback_queued: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- forward ---------------------------------------------------------------------------
    def summarize(
        self,
        y: torch.Tensor,
        binning: tuple[float, float, float, float],
        bounds: tuple[float, float] | None,
    ) -> tuple[int, int]:
        """Copy the strided sample (``strided_sample``) of a layer output ``y`` into the next
        row of this forward's sample matrix, for the statistics computed when the forward
        ends; returns where its results will sit (pass it to :meth:`add_activation`, once
        per layer that shows that output).

        ``binning`` is the histogram range ``(lo, hi)`` followed by ``lo`` and ``hi - lo``
        as float32 values (see ``float32_range``). The copy is one small device operation
        and keeps the numbers safe from later in-place changes to the output. Only a
        bounded activation's saturation count is computed here, as it needs the bounds.
        Call it under ``torch.no_grad()``.
        """
        k = len(self._sizes)
        layout = (y.shape, y.stride(), y.dtype)
        plan = self._samplers[k] if k < len(self._samplers) else None
        if plan is None or plan[0] != layout or plan[1] is not self._matrix:
            plan = self._sampler(k, y, layout)
        _, _, stride, row, positions, n = plan
        if positions is not None:  # a channels-last float32 output: gather straight into the row
            torch.index_select(storage_view(y), 0, positions, out=row)
        elif stride:  # y.view(-1)[::stride] in one operation; float32 on the buffer's device
            row.copy_(torch.as_strided(y, (n,), (stride,)))
        else:
            row.copy_(strided_sample(y))
        self._sizes.append(n)
        self._ranges.append(binning[2:])
        at = (k, len(self._sats) if bounds is not None else -1)
        if bounds is not None:
            center, half = (bounds[0] + bounds[1]) / 2, (bounds[1] - bounds[0]) / 2
            limit = half * (1.0 - 2 * SATURATION_MARGIN)
            self._sats.append(torch.sub(row, center).abs_().gt_(limit).sum(dtype=torch.float32))
        return at

    def _sampler(self, k: int, y: torch.Tensor, layout: tuple) -> tuple:
        """How the ``k``-th output of a forward is sampled, kept while its layout repeats
        (every step after the first, in a fixed architecture): ``(layout, matrix, stride,
        row, positions, sample size)``: the stride of a contiguous output's flat view (0
        when the sample has to be gathered), the matrix row it is copied into, and for a
        channels-last float32 output the memory positions it is gathered from, straight
        into the row.
        Saves a dozen Python operations per layer per sampled step."""
        sample = strided_sample(y)
        n, numel = sample.numel(), y.numel()
        stride = 1 if n == numel else sample_stride(numel, numel // y.shape[0])
        positions = None
        if not y.is_contiguous():
            if y.dtype == torch.float32 and y.device == self.buffer.device and n < numel:
                positions = memory_positions(y, stride)
            stride = 0
        row = self._row(k, n)
        plan = (layout, self._matrix, stride, row, positions, n)
        self._samplers += [None] * (k + 1 - len(self._samplers))
        self._samplers[k] = plan
        return plan

    def _row(self, k: int, n: int) -> torch.Tensor:
        """Row ``k`` of the sample matrix, cut to ``n`` elements, with zeros after them.

        The matrix and its two scratch twins persist from step to step (the layout repeats)
        and only grow, keeping the rows already written in this forward.
        """
        mat, device = self._matrix, self.buffer.device
        if mat is not None and mat.device != device:  # the model moved
            mat, self._row_len = None, []
        if mat is None or k >= mat.shape[0] or n > mat.shape[1]:
            rows = max(k + 1, 2 * mat.shape[0] if mat is not None else 16)
            cols = max(n, mat.shape[1] if mat is not None else 0)
            grown = torch.zeros(rows, cols, dtype=torch.float32, device=device)
            if mat is not None:
                grown[: mat.shape[0], : mat.shape[1]].copy_(mat)
            self._row_len += [0] * (rows - len(self._row_len))
            self._matrix, mat = grown, grown
            self._scratch = torch.empty_like(grown)
            self._index = torch.empty_like(grown, dtype=torch.int32)
        old = self._row_len[k]
        if old > n:  # a longer sample of an earlier step is still there
            mat[k, n:old].zero_()
        self._row_len[k] = n
        return mat[k, :n]

    def add_activation(self, layer: str, at: tuple[int, int]) -> None:
        """Record the statistics queued at ``at`` as ``layer``'s."""
        self._act_rows.append((layer, *at))

    def add_norm(self, layer: str, parts: list[tuple[str, torch.Tensor]]) -> None:
        """Queue a normalization layer's per-channel ``(stat, tensor)`` parts.

        They are copied when the forward ends, in one concatenation for all norm layers.
        That is safe: a layer's running averages change in its own forward (before this
        is called) and its alpha and beta in the optimizer step, after the backward. (A
        norm module called twice in one forward shows its second call's running
        averages.)
        """
        self._norm_parts += [t for _, t in parts]
        self._norm_rows.append((layer, tuple((stat, t.numel()) for stat, t in parts)))

    def end_forward(self) -> None:
        """Compute this forward's activation statistics and lay them into the buffer.

        The samples sit in the rows of one zero-padded matrix, and every statistic of every
        layer is one operation on it: row sums, sums of squares and zero counts, and one
        ``bincount`` of all histograms (each row binned in its own range, offset into its
        own block of bins). The padding adds nothing to the sums; the host takes the padded
        zeros back out of the zero counts and of the bin that 0.0 falls into (see
        ``decode_activations``), so every number is exactly that of its sample.
        """
        if self._act_rows:
            with torch.no_grad():
                values, info = self._activation_values()
            self.buffer.write(self.step, "", "activations", values, decode_activations, info)
        if self._norm_rows:
            with torch.no_grad():
                values = torch.cat(self._norm_parts)
            self.buffer.write(self.step, "", "norms", values, decode_norms, tuple(self._norm_rows))
        self._norm_parts, self._norm_rows = [], []
        self._sizes, self._ranges, self._sats, self._act_rows = [], [], [], []
        self.summaries.clear()  # keep none of this step's activations alive
        self.grad_layers.clear()

    def _activation_values(self) -> tuple[list[torch.Tensor], tuple]:
        t, sizes = len(self._sizes), self._sizes
        mat, scratch, index = self._matrix[:t], self._scratch[:t], self._index[:t]
        values = [
            mat.sum(1),
            torch.mul(mat, mat, out=scratch).sum(1),
            torch.eq(mat, 0, out=scratch).sum(1),
        ]
        if self._sats:
            values.append(torch.stack(self._sats))
        lo, width, offset, zero_bins = self._bin_plan(tuple(self._ranges), mat.shape, mat.device)
        bin_index(mat, lo, width, self.bins, scratch=scratch, out=index).add_(offset)
        counts = count_bins(index.view(-1), SPREAD * t * self.bins)  # (SPREAD * T * bins,)
        values.append(counts.view(SPREAD, -1).sum(0))
        pads = tuple(mat.shape[1] - n for n in sizes)
        rows = tuple(self._act_rows)
        info = (rows, tuple(sizes), pads, zero_bins, len(self._sats), self.bins)
        return values, info

    def _bin_plan(self, ranges: tuple, shape: torch.Size, device: torch.device) -> tuple:
        """Per-row ``lo`` and ``width`` (``(T, 1)`` columns) for these ranges, every
        element's bin offset (``(T, C)``), and the bin 0.0 falls into in each row (where the
        padding lands); kept while the layers and their ranges stay the same, which is every
        step after the first.

        The offset puts row ``t``'s bins in block ``t``, and alternate columns in ``SPREAD``
        separate copies of all the blocks, summed after counting. Counting is a chain of
        increments, and a ReLU layer sends most of its sample to one bin: successive
        increments of the same counter wait for each other, two interleaved counters do not
        (a third less time for the count on a CPU).
        """
        key = (ranges, shape, device, self.bins)
        if self._plan_key != key:
            t, cols = shape
            lo = torch.tensor([r[0] for r in ranges], dtype=torch.float32)[:, None]
            width = torch.tensor([r[1] for r in ranges], dtype=torch.float32)[:, None]
            zero_bins = bin_index(torch.zeros(len(ranges), 1), lo, width, self.bins)
            offset = torch.arange(t, dtype=torch.int32)[:, None] * self.bins
            copies = torch.arange(cols, dtype=torch.int32) % SPREAD * (t * self.bins)
            offset = offset + copies[None, :]  # (T, C)
            self._plan = (
                lo.to(device),
                width.to(device),
                offset.to(device),
                tuple(zero_bins.view(-1).tolist()),
            )
            self._plan_key = key
        return self._plan

    # ---- backward --------------------------------------------------------------------------
    # Gradient hooks may run on autograd's device threads (one per GPU), hence the lock.
    def add_act_grad(self, layers: list[str], squares: torch.Tensor) -> None:
        """Queue the sum of squares of an activation gradient, shown by ``layers``."""
        with self._lock:
            self._grad_norms.append(squares)
            self._grad_rows.append((tuple(layers), "act_grad_norm"))
            self._queue_end_backward()

    def queue_end_backward(self) -> None:
        """Have :meth:`end_backward` run when the backward pass now running ends (once)."""
        with self._lock:
            self._queue_end_backward()

    def _queue_end_backward(self) -> None:
        if not self._callback_queued:
            self._callback_queued = True
            torch.autograd.Variable._execution_engine.queue_callback(self.end_backward)

    def end_backward(self) -> None:
        """Lay this backward's gradient norms into the buffer (one slot).

        A layer's parameter gradients are read here only when the pass gave it one: with
        ``zero_grad(set_to_none=True)`` (the default) a layer the pass did not reach has
        none. A loop that zeroes in place shows zero for such a layer, and one that never
        zeroes shows the sum so far, which is what its optimizer uses.
        """
        with self._lock:
            found, grad_rows = self._grad_norms, self._grad_rows
            self._drop_backward()
        params, rows = [], []
        for layer, own in self.param_layers:
            for p in own:
                if p.grad is not None:
                    params.append(p.grad)
                    rows.append(((layer,), "param_grad_norm"))
        info = tuple(grad_rows + rows)
        values = [torch.stack(found)] if found else []
        if params:
            values.append(norms(params))
        if values:
            self.buffer.write(self.step, "", "gradients", values, decode_gradients, info)

    def _drop_backward(self) -> None:
        self._callback_queued = False
        self._grad_norms, self._grad_rows = [], []

    def reset(self) -> None:
        """Forget everything queued for a step that did not finish."""
        self.deferred, self.undecided = [], []
        self._norm_parts, self._norm_rows = [], []
        self._sizes, self._ranges, self._sats, self._act_rows = [], [], [], []
        self.summaries.clear()
        self.grad_layers.clear()
        with self._lock:  # gradients of a backward pass that never finished
            self._drop_backward()
