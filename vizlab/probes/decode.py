"""Host side of the probes: raw numbers copied from the device buffer -> finished statistics.

Probes queue raw sums, norms and bin counts (see ``stats.py``); once the buffer has crossed
to the host, each slot's decoder turns its values into means, fractions and normalized
histograms. Doing the divisions here keeps them off the device and out of the training step.

A copy holds the same slots step after step (the same layers, kinds and sizes), so the
staging step stacks the slots that share a layout into one ``(S, size)`` array, ``S`` steps
deep, and each decoder works on whole columns of it with numpy. At ``every=1`` this turns
a few hundred small Python conversions per step into a few dozen array operations per copy.

Every decoder takes ``(values, info)`` with ``values`` of shape ``(S, size)`` and returns
``[(layer, stat, column), ...]``, where ``column`` holds one value per step: shape ``(S,)``
for a number, ``(S, *shape)`` for an array. ``layer`` is ``None`` for a slot of one layer
(the slot names it); slots that batch many layers (everything a sampled forward, backward or
weight pass produced, laid out in one tensor so that it costs a single device operation)
name each layer themselves. ``info`` is what the host already knows (element counts,
shapes, names); it must be hashable, since slots are grouped by it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "decode_activations",
    "decode_gradients",
    "decode_mask",
    "decode_residual_grad",
    "decode_residual_var",
    "decode_norms",
    "decode_weights",
]

Column = tuple[str | None, str, np.ndarray]


# ---- one-layer slots ---------------------------------------------------------------------------
def decode_mask(values: np.ndarray, info: tuple[int, int]) -> list[Column]:
    """The kept fraction, then the mask sample of shape ``info``."""
    masks = values[:, 1:].reshape(len(values), *info) > 0.5
    return [(None, "kept", values[:, 0].astype(np.float64)), (None, "mask", masks)]


def decode_residual_var(values: np.ndarray, info: tuple[int, int]) -> list[Column]:
    """``values``: sum and sum of squares of the branch, then of the skip path."""
    v = values.astype(np.float64)
    var_branch = _var_from(v[:, 0], v[:, 1], info[0])
    var_skip = _var_from(v[:, 2], v[:, 3], info[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(var_skip > 0, var_branch / var_skip, np.inf)
    return [
        (None, "var_branch", var_branch),
        (None, "var_skip", var_skip),
        (None, "var_ratio", ratio),
    ]


def decode_residual_grad(values: np.ndarray, info: Any) -> list[Column]:
    """``values``: the squared norms of the skip and branch gradients and their dot product."""
    v = values.astype(np.float64)
    skip_sq, branch_sq, dot = v[:, 0], v[:, 1], v[:, 2]
    total = np.sqrt(np.maximum(skip_sq + branch_sq + 2 * dot, 0.0))
    skip, branch = np.sqrt(np.maximum(skip_sq, 0.0)), np.sqrt(np.maximum(branch_sq, 0.0))
    return [(None, "grad_skip", skip), (None, "grad_branch", branch), (None, "grad_total", total)]


# ---- slots of many layers ----------------------------------------------------------------------
def decode_activations(values: np.ndarray, info: tuple) -> list[Column]:
    """Activation statistics of one forward, from the samples of its ``T`` output tensors.

    Each row of ``values`` holds the ``T`` sums, ``T`` sums of squares and ``T`` zero
    counts of the padded sample matrix, the saturation counts of the bounded layers, then
    one histogram of ``bins`` counts per tensor. ``info`` is ``(rows, sizes, pads,
    zero_bins, saturated, bins)``: one ``(layer, tensor, saturation index or -1)`` per layer
    (layers that saw the same tensor point to the same values), each tensor's sample size,
    the padding zeros of its row and the bin 0.0 falls into in its range (where the padding
    was counted), the number of saturation counts, and the bins per histogram.
    """
    rows_info, sizes, pads, zero_bins, n_sats, bins = info
    t, s = len(sizes), len(values)
    n = np.asarray(sizes, dtype=np.float64)  # (T,)
    head = values[:, : 3 * t + n_sats].astype(np.float64)
    mean = head[:, :t] / n  # (S, T)
    std = np.sqrt(np.maximum(head[:, t : 2 * t] / n - mean * mean, 0.0))
    zeros = (head[:, 2 * t : 3 * t] - np.asarray(pads)) / n
    sat_n = np.ones(n_sats)
    for _, k, sat in rows_info:
        if sat >= 0:
            sat_n[sat] = n[k]
    saturated = head[:, 3 * t :] / sat_n
    hists = values[:, 3 * t + n_sats :].reshape(s, t, bins).astype(np.float64)
    hists[:, np.arange(t), list(zero_bins)] -= np.asarray(pads)
    hists = (hists / n[:, None]).astype(np.float32)  # (S, T, bins)
    rows: list[Column] = []
    for layer, k, sat in rows_info:
        rows += [(layer, "mean", mean[:, k]), (layer, "std", std[:, k])]
        rows.append((layer, "zeros", zeros[:, k]))
        if sat >= 0:
            rows.append((layer, "saturated", saturated[:, sat]))
        rows.append((layer, "hist", hists[:, k]))
    return rows


def decode_gradients(values: np.ndarray, info: tuple[tuple[tuple[str, ...], str], ...]) -> list:
    """Gradient norms of one backward: column ``i`` of ``values`` belongs to the layers
    ``info[i][0]`` as statistic ``info[i][1]``. Activation gradients come as sums of squares;
    parameter gradients as one norm per parameter, combined here into one norm per layer,
    ``sqrt(sum of squares)``."""
    v = values.astype(np.float64)
    rows: list[Column] = []
    param_sq: dict[str, np.ndarray] = {}
    for i, (layers, stat) in enumerate(info):
        if stat == "act_grad_norm":
            norm = np.sqrt(np.maximum(v[:, i], 0.0))
            rows += [(layer, stat, norm) for layer in layers]
        else:
            for layer in layers:
                param_sq[layer] = param_sq.get(layer, 0.0) + v[:, i] * v[:, i]
    rows += [(layer, "param_grad_norm", np.sqrt(sq)) for layer, sq in param_sq.items()]
    return rows


def decode_norms(values: np.ndarray, info: tuple[tuple[str, tuple], ...]) -> list[Column]:
    """Per-channel vectors of several normalization layers, laid end to end: ``info`` has
    one ``(layer, ((stat, length), ...))`` per layer."""
    rows: list[Column] = []
    at = 0
    for layer, parts in info:
        for stat, size in parts:
            rows.append((layer, stat, values[:, at : at + size]))
            at += size
    return rows


def decode_weights(values: np.ndarray, info: tuple[tuple, int]) -> list[Column]:
    """Weight statistics of several layers.

    Each row of ``values`` holds every layer's sum of squared weights, then every layer's
    count of near-zero weights, then one histogram of ``bins`` counts per layer. ``info``
    is ``(layers, bins)`` with one ``(layer, n, n_sample)`` per layer: its number of
    weights and how many of them its histogram samples.
    """
    layers, bins = info
    count = len(layers)
    v = values.astype(np.float64)
    rows: list[Column] = []
    for k, (layer, n, n_sample) in enumerate(layers):
        norm = np.sqrt(np.maximum(v[:, k], 0.0))
        near = v[:, count + k] / max(n, 1)
        start = 2 * count + k * bins
        hist = (v[:, start : start + bins] / max(n_sample, 1)).astype(np.float32)
        rows += [(layer, "weight_norm", norm), (layer, "near_zero", near)]
        rows.append((layer, "weight_hist", hist))
    return rows


def _var_from(total: np.ndarray, squares: np.ndarray, n: int) -> np.ndarray:
    mean = total / n
    return np.maximum(squares / n - mean * mean, 0.0)
