"""What a watch does for one layer: its hooks, and how their raw values become statistics.

A ``LayerProbe`` owns every hook a watch puts on one layer and decides what the layer gets
from its type and the requested kinds: activation statistics from a forward hook, the
activation gradient from a hook registered on sampled steps only (whose first call also
has the parameter gradients read when that backward pass ends), normalization statistics, the
dropout mask through the layer's ``hook_mask`` tap, and for a ``Residual`` the variance of
its two paths (``hook_branch``, ``hook_skip``) and the norms of its gradient split.

Hooks are called at every step, so each starts with one flag check and returns at once on a
step that is not sampled. On a sampled step they compute what cannot wait (the reductions of
a tensor that may change or be freed later) and hand the small results to the shared
:class:`~vizlab.probes.context.Context`, which batches a whole step into the staging buffer;
the decoders of ``decode.py`` finish the arithmetic on the host after the buffer is copied.
A layer output that is known to stay unchanged until the forward ends is measured then, with
the others (see :func:`measure_deferred`).
Weights are measured for all layers at once by ``weights.py``.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from vizlab.nn import Norm, Residual
from vizlab.probes.context import Context
from vizlab.probes.decode import decode_mask, decode_residual_grad, decode_residual_var
from vizlab.probes.norms import (
    batch_stats,
    channel_view,
    is_norm,
    norm_param_key,
    norm_params,
    stat_layout,
)
from vizlab.probes.select import has_mask_tap
from vizlab.probes.stats import (
    first_range,
    flat_view,
    float32_range,
    saturation_bounds,
    strided_sample,
    sum_of_squares,
)
from vizlab.probes.store import Record

__all__ = ["LayerProbe", "measure_deferred", "planned_stats"]


def planned_stats(module: nn.Module, what: tuple[str, ...]) -> dict[str, str]:
    """``{stat: kind}`` that a layer of this type records for the requested kinds."""
    stats: dict[str, str] = {}
    own = [p for p in module.parameters(recurse=False)]
    if "activations" in what:
        names = ["mean", "std", "zeros", "hist", "hist_range"]
        names += ["saturated"] if saturation_bounds(module) is not None else []
        stats.update(dict.fromkeys(names, "activations"))
    if "gradients" in what:
        stats["act_grad_norm"] = "gradients"
        if any(p.requires_grad for p in own):
            stats["param_grad_norm"] = "gradients"
    if "norms" in what and is_norm(module):
        stats.update(dict.fromkeys(["batch_mean", "batch_var"], "norms"))
        stats.update(dict.fromkeys(norm_params(module), "norms"))
    if "dropout" in what and has_mask_tap(module):
        stats.update(dict.fromkeys(["kept", "mask"], "dropout"))
    if "weights" in what and own:
        names = ["weight_norm", "near_zero", "weight_hist", "weight_hist_range"]
        stats.update(dict.fromkeys(names, "weights"))
    if isinstance(module, Residual):
        if "activations" in what:
            stats.update(dict.fromkeys(["var_branch", "var_skip", "var_ratio"], "residual"))
        if "gradients" in what:
            stats.update(dict.fromkeys(["grad_skip", "grad_branch", "grad_total"], "residual"))
    return stats


class LayerProbe:
    """The hooks a watch puts on one layer (see the module docstring)."""

    def __init__(self, name: str, module: nn.Module, what: tuple[str, ...], ctx: Context):
        self.name, self.module, self.ctx = name, module, ctx
        self.stats = planned_stats(module, what)
        self.acts = "activations" in what
        self.act_grads = "gradients" in what
        self.norm = "norms" in what and is_norm(module)
        self.dropout = "dropout" in what and has_mask_tap(module)
        self.residual = isinstance(module, Residual)
        self.res_vars = self.residual and "activations" in what
        self.res_grads = self.residual and "gradients" in what
        own = list(module.parameters(recurse=False))
        self.weights = own if "weights" in what else []
        self.grad_params = [p for p in own if p.requires_grad] if self.act_grads else []
        self.bounds = saturation_bounds(module)
        self.hist_range: tuple[float, float] | None = None
        self.binning: tuple[float, float, float, float] | None = None  # range, then float32
        self.weight_range: tuple[float, float] | None = None
        self._branch: tuple[int, torch.Tensor, int] | None = None
        self._norm_parts: tuple[tuple, list] | None = None  # see _norm_param_parts
        self.pending_split: int | None = None
        # Whether the output is measured when the forward ends (see measure_deferred):
        # None until the first sampled step has shown whether it changes in place later.
        self.defer: bool | None = None

    # ---- hooks -----------------------------------------------------------------------------
    def attach(self) -> list[RemovableHandle]:
        """Register this layer's hooks and return their handles."""
        m = self.module
        handles = []
        if self.acts or self.act_grads or self.norm:
            handles.append(m.register_forward_hook(self._on_forward))
        if self.dropout:
            handles.append(m.hook_mask.register_forward_hook(self._on_mask))
        if self.residual and (self.res_vars or self.res_grads):
            handles.append(m.hook_branch.register_forward_hook(self._on_branch))
        if self.res_vars:
            handles.append(m.hook_skip.register_forward_hook(self._on_skip))
        return handles

    def _on_forward(self, module: nn.Module, args: tuple, out: Any) -> None:
        ctx = self.ctx
        if not ctx.fwd:
            return
        y = _first_tensor(out)
        if y is None or not y.is_floating_point() or y.numel() == 0:
            return
        # No torch.no_grad() here (a few microseconds a layer): what is computed from y
        # works on y.detach(), and the norm statistics are queued as references.
        if self.norm and args and isinstance(args[0], torch.Tensor):
            self._record_norm(module, args[0])
        if self.acts or self.act_grads:
            if self.defer:
                ctx.deferred.append((self, y, y._version))  # see measure_deferred
            else:
                self._measure(y)
                if self.defer is None:  # first sampled step: does y change after this?
                    ctx.undecided.append((self, y, y._version))

    def _measure(self, y: torch.Tensor) -> None:
        """Sample the layer's output ``y`` and hook its gradient (as the forward hook
        sees it: ``y`` has not been changed in place since the layer returned it)."""
        ctx = self.ctx
        step = ctx.step
        if self.acts:
            self._record_activation(step, y)
        if self.act_grads and y.requires_grad:
            shared = ctx.grad_layers.get(id(y))
            version = y._version
            if shared is not None and shared[0] is y and shared[1] == version:
                shared[2].append(self.name)  # that tensor's hook reports for this layer too
            else:  # (a tensor changed in place since has another gradient: the new values')
                names = [self.name]
                ctx.grad_layers[id(y)] = (y, version, names)
                node = y.grad_fn
                if node is None:  # a leaf that requires grad (an identity layer on the input)
                    hook = functools.partial(_on_act_grad, ctx, names, step)
                    ctx.tensor_handles.append(y.register_hook(hook))
                else:  # a pre-hook of the node that made y: cheaper to attach
                    hook = functools.partial(_on_node_grads, ctx, names, step, y.output_nr)
                    ctx.tensor_handles.append(node.register_prehook(hook))

    def _record_activation(self, step: int, y: torch.Tensor) -> None:
        ctx = self.ctx
        if self.binning is None:
            self.hist_range = lo, hi = first_range(strided_sample(y.detach()), self.bounds)
            self.binning = (lo, hi, *float32_range(lo, hi))
            ctx.add_rows([Record(step, self.name, "activations", "hist_range", np.array((lo, hi)))])
        how = (self.binning, self.bounds)
        seen = ctx.summaries.get(id(y))
        if seen is not None and seen[0] is y and seen[1] == y._version and seen[2] == how:
            at = seen[3]  # the same tensor, unchanged, summarized by another layer
        else:
            at = ctx.summarize(y.detach(), self.binning, self.bounds)
            ctx.summaries[id(y)] = (y, y._version, how, at)
        ctx.add_activation(self.name, at)

    def _record_norm(self, module: nn.Module, x: torch.Tensor) -> None:
        if isinstance(module, Norm) and module.last_mean is not None:
            mean, var = module.last_mean, module.last_var
        else:
            mean, var = batch_stats(module, x)
        per_ex, has_c = stat_layout(module)
        parts = [
            ("batch_mean", _per_channel(mean, per_ex, has_c)),
            ("batch_var", _per_channel(var, per_ex, has_c)),
        ]
        # queued as references and copied when the forward ends (see Context.add_norm)
        self.ctx.add_norm(self.name, parts + self._norm_param_parts(module, has_c))

    def _norm_param_parts(self, module: nn.Module, has_c: bool) -> list[tuple[str, torch.Tensor]]:
        """The running averages and alpha and beta, one value per channel.

        Where they already are that (batch norm), the list holds the layer's own tensors,
        which change in place; it is kept while the layer holds the same tensors, saving a
        dozen Python calls per layer per sampled step.
        """
        key = norm_param_key(module)
        if key is not None and self._norm_parts is not None and self._norm_parts[0] == key:
            return self._norm_parts[1]
        params = norm_params(module)  # detached aliases: they see in-place updates
        parts = []
        for stat, t in params.items():
            # running stats have no batch axis; alpha and beta always have channels
            parts.append((stat, _per_channel(t, False, has_c or stat in ("alpha", "beta"))))
        own = all(u is t for (_, u), t in zip(parts, params.values()))
        self._norm_parts = (key, parts) if key is not None and own else None
        return parts

    def _on_mask(self, tap: nn.Module, args: tuple, mask: torch.Tensor) -> None:
        ctx = self.ctx
        if not ctx.fwd:
            return
        with torch.no_grad():
            m = mask.detach()
            rows, units = ctx.mask_sample
            sample = m.reshape(m.shape[0], -1)[:rows, :units] if m.dim() > 1 else m[None, :units]
            values = torch.cat([m.float().mean().reshape(1), sample.float().reshape(-1)])
            info = tuple(sample.shape)
            ctx.buffer.write(ctx.step, self.name, "dropout", values, decode_mask, info)

    def _on_branch(self, tap: nn.Module, args: tuple, out: torch.Tensor) -> None:
        ctx = self.ctx
        if not ctx.fwd:
            return
        if self.res_grads and out.requires_grad:
            self.pending_split = ctx.step  # the Residual tracks its gradient split this step
        if self.res_vars:
            with torch.no_grad():
                self._branch = (ctx.step, _sum_and_squares(out.detach()), out.numel())

    def _on_skip(self, tap: nn.Module, args: tuple, out: torch.Tensor) -> None:
        ctx = self.ctx
        if not ctx.fwd or self._branch is None or self._branch[0] != ctx.step:
            return
        with torch.no_grad():
            _, branch, n_branch = self._branch
            values = torch.cat([branch, _sum_and_squares(out.detach())])
            info = (n_branch, out.numel())
            ctx.buffer.write(ctx.step, self.name, "residual", values, decode_residual_var, info)
        self._branch = None

    # ---- work done between steps -----------------------------------------------------------
    def collect_split(self, final: bool) -> None:
        """Queue the norms of the Residual's gradient split for the pending sampled step.

        Called before the next forward (which resets the split), and on flush; with
        ``final`` the pending step is given up if no backward produced the split.
        """
        step = self.pending_split
        if step is None:
            return
        skip, branch = self.module.grad_skip, self.module.grad_branch
        if skip is None or branch is None:
            if final:
                self.pending_split = None
            return
        self.pending_split = None
        with torch.no_grad():
            if skip.stride() == branch.stride():  # same layout: read both in memory order
                s, b = flat_view(skip).float(), flat_view(branch).float()
            else:
                s, b = skip.reshape(-1).float(), branch.reshape(-1).float()
            # |s + b|^2 = |s|^2 + |b|^2 + 2 s.b, without allocating the sum
            values = torch.stack([s @ s, b @ b, s @ b])
            self.ctx.buffer.write(step, self.name, "residual", values, decode_residual_grad)


def measure_deferred(ctx: Context) -> None:
    """Measure the layer outputs whose hooks deferred them, when the root's forward ends.

    A sampled forward interleaves the model's large operations with the probes' small
    ones, and on a CPU each small one then runs with cold caches: measuring the outputs
    one after the other once the forward is over costs less than the same work spread
    over the forward (about 1% of a digits step at ``every=1``). It is exact as long as an
    output was not changed in place after its layer returned it (a later
    ``ReLU(inplace=True)``): its version counter says so. So a layer is measured in its
    hook at the first sampled step, and deferred from then on if its output was still
    unchanged when the forward ended. Should a deferred output be changed in place at a
    later step after all, that step's activation statistics and gradient norm of the
    layer are lost (its values are gone) and the layer is measured in its hook from then
    on.
    """
    for probe, y, version in ctx.undecided:
        probe.defer = y._version == version
    for probe, y, version in ctx.deferred:
        if y._version == version:
            probe._measure(y)
        else:
            probe.defer = False
    ctx.undecided, ctx.deferred = [], []


def _on_act_grad(ctx: Context, names: list[str], step: int, grad: torch.Tensor) -> None:
    """Tensor hook: the norm of the gradient reaching one output, for every layer it is.

    Inert outside the backward of the sampled step that registered it: the watch drops
    its handles at the next forward without removing each hook (the outputs, and their
    hooks, are usually gone by then; one kept alive by the loop stays harmless)."""
    if ctx.grad and ctx.step == step:
        # (a gradient only requires grad in a backward with create_graph=True)
        ctx.add_act_grad(names, sum_of_squares(grad.detach() if grad.requires_grad else grad))


def _on_node_grads(ctx: Context, names: list[str], step: int, index: int, grads: tuple) -> None:
    """Node pre-hook: ``grads[index]`` is the gradient reaching the watched output (the
    node's output number ``index``); ``None`` where no gradient reached it. Same rules as
    :func:`_on_act_grad`, which a tensor hook calls: registering a pre-hook on the node is
    cheaper than ``Tensor.register_hook`` and sees the same gradient (both are bound to the
    node that made the tensor, also if the tensor is later changed in place)."""
    grad = grads[index]
    if grad is not None:
        _on_act_grad(ctx, names, step, grad)


def _sum_and_squares(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x.sum(dtype=torch.float32), sum_of_squares(x).float()])


def _per_channel(stat: torch.Tensor, per_example: bool, has_channel: bool) -> torch.Tensor:
    # channel_view, minus its work for what already is one value per channel (batch norm)
    if stat.dim() == 1 and has_channel and not per_example:
        return stat
    return channel_view(stat, per_example, has_channel)


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return next((o for o in out if isinstance(o, torch.Tensor)), None)
    return None
