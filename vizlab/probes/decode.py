"""Host side of the probes: raw numbers copied from the device buffer -> finished statistics.

Probes queue raw sums, norms and bin counts (see ``stats.py``); once the buffer has crossed
to the host, each slot's decoder turns its slice into means, fractions and normalized
histograms. Doing the divisions here keeps them off the device and out of the training step.

Two kinds of decoders exist. The per-layer ones return ``[(stat, value), ...]`` for the
slot's own layer. The batched ones serve a slot that holds one statistic family for many
layers at once (everything a sampled forward, backward or weight pass produced, laid out in
one tensor so that it costs a single device operation) and return ``[(layer, stat, value),
...]``; such slots have an empty layer name.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "decode_activations",
    "decode_gradients",
    "decode_mask",
    "decode_residual_grad",
    "decode_residual_var",
    "decode_split",
    "decode_weights",
]


# ---- per-layer slots: -> [(stat, value), ...] ------------------------------------------------
def decode_split(raw: np.ndarray, info: tuple[tuple[str, int], ...]) -> list:
    """Consecutive per-channel vectors, ``info`` naming each and giving its length."""
    rows, at = [], 0
    for stat, size in info:
        rows.append((stat, raw[at : at + size].copy()))
        at += size
    return rows


def decode_mask(raw: np.ndarray, info: tuple[int, int]) -> list:
    return [("kept", float(raw[0])), ("mask", raw[1:].reshape(info) > 0.5)]


def decode_residual_var(raw: np.ndarray, info: tuple[int, int]) -> list:
    """``raw``: sum and sum of squares of the branch, then of the skip path."""
    var_branch = _var_from(raw[0], raw[1], info[0])
    var_skip = _var_from(raw[2], raw[3], info[1])
    ratio = var_branch / var_skip if var_skip > 0 else math.inf
    return [("var_branch", var_branch), ("var_skip", var_skip), ("var_ratio", ratio)]


def decode_residual_grad(raw: np.ndarray, info: Any) -> list:
    """``raw``: the squared norms of the skip and branch gradients and their dot product."""
    skip_sq, branch_sq, dot = (float(v) for v in raw)
    total = math.sqrt(max(skip_sq + branch_sq + 2 * dot, 0.0))
    skip, branch = math.sqrt(max(skip_sq, 0.0)), math.sqrt(max(branch_sq, 0.0))
    return [("grad_skip", skip), ("grad_branch", branch), ("grad_total", total)]


# ---- batched slots: -> [(layer, stat, value), ...] -------------------------------------------
def decode_activations(raw: np.ndarray, info: tuple) -> list:
    """Activation statistics of one forward, from the samples of its ``T`` output tensors.

    ``raw`` holds the ``T`` sums, ``T`` sums of squares and ``T`` zero counts of the padded
    sample matrix, the saturation counts of the bounded layers, then one histogram of
    ``bins`` counts per tensor. ``info`` is ``(rows, sizes, pads, zero_bins, saturated,
    bins)``: one ``(layer, tensor, saturation index or -1)`` per layer (layers that saw the
    same tensor point to the same values), each tensor's sample size, the padding zeros of
    its row and the bin 0.0 falls into in its range (where the padding was counted), the
    number of saturation counts, and the bins per histogram.
    """
    rows_info, sizes, pads, zero_bins, n_sats, bins = info
    t = len(sizes)
    head = raw[: 3 * t + n_sats].tolist()  # Python floats, in one conversion
    hists = raw[3 * t + n_sats :].reshape(t, bins).copy()
    hists[np.arange(t), zero_bins] -= pads
    hists = (hists / np.asarray(sizes, dtype=np.float64)[:, None]).astype(np.float32)
    rows = []
    for layer, k, sat in rows_info:
        n = sizes[k]
        mean = head[k] / n
        var = max(head[t + k] / n - mean * mean, 0.0)
        rows += [(layer, "mean", mean), (layer, "std", math.sqrt(var))]
        rows.append((layer, "zeros", (head[2 * t + k] - pads[k]) / n))
        if sat >= 0:
            rows.append((layer, "saturated", head[3 * t + sat] / n))
        rows.append((layer, "hist", hists[k].copy()))
    return rows


def decode_gradients(raw: np.ndarray, info: list[tuple[tuple[str, ...], str]]) -> list:
    """Gradient norms of one backward: entry ``i`` of ``info`` names the layers that share
    value ``i`` and the statistic it is. Activation gradients come as sums of squares,
    parameter gradients as one norm per parameter (the staging step merges a layer's
    parameters into one norm)."""
    rows = []
    for v, (layers, stat) in zip(raw.tolist(), info):
        value = math.sqrt(max(v, 0.0)) if stat == "act_grad_norm" else v
        rows += [(layer, stat, value) for layer in layers]
    return rows


def decode_weights(raw: np.ndarray, info: tuple[list, int, int]) -> list:
    """Weight statistics of several layers.

    ``raw`` holds the 2-norm of every parameter, then each layer's count of near-zero
    weights, then one histogram of ``bins`` counts per layer. ``info[0]`` has one entry per
    layer, ``(layer, params, n, n_sample)``.
    """
    layers, n_params, bins = info
    rows, p = [], 0
    for k, (layer, params, n, n_sample) in enumerate(layers):
        norm = math.sqrt(sum(float(v) ** 2 for v in raw[p : p + params]))
        p += params
        near = float(raw[n_params + k]) / max(n, 1)
        start = n_params + len(layers) + k * bins
        hist = (raw[start : start + bins] / max(n_sample, 1)).astype(np.float32)
        rows += [(layer, "weight_norm", norm), (layer, "near_zero", near)]
        rows.append((layer, "weight_hist", hist))
    return rows


def _var_from(total: float, squares: float, n: int) -> float:
    mean = float(total) / n
    return max(float(squares) / n - mean * mean, 0.0)
