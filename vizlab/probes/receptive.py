"""Receptive fields measured the way the lecture defines them: by input gradients.

A unit deep in a convolutional net depends on a window of the input that grows with every
convolution and pooling. Differentiating that one unit with respect to the input shows the
window directly: the gradient is exactly zero outside it (nothing there can change the unit)
and, generically, nonzero inside. This is the check behind curriculum A-RF, and it works for
any architecture without computing kernel sizes and strides by hand.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from vizlab.nn import Residual
from vizlab.probes.select import LayerSpec, select_layers
from vizlab.probes.watch import paused

__all__ = ["receptive_field", "fields_of", "keep_io", "preserved"]


def receptive_field(
    model: nn.Module, x: torch.Tensor, *, layers: LayerSpec = None
) -> dict[str, torch.Tensor]:
    """Input-gradient receptive fields of the centre unit of each layer with image outputs.

    For every selected layer whose output is ``(1, C, H', W')``, the sum over channels of
    the output at ``(H' // 2, W' // 2)`` is differentiated with respect to the input, in eval
    mode; the absolute gradient summed over input channels is nonzero only where that unit
    can see. The model is left as it was (modes, buffers, residual gradient splits).

    Shape:
        - ``x``: ``(1, C, H, W)`` (only the first example is used); outputs ``(H, W)``.
    """
    return fields_of(model, x, select_layers(model, layers))


def fields_of(
    model: nn.Module, x: torch.Tensor, selected: list[tuple[str, nn.Module]]
) -> dict[str, torch.Tensor]:
    """``receptive_field`` for already selected ``(name, module)`` pairs."""
    outs: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(keep_io(n, outs, {})) for n, m in selected]
    maps = {}
    try:
        with preserved(model), paused(model), torch.enable_grad():
            model.eval()
            x1 = x[:1].detach().clone().requires_grad_(True)
            model(x1)
            for name, _ in selected:
                y = outs.get(name)
                if y is None or y.dim() != 4 or not y.requires_grad:
                    continue
                unit = y[0, :, y.shape[2] // 2, y.shape[3] // 2].sum()
                (g,) = torch.autograd.grad(unit, x1, retain_graph=True, allow_unused=True)
                if g is not None:
                    maps[name] = g[0].abs().sum(0).detach().cpu()
    finally:
        for handle in handles:
            handle.remove()
    return maps


@contextlib.contextmanager
def preserved(model: nn.Module) -> Iterator[None]:
    """Put the model back as it was: each module's train/eval mode, every buffer (running
    statistics move in a training-mode forward) and each ``Residual``'s stored gradient
    split (a backward through it overwrites them)."""
    modes = {m: m.training for m in model.modules()}
    splits = {m: (m.grad_skip, m.grad_branch) for m in modes if isinstance(m, Residual)}
    buffers = {k: b.detach().clone() for k, b in model.named_buffers()}
    try:
        yield
    finally:
        for module, mode in modes.items():
            module.training = mode
        for module, (skip, branch) in splits.items():
            module.grad_skip, module.grad_branch = skip, branch
        with torch.no_grad():
            for key, buf in model.named_buffers():
                if key in buffers:
                    buf.copy_(buffers[key])


def keep_io(name: str, outs: dict, ins: dict) -> Callable:
    """A forward hook storing a layer's output (and first input) under ``name``."""

    def hook(module: nn.Module, args: tuple, out: object) -> None:
        if isinstance(out, torch.Tensor):
            outs[name] = out
        if args and isinstance(args[0], torch.Tensor):
            ins[name] = args[0]

    return hook
