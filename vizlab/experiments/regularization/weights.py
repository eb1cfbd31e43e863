"""Measuring the weights a penalty acts on: per-layer norms, zero fractions, a recorder.

Penalties and decay act on the weights of linear and conv layers (not biases); every helper
here sees exactly those, and sees ``w = a * b`` (not ``a`` and ``b``) in a reparameterized
model.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from vizlab.experiments.regularization.models import ReparamLinear

__all__ = [
    "NEAR_ZERO",
    "EXACT_ZERO",
    "layer_weights",
    "weight_norms",
    "flat_weights",
    "zero_fractions",
    "WeightRecorder",
]

#: ``|w| <`` this counts as near zero (the ``watch`` default): invisible in a histogram.
NEAR_ZERO = 1e-3
#: ``|w| <`` this counts as exactly zero: six orders below a typical weight (~0.1), beyond
#: anything the L1 subgradient reaches with these learning rates (it oscillates at ~lr*l1).
EXACT_ZERO = 1e-6


def layer_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The effective weight of every linear, conv and reparameterized layer, by layer name.

    The biases are left out: penalties and decay do not touch them (``decay_parameters``).
    """
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, ReparamLinear)
    return {
        name: module.weight.detach()
        for name, module in model.named_modules()
        if isinstance(module, kinds)
    }


def weight_norms(model: nn.Module) -> dict[str, float]:
    """``||w||_2`` of every layer plus ``"total"``, the norm of all of them together."""
    norms = {name: float(w.norm()) for name, w in layer_weights(model).items()}
    norms["total"] = math.sqrt(sum(v * v for v in norms.values()))
    return norms


def flat_weights(model: nn.Module) -> torch.Tensor:
    """Every layer's weight in one flat float32 CPU vector (the order of ``layer_weights``)."""
    return torch.cat([w.reshape(-1) for w in layer_weights(model).values()]).float().cpu()


def zero_fractions(w: torch.Tensor) -> dict[str, float]:
    """The fractions of ``w`` below ``NEAR_ZERO`` (``near_zero``) and ``EXACT_ZERO``."""
    mag = w.abs()
    return {
        "near_zero": float((mag < NEAR_ZERO).float().mean()),
        "exact_zero": float((mag < EXACT_ZERO).float().mean()),
    }


class WeightRecorder:
    """A ``fit`` callback that records the effective weights of every layer.

    Works for any model, reparameterized ones included (a ``watch`` sees ``a`` and ``b``,
    this sees ``w = a * b``). Every ``every`` steps (and at step 0 and at the end of the
    fit) it appends records
    ``(step, layer, "weights", stat, value)`` with ``weight_norm``, ``near_zero``,
    ``exact_zero``, ``weight_hist`` (counts over ``[-max|w|, max|w|]`` of that step) and
    ``weight_hist_range``, the format ``vizlab.plots.weight_hist`` and ``LiveWeightNorms``
    draw.
    """

    def __init__(self, every: int = 10, bins: int = 40) -> None:
        self.every, self.bins = every, bins
        self._records: list[tuple] = []

    def records(self) -> list[tuple]:
        """A copy of the records so far (safe to call from another thread)."""
        return list(self._records)

    def on_fit_start(self, state: Any) -> None:
        self._record(0, state.model)

    def on_step(self, state: Any) -> None:
        if state.step % self.every == 0:
            self._record(state.step, state.model)

    def on_fit_end(self, state: Any) -> None:
        # the weights fit returns (after any restore of the best epoch's weights)
        if not self._records or self._records[-1][0] != state.step:
            self._record(state.step, state.model)

    def _record(self, step: int, model: nn.Module) -> None:
        rows = []
        for layer, w in layer_weights(model).items():
            w = w.float().reshape(-1).cpu()
            top = max(float(w.abs().max()), 1e-6)  # the range follows the weights as they grow
            hist = torch.histc(w, bins=self.bins, min=-top, max=top)
            fractions = zero_fractions(w)
            rows += [
                (step, layer, "weights", "weight_norm", float(w.norm())),
                (step, layer, "weights", "near_zero", fractions["near_zero"]),
                (step, layer, "weights", "exact_zero", fractions["exact_zero"]),
                (step, layer, "weights", "weight_hist", hist.numpy()),
                (step, layer, "weights", "weight_hist_range", (-top, top)),
            ]
        self._records.extend(rows)  # one extend: a reader never sees half a step
