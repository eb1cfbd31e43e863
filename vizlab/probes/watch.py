"""``watch``: statistics of every layer over training, cheap enough to leave on.

A watch hooks into any ``nn.Module`` and records, every ``every`` training steps, what the
lectures look at: activation statistics and histograms, gradient norms (and the skip/branch
split of every residual block), normalization statistics, dropout masks and weight
statistics. It works with any training loop: a step is a forward pass of the model in
training mode, seen by a forward pre-hook on the model itself, so ``every=`` needs no
cooperation from the loop, and evaluation passes (``model.eval()``) are neither counted nor
recorded.

Cost is kept low by design: hooks return after one flag check on steps that are not sampled;
on sampled steps all reductions run on the model's device and land in one staging buffer
(see ``buffer.py``) that crosses to the host in a single copy every few sampled steps; the
host keeps bounded series (see ``store.py``).

Example:
    >>> with watch(model, every=10) as w:
    ...     fit(model, data, watch=w)
    >>> steps, zeros = w.series("features.block1.conv1.act", "zeros")
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from vizlab.probes.context import Context
from vizlab.probes.layer import LayerProbe, measure_deferred
from vizlab.probes.options import KINDS, check_int, check_mask_sample, check_positive, check_what
from vizlab.probes.readout import Readout
from vizlab.probes.select import LayerSpec, select_layers
from vizlab.probes.staging import Staging
from vizlab.probes.store import Store
from vizlab.probes.weights import WeightStats

__all__ = ["KINDS", "Watch", "watch", "paused"]

# The watches attached to each model, so that a new watch can replace an old one and a
# trace can settle them first. Weak on both sides: this registry keeps nothing alive.
_ATTACHED: weakref.WeakKeyDictionary[nn.Module, weakref.WeakSet[Watch]] = (
    weakref.WeakKeyDictionary()
)
_PAUSE = threading.local()


@contextlib.contextmanager
def paused(model: nn.Module | None = None) -> Iterator[None]:
    """Within this block (on this thread), watches neither count nor record forwards.

    ``trace`` uses it so that looking at one batch does not show up as a training step.
    Given the model, the watches attached to it first read the residual gradient split of
    their last sampled step, which the paused passes are about to overwrite.
    """
    depth = getattr(_PAUSE, "depth", 0)
    if model is not None and depth == 0:  # inside a pause the splits are no longer training's
        for w in list(_ATTACHED.get(model, ())):
            w._collect_splits(final=False)
    _PAUSE.depth = depth + 1
    try:
        yield
    finally:
        _PAUSE.depth -= 1


class Watch(Readout):
    """Records layer statistics during training; build one with :func:`watch`.

    Attributes:
        model: the watched module.
        layers: dotted names of the watched layers, in model order.
        every: a training step is sampled when ``step % every == 0``.
        what: the kinds recorded.
        min_interval: with it, a step due by ``every`` is also skipped until this many
            seconds have passed since the last sampled step.
        step: number of training forwards seen so far. A record's step is the number of
            training forwards before the one it describes, so step 0 is the model at
            initialization (before any update when the loop does one update per forward).
        attached: whether the hooks are in place.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        layers: LayerSpec = None,
        every: int = 10,
        what: Sequence[str] = KINDS,
        bins: int = 40,
        max_points: int = 1000,
        mask_sample: tuple[int, int] = (8, 256),
        near_zero: float = 1e-3,
        replace: bool = True,
        min_interval: float | None = None,
    ) -> None:
        self.what = check_what(what)
        self.every = check_int("every", every, 1, "1 records every training step")
        self.min_interval = (
            None
            if min_interval is None
            else check_positive("min_interval", min_interval, "seconds, such as 0.05")
        )
        self._last_sample = -math.inf  # monotonic time of the last sampled step
        self.bins = check_int("bins", bins, 2, "a histogram needs at least 2 bins")
        self.max_points = check_int("max_points", max_points, 4, "the series keep this many")
        self.mask_sample = check_mask_sample(mask_sample)
        near_zero = check_positive("near_zero", near_zero)
        self.model = model
        self.replace = replace
        selected = select_layers(model, layers)
        self.layers = [name for name, _ in selected]
        self.step = 0
        self.attached = False
        self._store = Store(self.max_points)
        # A tensor of the model whose device tells where the model lives now (parameters
        # keep their identity when the model is moved with .to()).
        self._anchor = next(itertools.chain(model.parameters(), model.buffers()), None)
        self._staging = Staging(self._device(), self._store)
        self._ctx = Context(
            self._staging.buffer, self.bins, self.mask_sample, near_zero, self._store.add
        )
        self._probes = [LayerProbe(name, m, self.what, self._ctx) for name, m in selected]
        self._split_probes = [p for p in self._probes if p.res_grads]
        self._ctx.param_layers = [(p.name, p.grad_params) for p in self._probes if p.grad_params]
        self._weights = WeightStats(self._probes, self._ctx)
        self._handles: list[RemovableHandle] = []

    # ---- lifecycle -------------------------------------------------------------------------
    def attach(self) -> Watch:
        """Put the hooks in place (does nothing if already attached).

        With ``replace=True`` (the default) the watches still attached to the same model are
        closed first, so re-running a notebook cell does not stack probes; with
        ``replace=False`` this watch works alongside them.
        """
        if self.attached:
            return self
        if self.replace:
            for old in list(_ATTACHED.get(self.model, ())):
                old.close()
        handles: list[RemovableHandle] = []
        try:
            handles.append(self.model.register_forward_pre_hook(self._on_root_forward))
            handles.append(self.model.register_forward_hook(self._on_root_done))
            for probe in self._probes:
                handles += probe.attach()
        except BaseException:
            for handle in handles:
                handle.remove()
            raise
        self._handles = handles
        self.attached = True
        _ATTACHED.setdefault(self.model, weakref.WeakSet()).add(self)
        return self

    def close(self) -> None:
        """Remove every hook and copy what is still queued to the host.

        Safe to call more than once, and after an exception in the middle of a step: the
        hooks are removed even if the final copy fails.
        """
        if not self.attached:
            return
        try:
            self._collect_splits(final=True)
            self._staging.flush(wait=True)
        finally:
            self._remove_tensor_hooks()
            for handle in self._handles:
                handle.remove()
            self._handles = []
            self._ctx.fwd = self._ctx.grad = False
            self._ctx.reset()
            self.attached = False
            others = _ATTACHED.get(self.model)
            if others is not None:
                others.discard(self)
                if not others:
                    del _ATTACHED[self.model]

    def flush(self) -> None:
        """Copy everything queued on the device to the host now (call it from the training
        thread; readers on other threads only ever see the host store)."""
        self._collect_splits(final=False)
        self._staging.flush(wait=True)

    def __enter__(self) -> Watch:
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- callbacks for vizlab.fit ------------------------------------------------------------
    def on_epoch_end(self, state: Any) -> None:
        """Make the epoch's statistics readable as soon as the epoch ends."""
        self.flush()

    def on_fit_end(self, state: Any) -> None:
        """Make everything readable when training ends."""
        self.flush()

    # ---- hooks on the root module ----------------------------------------------------------
    def _on_root_forward(self, module: nn.Module, args: tuple) -> None:
        if getattr(_PAUSE, "depth", 0):
            return  # a trace: not a step, and the last sampled step's state stays as it is
        ctx = self._ctx
        ctx.fwd = ctx.grad = False
        if self._split_probes:
            self._collect_splits(final=True)
        if ctx.tensor_handles:
            ctx.tensor_handles = []  # last step's output hooks: inert now (see _on_act_grad)
        ctx.reset()  # anything left of a step that did not finish
        self._staging.poll()
        if not module.training:
            return
        step = self.step
        self.step += 1
        if self._staging.due():
            self._staging.flush(wait=False)
        if step % self.every:
            return
        if self.min_interval is not None:
            now = time.monotonic()
            if now - self._last_sample < self.min_interval:
                return
            self._last_sample = now
        device = self._device()
        if device != ctx.buffer.device:  # the model moved since the watch was made
            self._staging.move_to(device)
            ctx.buffer = self._staging.buffer
        ctx.fwd = ctx.grad = True
        ctx.step = step
        self._staging.sampled()

    def _on_root_done(self, module: nn.Module, args: tuple, out: Any) -> None:
        ctx = self._ctx
        if ctx.fwd:  # (not in a trace's pass: it may sit inside a sampled step)
            ctx.fwd = False  # the backward of this step may still record (ctx.grad)
            measure_deferred(ctx)
            if ctx.param_layers and not ctx.tensor_handles:
                self._hook_root_output(out)
            ctx.end_forward()
            # The weights are those the forward used (only the optimizer changes them).
            # Measured here rather than before the forward, the two batched passes run
            # back to back and the second finds much of the same code still in cache:
            # on a CPU about 1% of a digits step at every=1.
            self._weights.record(ctx.step)

    def _hook_root_output(self, out: Any) -> None:
        """Have the backward of this sampled step read the parameter gradients even though
        no watched layer's output got a gradient hook (say, layers that return no tensor):
        a hook on the model's output tensors queues the end of the pass."""
        ctx = self._ctx
        outs = out if isinstance(out, (tuple, list)) else (out,)
        for t in outs:
            if isinstance(t, torch.Tensor) and t.requires_grad:
                hook = functools.partial(_queue_if_sampled, ctx, ctx.step)
                ctx.tensor_handles.append(t.register_hook(hook))

    # ---- host side ---------------------------------------------------------------------------
    def _collect_splits(self, final: bool) -> None:
        for probe in self._split_probes:
            probe.collect_split(final)

    def _remove_tensor_hooks(self) -> None:
        handles, self._ctx.tensor_handles = self._ctx.tensor_handles, []
        for handle in handles:
            handle.remove()

    def _device(self) -> torch.device:
        return self._anchor.device if self._anchor is not None else torch.device("cpu")


def _queue_if_sampled(ctx: Context, step: int, grad: torch.Tensor) -> None:
    """Output hook of a sampled step (see ``Watch._hook_root_output``)."""
    if ctx.grad and ctx.step == step:
        ctx.queue_end_backward()


def watch(
    model: nn.Module,
    *,
    layers: LayerSpec = None,
    every: int = 10,
    what: Sequence[str] = KINDS,
    bins: int = 40,
    max_points: int = 1000,
    mask_sample: tuple[int, int] = (8, 256),
    near_zero: float = 1e-3,
    replace: bool = True,
    min_interval: float | None = None,
) -> Watch:
    """Watch a model's layers during training.

    The returned :class:`Watch` is not attached yet: use it as a context manager, call
    ``attach()``, or pass it to ``vizlab.fit(..., watch=w)`` (which attaches it for the fit
    and closes it afterwards if it attached it).

    Args:
        model: any ``nn.Module``.
        layers: which layers (see :func:`vizlab.probes.select.select_layers`); by default
            every conv, linear, norm, activation, pooling, dropout and residual block.
        every: record one training step in ``every`` (steps 0, every, 2*every, ...).
        what: kinds to record, any of ``"activations"`` (mean, std, zeros, saturated,
            hist), ``"gradients"`` (param_grad_norm, act_grad_norm; and grad_skip,
            grad_branch, grad_total for each ``Residual``), ``"norms"`` (batch_mean,
            batch_var, running_mean, running_var, alpha, beta per channel), ``"dropout"``
            (kept, mask) and ``"weights"`` (weight_norm, near_zero, weight_hist). A
            ``Residual`` also records var_branch, var_skip and var_ratio with activations.
        bins: histogram bins (each layer's range is fixed at its first sampled step).
        max_points: longest series kept before older points are thinned.
        mask_sample: ``(rows, units)`` of each dropout mask to keep: the first rows examples
            (or weight rows) and the first units entries of each, in the mask's compact form.
        near_zero: weights with ``|w| <`` this count as near zero.
        replace: attaching closes the other watches still attached to the same model
            (``False``: they coexist, each with its own hooks).
        min_interval: seconds; when given, a step due by ``every`` is skipped until this
            long has passed since the last sampled step (step 0 is always sampled). A live
            view wants a steady number of points per second, not per step: on a fast model
            this thins the sampled steps (and the watch's cost) to what a redraw can show,
            while a slow model still has every due step recorded. The recorded steps are
            then irregular, which plots over steps do not mind.

    Raises:
        ValueError: for an unknown kind, ``every < 1``, ``bins < 2``, a bad ``mask_sample``,
            a ``min_interval`` that is not a positive number, or a selection that matches no
            layer (the message names the valid choices).
    """
    return Watch(
        model,
        layers=layers,
        every=every,
        what=what,
        bins=bins,
        max_points=max_points,
        mask_sample=mask_sample,
        near_zero=near_zero,
        replace=replace,
        min_interval=min_interval,
    )
