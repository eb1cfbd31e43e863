"""The state a watch shares with its layer probes, and the batching of one step's results.

On a small net, what a watched step costs is mostly the number of device operations and
Python calls, not the arithmetic: each layer's statistics are a handful of tiny reductions.
So the layer hooks only compute what must be computed at that moment (an activation may be
overwritten later in the forward, an activation gradient is freed as soon as backward moves
on) and hand the small results to the :class:`Context`, which lays a whole step's worth into
the staging buffer at once:

- activation sums and histogram counts of every layer, when the root module's forward ends
  (:meth:`Context.end_forward`: one stack and one concatenation);
- activation-gradient norms and parameter gradients of every layer, when autograd finishes
  the backward pass (:meth:`Context.end_backward`, queued as an autograd engine callback by
  the first gradient hook of the pass): the parameter gradients, which stay put until the
  optimizer or the loop touches them, are measured there in one batched call.

A batched slot holds many layers; its decoder (``decode.py``) names them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.utils.hooks import RemovableHandle

from vizlab.probes.buffer import DeviceBuffer
from vizlab.probes.decode import decode_activations, decode_gradients
from vizlab.probes.stats import activation_head, bin_index, count_bins, histogram, norms

__all__ = ["Context"]


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
    # Work shared within one forward, by output tensor: taps return their input, so several
    # watched layers (a block and its last activation) can share one output tensor. Both
    # are cleared when the forward ends, so no activation is kept alive by them.
    summaries: dict[tuple, tuple[torch.Tensor, int, tuple[int, int]]] = field(default_factory=dict)
    grad_layers: dict[int, tuple[torch.Tensor, list[str]]] = field(default_factory=dict)
    # This forward's activation results: 0-d raw sums, histogram counts, and per layer
    # (layer, head_at, hist_at, n, n_sample, saturating).
    _heads: list[torch.Tensor] = field(default_factory=list)
    _hists: list[torch.Tensor] = field(default_factory=list)
    _act_rows: list[tuple] = field(default_factory=list)
    # This backward's gradients: 0-d norms with (layers, stat), and parameter gradients.
    _grad_norms: list[torch.Tensor] = field(default_factory=list)
    _grad_rows: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    _param_grads: list[torch.Tensor] = field(default_factory=list)
    _param_rows: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    _callback_queued: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- forward ---------------------------------------------------------------------------
    def summarize(
        self,
        x: torch.Tensor,
        sample: torch.Tensor,
        binning: tuple[float, float, float, float],
        bounds: tuple[float, float] | None,
    ) -> tuple[int, int]:
        """Queue the raw activation statistics of ``x`` for this forward; returns where they
        sit (pass it to :meth:`add_activation`, once per layer that shows ``x``).

        ``binning`` is the histogram range ``(lo, hi)`` followed by ``lo`` and ``hi - lo``
        as float32 values (see ``float32_range``).
        """
        at = (len(self._heads), len(self._hists))
        self._heads += activation_head(x, bounds)
        lo, hi, lo32, width32 = binning
        if sample.device.type == "cpu":
            index = bin_index(sample.float(), lo32, width32, self.bins)
            self._hists.append(count_bins(index, self.bins))
        else:  # histc: bincount would wait for the device
            self._hists.append(histogram(sample, lo, hi, self.bins))
        return at

    def add_activation(
        self, layer: str, at: tuple[int, int], n: int, n_sample: int, sat: bool
    ) -> None:
        """Record the statistics queued at ``at`` as ``layer``'s (``n`` elements, ``n_sample``
        of them in the histogram, ``sat`` whether a saturation count was queued)."""
        self._act_rows.append((layer, at[0], at[1], n, n_sample, sat))

    def end_forward(self) -> None:
        """Lay this forward's activation statistics into the buffer (one slot)."""
        if self._act_rows:
            info = (self._act_rows, len(self._heads), self.bins)
            values = [torch.stack(self._heads), torch.cat(self._hists)]
            self.buffer.write(self.step, "", "activations", values, decode_activations, info)
        self._heads, self._hists, self._act_rows = [], [], []
        self.summaries.clear()  # keep none of this step's activations alive
        self.grad_layers.clear()

    # ---- backward --------------------------------------------------------------------------
    # Gradient hooks may run on autograd's device threads (one per GPU), hence the lock.
    def add_act_grad(self, layers: list[str], squares: torch.Tensor) -> None:
        """Queue the sum of squares of an activation gradient, shown by ``layers``."""
        with self._lock:
            self._grad_norms.append(squares)
            self._grad_rows.append((tuple(layers), "act_grad_norm"))
            self._queue_end_backward()

    def add_param_grad(self, layer: str, grad: torch.Tensor) -> None:
        """Queue a parameter gradient of ``layer``, measured when the backward pass ends."""
        with self._lock:
            self._param_grads.append(grad)
            self._param_rows.append(((layer,), "param_grad_norm"))
            self._queue_end_backward()

    def _queue_end_backward(self) -> None:
        if not self._callback_queued:
            self._callback_queued = True
            torch.autograd.Variable._execution_engine.queue_callback(self.end_backward)

    def end_backward(self) -> None:
        """Lay this backward's gradient norms into the buffer (one slot)."""
        with self._lock:
            found, params = self._grad_norms, self._param_grads
            info = self._grad_rows + self._param_rows
            self._drop_backward()
        values = [torch.stack(found)] if found else []
        if params:
            values.append(norms(params))
        if values:
            self.buffer.write(self.step, "", "gradients", values, decode_gradients, info)

    def _drop_backward(self) -> None:
        self._callback_queued = False
        self._grad_norms, self._grad_rows = [], []
        self._param_grads, self._param_rows = [], []

    def reset(self) -> None:
        """Forget everything queued for a step that did not finish."""
        self._heads, self._hists, self._act_rows = [], [], []
        self.summaries.clear()
        self.grad_layers.clear()
        with self._lock:  # gradients of a backward pass that never finished
            self._drop_backward()
