"""Probes read channels-last tensors (fit's default layout) without copying them whole, and agree
with NCHW: the strided sample of an activation is taken in logical order in either layout."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

import vizlab
from vizlab import models
from vizlab.probes.stats import flat_view, sum_of_squares


def test_flat_view_of_channels_last_is_a_view_with_the_same_elements():
    x = torch.randn(4, 3, 5, 6).to(memory_format=torch.channels_last)
    flat = flat_view(x)
    assert flat.data_ptr() == x.data_ptr() and flat.numel() == x.numel()
    assert torch.equal(flat.sort().values, x.reshape(-1).sort().values)
    assert sum_of_squares(x).item() == pytest.approx((x * x).sum().item(), rel=1e-5)


def _one_watched_step(model, x, y):
    with vizlab.watch(model, every=1, what=("activations", "gradients")) as w:
        model.train()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        model(x)  # the next training forward collects the residual split of the last step
    return {(r.layer, r.kind, r.stat): r.value for r in w.records() if r.step == 0}


def test_watch_records_the_same_numbers_in_either_layout():
    torch.manual_seed(0)
    model = models.vgg(blocks=2, convs=1, width=8, norm="batch", residual=True)
    twin = copy.deepcopy(model).to(memory_format=torch.channels_last)
    x, y = torch.rand(16, 3, 32, 32), torch.randint(0, 10, (16,))
    nchw = _one_watched_step(model, x, y)
    nhwc = _one_watched_step(twin, x.to(memory_format=torch.channels_last), y)
    assert nchw.keys() == nhwc.keys()
    scalars = [k for k in nchw if k[2] in ("mean", "std", "zeros", "act_grad_norm", "grad_skip")]
    assert any(k[1] == "residual" for k in scalars) and len(scalars) > 10
    for key in scalars:
        # Both layouts sample the same elements (in logical order), but the convolutions and
        # batch norm themselves round differently in NHWC: a near-zero mean of a normalized
        # output may move by a few 1e-6 of the layer's std, which sampling no longer averages
        # away over the whole batch.
        scale = nchw[(key[0], "activations", "std")] if key[2] == "mean" else 0.0
        assert nhwc[key] == pytest.approx(nchw[key], rel=1e-4, abs=max(1e-6, 2e-5 * scale)), key
