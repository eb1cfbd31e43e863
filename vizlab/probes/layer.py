"""What a watch does for one layer: its hooks, and how their raw values become statistics.

A ``LayerProbe`` owns every hook a watch puts on one layer and decides what the layer gets
from its type and the requested kinds: activation statistics from a forward hook, the
activation gradient from a tensor hook registered on sampled steps only, parameter
gradients from ``register_post_accumulate_grad_hook`` (which sees ``p.grad`` right after
backward, whatever the loop does with ``zero_grad`` later), normalization statistics, the
dropout mask through the layer's ``hook_mask`` tap, and for a ``Residual`` the variance of
its two paths (``hook_branch``, ``hook_skip``) and the norms of its gradient split.

Hooks are called at every step, so each starts with one flag check and returns at once on a
step that is not sampled. On a sampled step they queue small device tensors into the shared
buffer; the ``decode_*`` functions of ``stats.py`` finish the arithmetic on the host after
the buffer is copied.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from vizlab.nn import Norm, Residual
from vizlab.probes.buffer import DeviceBuffer
from vizlab.probes.norms import batch_stats, channel_view, is_norm, norm_params, stat_layout
from vizlab.probes.select import has_mask_tap
from vizlab.probes.stats import (
    activation_summary,
    decode_act_grad,
    decode_activation,
    decode_mask,
    decode_param_grad,
    decode_residual_grad,
    decode_residual_var,
    decode_split,
    decode_weights,
    first_range,
    histogram,
    saturation_bounds,
    strided_sample,
    weight_range,
)
from vizlab.probes.store import Record

__all__ = ["Context", "LayerProbe", "planned_stats"]


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
    add_rows: Any  # callable taking a list of Records, for values known on the host
    fwd: bool = False
    grad: bool = False
    step: int = 0
    tensor_handles: list[RemovableHandle] = field(default_factory=list)
    # Work shared within one forward, by output tensor: taps return their input, so several
    # watched layers (a block and its last activation) can share one output tensor. Both
    # are cleared when the forward ends, so no activation is kept alive by them.
    summaries: dict[tuple, tuple[torch.Tensor, int, torch.Tensor]] = field(default_factory=dict)
    grad_layers: dict[int, tuple[torch.Tensor, list[str]]] = field(default_factory=dict)


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
        self.weight_range: tuple[float, float] | None = None
        self._branch: tuple[int, torch.Tensor, int] | None = None
        self.pending_split: int | None = None

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
        for p in self.grad_params:
            handles.append(p.register_post_accumulate_grad_hook(self._on_param_grad))
        return handles

    def _on_forward(self, module: nn.Module, args: tuple, out: Any) -> None:
        ctx = self.ctx
        if not ctx.fwd:
            return
        y = _first_tensor(out)
        if y is None or not y.is_floating_point() or y.numel() == 0:
            return
        step = ctx.step
        with torch.no_grad():
            if self.acts:
                self._record_activation(step, y)
            if self.norm and args and isinstance(args[0], torch.Tensor):
                self._record_norm(step, module, args[0])
        if self.act_grads and y.requires_grad:
            shared = ctx.grad_layers.get(id(y))
            if shared is not None and shared[0] is y:
                shared[1].append(self.name)  # that tensor's hook reports for this layer too
            else:
                names = [self.name]
                ctx.grad_layers[id(y)] = (y, names)
                hook = functools.partial(_on_act_grad, ctx, step, names)
                ctx.tensor_handles.append(y.register_hook(hook))

    def _record_activation(self, step: int, y: torch.Tensor) -> None:
        x = y.detach()
        sample = strided_sample(x)
        if self.hist_range is None:
            self.hist_range = first_range(sample, self.bounds)
            row = Record(step, self.name, "activations", "hist_range", np.array(self.hist_range))
            self.ctx.add_rows([row])
        lo, hi = self.hist_range
        key = (id(y), lo, hi, self.bounds)
        seen = self.ctx.summaries.get(key)
        if seen is not None and seen[0] is y and seen[1] == y._version:
            values = seen[2]  # the same tensor, unchanged, summarized by another layer
        else:
            values = activation_summary(x, sample, lo, hi, self.ctx.bins, self.bounds)
            self.ctx.summaries[key] = (y, y._version, values)
        info = (x.numel(), sample.numel(), self.bounds is not None)
        self.ctx.buffer.write(step, self.name, "activations", values, decode_activation, info)

    def _record_norm(self, step: int, module: nn.Module, x: torch.Tensor) -> None:
        if isinstance(module, Norm) and module.last_mean is not None:
            mean, var = module.last_mean, module.last_var
        else:
            mean, var = batch_stats(module, x)
        per_ex, has_c = stat_layout(module)
        parts = [
            ("batch_mean", channel_view(mean, per_ex, has_c)),
            ("batch_var", channel_view(var, per_ex, has_c)),
        ]
        for stat, t in norm_params(module).items():
            # running stats have no batch axis; alpha and beta always have channels
            parts.append((stat, channel_view(t, False, has_c or stat in ("alpha", "beta"))))
        info = tuple((stat, t.numel()) for stat, t in parts)
        values = torch.cat([t for _, t in parts])
        self.ctx.buffer.write(step, self.name, "norms", values, decode_split, info)

    def _on_param_grad(self, param: torch.Tensor) -> None:
        ctx = self.ctx
        if not ctx.grad or param.grad is None:
            return
        with torch.no_grad():
            norm = torch.linalg.vector_norm(param.grad, dtype=torch.float32)
            ctx.buffer.write(ctx.step, self.name, "gradients", norm, decode_param_grad)

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
                self._branch = (ctx.step, _sum_and_norm(out.detach()), out.numel())

    def _on_skip(self, tap: nn.Module, args: tuple, out: torch.Tensor) -> None:
        ctx = self.ctx
        if not ctx.fwd or self._branch is None or self._branch[0] != ctx.step:
            return
        with torch.no_grad():
            _, branch, n_branch = self._branch
            values = torch.cat([branch, _sum_and_norm(out.detach())])
            info = (n_branch, out.numel())
            ctx.buffer.write(ctx.step, self.name, "residual", values, decode_residual_var, info)
        self._branch = None

    # ---- work done between steps -----------------------------------------------------------
    def record_weights(self, step: int) -> None:
        """Queue the norm, near-zero fraction and histogram of the layer's own parameters."""
        if not self.weights:
            return
        with torch.no_grad():
            first = self.weights[0].detach()
            if len(self.weights) == 1:
                flat = first.reshape(-1)
            else:
                flat = torch.cat([p.detach().reshape(-1) for p in self.weights])
            if self.weight_range is None:
                self.weight_range = weight_range(flat)
                rng = np.array(self.weight_range)
                self.ctx.add_rows([Record(step, self.name, "weights", "weight_hist_range", rng)])
            period = first[0].numel() if first.dim() > 1 else 1
            sample = strided_sample(flat, period=period)
            head = torch.stack(
                [
                    torch.linalg.vector_norm(flat, dtype=torch.float32),
                    (flat.abs() < self.ctx.near_zero).sum(dtype=torch.float32),
                ]
            )
            hist = histogram(sample, *self.weight_range, self.ctx.bins)
            values = torch.cat([head, hist])
        info = (flat.numel(), sample.numel())
        self.ctx.buffer.write(step, self.name, "weights", values, decode_weights, info)

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
            s, b = skip.reshape(-1).float(), branch.reshape(-1).float()
            # |s + b|^2 = |s|^2 + |b|^2 + 2 s.b, without allocating the sum
            values = torch.stack([torch.linalg.vector_norm(s), torch.linalg.vector_norm(b), s @ b])
            self.ctx.buffer.write(step, self.name, "residual", values, decode_residual_grad)


def _on_act_grad(ctx: Context, step: int, names: list[str], grad: torch.Tensor) -> None:
    """Tensor hook: the norm of the gradient reaching one output, for every layer it is."""
    norm = torch.linalg.vector_norm(grad.detach(), dtype=torch.float32)
    for name in names:
        ctx.buffer.write(step, name, "gradients", norm, decode_act_grad)


def _sum_and_norm(x: torch.Tensor) -> torch.Tensor:
    return torch.stack(
        [x.sum(dtype=torch.float32), torch.linalg.vector_norm(x, dtype=torch.float32)]
    )


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return next((o for o in out if isinstance(o, torch.Tensor)), None)
    return None
