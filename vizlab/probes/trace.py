"""``trace``: every tensor of one batch, for the figures that need whole tensors.

Where ``watch`` keeps cheap summaries over many steps, ``trace`` runs one batch and keeps
everything: each layer's output (feature maps), the gradient of the loss with respect to it,
dropout masks, normalization statistics, each residual block's gradient split, the
first convolution's filters and each layer's receptive field measured by input gradients.

Tracing observes without changing the model: train/eval modes, buffers (running
statistics) and residual blocks' stored gradient splits are restored afterwards, gradients
are taken with ``torch.autograd.grad`` so no ``.grad`` is left on parameters, hooks are
removed in a ``finally``, and attached watches ignore the traced forwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from vizlab.nn import Residual
from vizlab.probes.norms import batch_stats, is_norm, norm_params, used_stats
from vizlab.probes.receptive import fields_of, keep_io, preserved
from vizlab.probes.select import LayerSpec, has_mask_tap, select_layers
from vizlab.probes.watch import paused

__all__ = ["Trace", "NormStats", "ResidualSplit", "trace"]


@dataclass
class NormStats:
    """Statistics of one normalization layer for the traced batch (CPU tensors).

    Attributes:
        batch_mean, batch_var: the batch's mean and biased variance over the axes the layer
            normalizes over (what training mode uses), in the layer's native statistic shape:
            batch norm ``(C,)``, layer norm ``(N,)``, instance norm ``(N, C)``, group norm
            ``(N, G)``.
        mean, var: the statistics the layer actually used in this forward.
        uses_running: whether those were the running averages (eval mode).
        running_mean, running_var, alpha, beta: the layer's buffers and affine parameters,
            ``None`` when it has none.
    """

    batch_mean: torch.Tensor
    batch_var: torch.Tensor
    mean: torch.Tensor
    var: torch.Tensor
    uses_running: bool
    running_mean: torch.Tensor | None = None
    running_var: torch.Tensor | None = None
    alpha: torch.Tensor | None = None
    beta: torch.Tensor | None = None


@dataclass
class ResidualSplit:
    """How the loss gradient reaches one residual block's input (CPU tensors).

    Attributes:
        skip: the part that came through the shortcut.
        branch: the part that came through the branch ``f``.
        total: ``skip + branch``.
        input_grad: autograd's gradient with respect to the block's input; equal to
            ``total`` when the input feeds nothing but this block.
        var_branch, var_skip: variance of the two paths' outputs in the forward pass.

    Shape:
        - ``skip``, ``branch``, ``total``, ``input_grad``: the block's input shape.
    """

    skip: torch.Tensor | None
    branch: torch.Tensor | None
    total: torch.Tensor | None
    input_grad: torch.Tensor | None
    var_branch: float
    var_skip: float


@dataclass
class Trace:
    """Everything one traced batch showed; all tensors are detached copies on the CPU.

    Attributes:
        layers: traced layer names.
        output: the model's output; ``loss`` its loss against ``y`` (``None`` without ``y``).
        activations: layer -> output tensor.
        grads: layer -> gradient of the loss with respect to that output.
        param_grads: parameter name -> gradient, for the traced layers' own parameters.
        input_grad: gradient of the loss with respect to the input ``x``.
        masks: dropout layer -> bool mask (True = kept), expanded to the masked shape.
        norm_stats: normalization layer -> :class:`NormStats`.
        residual: residual block -> :class:`ResidualSplit`.
        filters: weights of the model's first convolution, ``filters_layer`` its name.
        receptive_field: layer -> ``(H, W)`` map of ``|d unit / d x|`` summed over input
            channels, for the unit at the centre of the layer's first example (over all its
            channels), measured in eval mode; nonzero exactly where the unit can see.
    """

    layers: list[str]
    output: torch.Tensor
    loss: float | None = None
    activations: dict[str, torch.Tensor] = field(default_factory=dict)
    grads: dict[str, torch.Tensor] = field(default_factory=dict)
    param_grads: dict[str, torch.Tensor] = field(default_factory=dict)
    input_grad: torch.Tensor | None = None
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    norm_stats: dict[str, NormStats] = field(default_factory=dict)
    residual: dict[str, ResidualSplit] = field(default_factory=dict)
    filters: torch.Tensor | None = None
    filters_layer: str | None = None
    receptive_field: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def feature_maps(self) -> dict[str, torch.Tensor]:
        """The activations that are images: ``(N, C, H, W)`` outputs."""
        return {k: v for k, v in self.activations.items() if v.dim() == 4}


_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def trace(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    layers: LayerSpec = None,
    train: bool = False,
    loss_fn: LossFn | None = None,
    rf: bool = True,
) -> Trace:
    """Run one batch through ``model`` and keep every tensor a figure may need.

    Args:
        model: any module.
        x: an input batch on the model's device.
        y: targets; when given, the loss ``loss_fn(output, y)`` is differentiated with
            respect to every traced output, parameter and the input.
        layers: which layers to trace (as for ``watch``).
        train: trace in training mode (batch statistics, dropout masks) instead of eval.
        loss_fn: defaults to cross-entropy.
        rf: also measure each traced layer's receptive field (one small backward per layer).

    Shape:
        - ``x``: ``(N, *)`` as the model expects; ``y``: whatever ``loss_fn`` takes.
    """
    selected = select_layers(model, layers)
    loss_fn = loss_fn or F.cross_entropy
    outs: dict[str, torch.Tensor] = {}
    ins: dict[str, torch.Tensor] = {}
    paths: dict[str, dict[str, float]] = {}
    handles = []
    result = Trace([n for n, _ in selected], output=torch.empty(0))
    with preserved(model), paused(model):
        try:
            model.train(train)
            for name, module in selected:
                handles.append(module.register_forward_hook(keep_io(name, outs, ins)))
                if isinstance(module, Residual):
                    handles += _keep_path_vars(name, module, paths)
            x_in = x.detach().requires_grad_(y is not None)
            with torch.enable_grad():
                out = model(x_in)
                grads = _gradients(selected, out, y, loss_fn, x_in, outs, ins, result)
        finally:
            for handle in handles:
                handle.remove()
        _fill(result, model, selected, out, outs, ins, grads, paths)
        if rf:
            result.receptive_field = fields_of(model, x, selected)
    return result


def _keep_path_vars(name: str, module: Residual, paths: dict) -> list:
    def var_of(path: str) -> Callable:
        def hook(tap: nn.Module, args: tuple, out: torch.Tensor) -> None:
            paths.setdefault(name, {})[path] = float(out.detach().float().var(correction=0))

        return hook

    return [
        module.hook_branch.register_forward_hook(var_of("branch")),
        module.hook_skip.register_forward_hook(var_of("skip")),
    ]


def _gradients(selected, out, y, loss_fn, x_in, outs, ins, result) -> dict:
    """Gradients of the loss with respect to outputs, block inputs, parameters and ``x``."""
    if y is None:
        return {}
    loss = loss_fn(out, y)
    result.loss = float(loss.detach())
    targets: dict[tuple[str, str], torch.Tensor] = {}
    for name, module in selected:
        if name in outs and outs[name].requires_grad:
            targets[("out", name)] = outs[name]
        if isinstance(module, Residual) and name in ins and ins[name].requires_grad:
            targets[("in", name)] = ins[name]
        for pname, p in module.named_parameters(recurse=False):
            if p.requires_grad:
                targets[("param", f"{name}.{pname}" if name else pname)] = p
    targets[("x", "")] = x_in
    keys = list(targets)
    values = torch.autograd.grad(loss, [targets[k] for k in keys], allow_unused=True)
    return dict(zip(keys, values))


def _fill(result, model, selected, out, outs, ins, grads, paths) -> None:
    result.output = out.detach().cpu()
    for (what, name), g in grads.items():
        if g is None:
            continue
        g = g.detach().cpu()
        if what == "out":
            result.grads[name] = g
        elif what == "param":
            result.param_grads[name] = g
        elif what == "x":
            result.input_grad = g
    for name, module in selected:
        if name in outs:
            result.activations[name] = outs[name].detach().cpu().clone()
        if has_mask_tap(module) and getattr(module, "last_mask", None) is not None:
            result.masks[name] = module.last_mask.detach().cpu()
        if is_norm(module) and name in ins:
            result.norm_stats[name] = _norm_stats(module, ins[name])
        if isinstance(module, Residual):
            result.residual[name] = _split(module, grads.get(("in", name)), paths.get(name, {}))
    first = next(((n, m) for n, m in model.named_modules() if isinstance(m, _CONVS)), None)
    if first is not None:
        result.filters_layer = first[0]
        result.filters = first[1].weight.detach().cpu().clone()


def _norm_stats(module: nn.Module, x: torch.Tensor) -> NormStats:
    with torch.no_grad():
        batch_mean, batch_var = batch_stats(module, x)
        mean, var, uses_running = used_stats(module, x)
        params = {k: v.detach().cpu().clone() for k, v in norm_params(module).items()}
    return NormStats(
        batch_mean.cpu(), batch_var.cpu(), mean.detach().cpu().clone(), var.detach().cpu().clone(),
        uses_running, **params,
    )  # fmt: skip


def _split(module: Residual, input_grad: torch.Tensor | None, vars_: dict) -> ResidualSplit:
    skip, branch = module.grad_skip, module.grad_branch
    total = skip + branch if skip is not None and branch is not None else None
    return ResidualSplit(
        skip=None if skip is None else skip.detach().cpu(),
        branch=None if branch is None else branch.detach().cpu(),
        total=None if total is None else total.detach().cpu(),
        input_grad=None if input_grad is None else input_grad.detach().cpu(),
        var_branch=vars_.get("branch", float("nan")),
        var_skip=vars_.get("skip", float("nan")),
    )
