"""The batched paths of a watch give what one layer at a time would give.

A watch measures the weights of all layers in one pass, the parameter gradients of all
layers when the backward pass ends, the activation statistics of all layers from one padded
matrix of their samples when the forward ends, and counts histogram bins with ``bincount``
instead of ``histc``; each must agree with plain torch on the same tensors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vizlab.probes import watch
from vizlab.probes.stats import HIST_SAMPLE, bin_index, count_bins, float32_range, sample_stride

TOL = dict(rel=1e-4, abs=1e-6)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_bins_match_histc_including_edges_and_outliers() -> None:
    torch.manual_seed(0)
    x = torch.cat([torch.randn(300_000) * 3, torch.tensor([-1.5, 2.5, -100.0, 100.0])])
    lo, hi, bins = -1.5, 2.5, 17
    counts = count_bins(bin_index(x, *float32_range(lo, hi), bins), bins)
    assert x.numel() > 1 << 18  # counted in pieces
    want = torch.histc(x.clamp(lo, hi), bins, lo, hi)
    assert torch.equal(counts.float(), want)


def test_rows_binned_in_their_own_ranges_match_histc() -> None:
    # The batched form: a range per row, given as (T, 1) float32 columns (on a CPU the
    # product and the quotient are one addcdiv, which must round as histc does).
    torch.manual_seed(4)
    ranges, bins = [(-1.5, 2.5), (0.0, 3.0), (-0.37, 0.91), (-7.0, -2.0)], 23
    x = torch.randn(len(ranges), 50_000) * torch.tensor([[2.0], [1.5], [0.5], [3.0]])
    x[:, :2] = torch.tensor([[lo - 1, hi + 1] for lo, hi in ranges])  # outliers
    for row, (lo, hi) in enumerate(ranges):
        # every bin edge and its float32 neighbours, where the order of rounding decides
        # the bin (multiplying by bins / width instead would miss some of them)
        k = np.arange(bins + 1, dtype=np.float32)
        edges = np.float32(lo) + k * np.float32((hi - lo) / bins)
        near = [edges, np.nextafter(edges, np.float32(np.inf)), np.nextafter(edges, -np.inf)]
        x[row, 2 : 2 + 3 * (bins + 1)] = torch.from_numpy(np.concatenate(near))
    lo32, width32 = zip(*(float32_range(lo, hi) for lo, hi in ranges))
    lo_col, width_col = torch.tensor([lo32]).t(), torch.tensor([width32]).t()
    index = bin_index(x, lo_col, width_col, bins)
    for row, (lo, hi) in enumerate(ranges):
        want = torch.histc(x[row].clamp(lo, hi), bins, lo, hi)
        assert torch.equal(count_bins(index[row], bins).float(), want), row


def test_weights_of_a_large_layer_use_its_strided_sample() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
    model(torch.randn(1, 64, 5, 5))  # materialize the lazy layer
    x, y = torch.randn(4, 64, 5, 5), torch.randint(0, 3, (4,))
    flats = {
        n: torch.cat([p.detach().reshape(-1) for p in model[int(n)].parameters()]) for n in "03"
    }
    with watch(model, every=1, what=("weights",), bins=24) as w:
        F.cross_entropy(model(x), y).backward()
    for name, flat in flats.items():
        period = model[int(name)].weight[0].numel()
        n = flat.numel()
        stride = 1 if n <= HIST_SAMPLE else sample_stride(n, period)
        sample = flat[::stride]
        lo, hi = w.hist_range(name, "weight_hist")
        want = torch.histc(sample.clamp(lo, hi), 24, lo, hi) / sample.numel()
        np.testing.assert_allclose(w.latest()[name]["weight_hist"], want.numpy(), atol=1e-6)
        assert w.latest()[name]["weight_norm"] == pytest.approx(flat.norm().item(), **TOL)
        frac = (flat.abs() < 1e-3).float().mean().item()
        assert w.latest()[name]["near_zero"] == pytest.approx(frac, **TOL)
    assert flats["0"].numel() > HIST_SAMPLE  # the first layer really is sampled


def test_gradients_when_the_loop_clears_them_before_each_forward() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
    seen = []
    with watch(model, every=1, what=("gradients",)) as w:
        for _ in range(4):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            seen.append(
                [
                    math.sqrt(sum(p.grad.norm().item() ** 2 for p in m.parameters()))
                    for m in (model[0], model[2])
                ]
            )
            opt.step()
    for k, layer in enumerate(("0", "2")):
        steps, norms = w.series(layer, "param_grad_norm")
        assert steps.tolist() == [0, 1, 2, 3]
        np.testing.assert_allclose(norms, [s[k] for s in seen], rtol=1e-5)


def test_a_failed_backward_leaves_nothing_half_recorded() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(8, 4)

    def boom(grad):
        raise RuntimeError("stop inside backward")

    with watch(model, every=1, what=("gradients",)) as w:
        out = model(x)
        out.register_hook(boom)
        with pytest.raises(RuntimeError, match="inside backward"):
            out.sum().backward()
        model(x).sum().backward()  # the next step records normally
    steps, _ = w.series("0", "param_grad_norm")
    assert steps.tolist() == [1]


def test_activation_samples_of_changing_sizes_in_one_padded_matrix() -> None:
    # Layers of very different sizes share the padded matrix, and the batch size changes
    # from step to step (a short last batch), so rows shrink and grow again: the padding
    # must never leak into the zeros or the histogram of any layer.
    torch.manual_seed(4)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16 * 16, 5)
    )
    outs: dict[str, list[torch.Tensor]] = {"0": [], "1": [], "3": []}
    hooks = [
        model[int(n)].register_forward_hook(lambda m, a, o, n=n: outs[n].append(o.detach().clone()))
        for n in outs
    ]
    with watch(model, every=1, what=("activations",), layers=list(outs), bins=12) as w:
        for batch in (64, 3, 40, 64):
            x, y = torch.randn(batch, 3, 16, 16), torch.randint(0, 5, (batch,))
            model.zero_grad()
            F.cross_entropy(model(x), y).backward()
    for h in hooks:
        h.remove()
    assert outs["1"][0].numel() > HIST_SAMPLE  # sampled; the last layer is whole
    for layer, tensors in outs.items():
        lo, hi = w.hist_range(layer)
        for stat in ("mean", "std", "zeros", "hist"):
            steps, values = w.series(layer, stat)
            assert steps.tolist() == [0, 1, 2, 3]
        for i, t in enumerate(tensors):
            stride = sample_stride(t.numel(), t.numel() // t.shape[0])
            sample = t.reshape(-1)[::stride]
            assert w.series(layer, "mean")[1][i] == pytest.approx(sample.mean().item(), **TOL)
            assert w.series(layer, "std")[1][i] == pytest.approx(
                sample.std(correction=0).item(), rel=1e-3, abs=1e-6
            )
            zeros = (sample == 0).float().mean().item()
            assert w.series(layer, "zeros")[1][i] == pytest.approx(zeros, **TOL)
            want = torch.histc(sample.clamp(lo, hi), 12, lo, hi) / sample.numel()
            np.testing.assert_allclose(w.series(layer, "hist")[1][i], want.numpy(), atol=1e-6)
