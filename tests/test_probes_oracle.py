"""Every number a watch records equals a direct torch computation on the same batch.

The test captures the tensors itself (its own forward hooks and tensor hooks, which are
autograd's gradients) and recomputes each statistic with plain torch; the watch must agree.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vizlab import models
from vizlab.nn import DropConnectLinear, Dropout, Norm, Residual
from vizlab.probes import trace, watch
from vizlab.probes.stats import HIST_SAMPLE, sample_stride

TOL = dict(rel=1e-4, abs=1e-6)


pytestmark = pytest.mark.usefixtures("one_thread")


class Capture:
    """Outputs, inputs and output gradients of chosen modules, recorded by the test."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        self.out, self.inp, self.grad = {}, {}, {}
        modules = dict(model.named_modules())
        self.handles = [modules[n].register_forward_hook(self._hook(n)) for n in names]

    def _hook(self, name):
        def hook(module, args, out):
            self.inp[name] = args[0].detach().clone()
            self.out[name] = out.detach().clone()
            if out.requires_grad:
                out.register_hook(lambda g: self.grad.__setitem__(name, g.detach().clone()))

        return hook

    def close(self):
        for h in self.handles:
            h.remove()


def one_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, **kw):
    """One watched training step (every=1); returns the watch and the test's capture."""
    names = [n for n, _ in model.named_modules() if n]
    cap = Capture(model, names)
    with watch(model, every=1, **kw) as w:
        model.train()
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
    cap.close()
    return w, cap


def latest(w, layer: str, stat: str):
    steps, values = w.series(layer, stat)
    assert steps.tolist() == [0]
    return values[0]


def test_activation_statistics_match_torch() -> None:
    torch.manual_seed(0)
    model = models.vgg(blocks=2, convs=1, width=4, norm="batch", input_size=8, activation="sigmoid")
    x, y = torch.rand(8, 3, 8, 8), torch.randint(0, 10, (8,))
    w, cap = one_step(model, x, y, what=("activations",), bins=16)
    for layer in w.layers:
        t = cap.out[layer]
        assert latest(w, layer, "mean") == pytest.approx(t.mean().item(), **TOL)
        assert latest(w, layer, "std") == pytest.approx(t.std(correction=0).item(), rel=1e-3)
        assert latest(w, layer, "zeros") == pytest.approx((t == 0).float().mean().item(), **TOL)
        lo, hi = w.hist_range(layer)
        assert t.numel() <= HIST_SAMPLE  # small: the histogram sees every element
        want = torch.histc(t.clamp(lo, hi), 16, lo, hi) / t.numel()
        np.testing.assert_allclose(latest(w, layer, "hist"), want.numpy(), atol=1e-6)
    act = "features.block1.conv1.act"
    s = cap.out[act]
    saturated = ((s < 0.01) | (s > 0.99)).float().mean().item()
    assert w.hist_range(act) == (0.0, 1.0)  # the range of a sigmoid, fixed from the start
    assert latest(w, act, "saturated") == pytest.approx(saturated, **TOL)


def test_relu_zeros_and_fixed_range() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 3))
    x, y = torch.randn(32, 10), torch.randint(0, 3, (32,))
    names = ["1"]
    cap = Capture(model, names)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    outs = []
    with watch(model, every=1, layers="1") as w:
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            outs.append(cap.out["1"])
            opt.step()
    cap.close()
    lo, hi = w.hist_range("1")
    assert lo == 0.0  # non-negative layer: 0 stays the lower edge
    steps, zeros = w.series("1", "zeros")
    _, hists = w.series("1", "hist")
    for i, t in enumerate(outs):
        assert zeros[i] == pytest.approx((t == 0).float().mean().item(), **TOL)
        want = torch.histc(t.clamp(lo, hi), 40, lo, hi) / t.numel()
        np.testing.assert_allclose(hists[i], want.numpy(), atol=1e-6)


def test_large_activation_histogram_uses_an_honest_strided_sample() -> None:
    torch.manual_seed(2)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16384, 2)
    )
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 2, (16,))
    w, cap = one_step(model, x, y, what=("activations",), layers="1")
    t = cap.out["1"]
    assert t.numel() > HIST_SAMPLE
    stride = sample_stride(t.numel(), t.numel() // t.shape[0])
    assert math.gcd(stride, 16 * 32 * 32) == 1  # visits every channel and pixel position
    sample = t.reshape(-1)[::stride]
    lo, hi = w.hist_range("1")
    want = torch.histc(sample.clamp(lo, hi), 40, lo, hi) / sample.numel()
    got = latest(w, "1", "hist")
    np.testing.assert_allclose(got, want.numpy(), atol=1e-6)
    # The sample tells the same story: its distance to the full histogram stays within
    # twice what n independent draws would give, sum over bins of sqrt(2 p (1 - p) / (pi n)).
    full = (torch.histc(t.clamp(lo, hi), 40, lo, hi) / t.numel()).double().numpy()
    expected = np.sqrt(2 * full * (1 - full) / (np.pi * sample.numel())).sum()
    assert np.abs(got - full).sum() < 2 * expected
    # mean, std and zeros are those of the very same sample
    assert latest(w, "1", "mean") == pytest.approx(sample.mean().item(), **TOL)
    assert latest(w, "1", "std") == pytest.approx(sample.std(correction=0).item(), rel=1e-3)
    assert latest(w, "1", "zeros") == pytest.approx((sample == 0).float().mean().item(), **TOL)


def test_sampled_statistics_are_within_their_standard_error_of_the_full_tensor() -> None:
    # A realistic activation: conv -> batch norm -> ReLU on a batch of 32 RGB 32x32 images,
    # 524,288 elements, of which the watch samples about 2,000.
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16384, 2),
    )
    x, y = torch.rand(32, 3, 32, 32), torch.randint(0, 2, (32,))
    w, cap = one_step(model, x, y, what=("activations",), layers=["1", "2"])
    for layer in ("1", "2"):
        t = cap.out[layer].double()
        stride = sample_stride(t.numel(), t.numel() // t.shape[0])
        n = len(range(0, t.numel(), stride))
        assert 1_500 <= n <= HIST_SAMPLE < t.numel()
        sigma, zeros = t.std(correction=0).item(), (t == 0).double().mean().item()
        # 4 standard errors of n independent draws (the docstring of stats.py)
        assert abs(latest(w, layer, "mean") - t.mean().item()) <= 4 * sigma / math.sqrt(n)
        assert latest(w, layer, "std") == pytest.approx(sigma, rel=0.03)
        assert abs(latest(w, layer, "zeros") - zeros) <= 4 * math.sqrt(0.25 / n)
    assert latest(w, "2", "zeros") == pytest.approx(0.5, abs=0.05)  # ReLU after batch norm


def test_gradient_norms_match_autograd() -> None:
    torch.manual_seed(3)
    model = models.vgg(blocks=2, convs=1, width=4, norm="batch", input_size=8)
    x, y = torch.rand(8, 3, 8, 8), torch.randint(0, 10, (8,))
    w, cap = one_step(model, x, y, what=("gradients",))
    modules = dict(model.named_modules())
    for layer in w.layers:
        assert latest(w, layer, "act_grad_norm") == pytest.approx(
            cap.grad[layer].norm().item(), **TOL
        )
        params = list(modules[layer].parameters(recurse=False))
        if params:
            want = math.sqrt(sum(p.grad.norm().item() ** 2 for p in params))
            assert latest(w, layer, "param_grad_norm") == pytest.approx(want, **TOL)


def test_param_grad_norm_whatever_the_loop_does_with_zero_grad() -> None:
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))
    x, y = torch.randn(16, 5), torch.randint(0, 2, (16,))
    seen = []
    with watch(model, every=1, what=("gradients",), layers=nn.Linear) as w:
        for _ in range(3):  # gradients accumulate: the loop never zeroes them
            F.cross_entropy(model(x), y).backward()
            seen.append(
                model[0].weight.grad.norm().item() ** 2 + model[0].bias.grad.norm().item() ** 2
            )
    _, norms = w.series("0", "param_grad_norm")
    np.testing.assert_allclose(norms, np.sqrt(seen), rtol=1e-5)


class _DictLayer(nn.Module):
    """A layer with its own weight whose output is no tensor: it gets no output hook."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(5, 3))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"h": x @ self.weight}


class _DictNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = _DictLayer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)["h"].tanh()


def test_param_grad_norm_of_a_layer_whose_output_is_no_tensor() -> None:
    # Parameter gradients are read when the backward pass ends; with no watched output to
    # hook, the model's own output starts that.
    torch.manual_seed(6)
    model, x = _DictNet(), torch.randn(8, 5)
    seen = []
    with watch(model, every=1, what=("gradients",), layers=["body"]) as w:
        for _ in range(2):
            model.zero_grad(set_to_none=True)
            model(x).square().sum().backward()
            seen.append(model.body.weight.grad.norm().item())
    steps, norms = w.series("body", "param_grad_norm")
    assert steps.tolist() == [0, 1]
    np.testing.assert_allclose(norms, seen, rtol=1e-5)


def test_residual_split_norms_and_variance_ratio() -> None:
    torch.manual_seed(5)
    model = models.resnet(depth=8, width=4, input_size=8)
    x, y = torch.rand(8, 3, 8, 8), torch.randint(0, 10, (8,))
    blocks = [n for n, m in model.named_modules() if isinstance(m, Residual)]
    branches = {b: dict(model.named_modules())[b] for b in blocks}
    taps = {}
    handles = []
    for b, m in branches.items():
        for path in ("branch", "skip"):
            tap = getattr(m, f"hook_{path}")
            handles.append(tap.register_forward_hook(_store(taps, (b, path))))
    w, cap = one_step(model, x, y, what=("activations", "gradients"), layers=blocks)
    for h in handles:
        h.remove()
    for b, m in branches.items():
        total = m.grad_skip + m.grad_branch
        assert latest(w, b, "grad_skip") == pytest.approx(m.grad_skip.norm().item(), **TOL)
        assert latest(w, b, "grad_branch") == pytest.approx(m.grad_branch.norm().item(), **TOL)
        assert latest(w, b, "grad_total") == pytest.approx(total.norm().item(), **TOL)
        var_b = taps[(b, "branch")].var(correction=0).item()
        var_s = taps[(b, "skip")].var(correction=0).item()
        assert latest(w, b, "var_branch") == pytest.approx(var_b, rel=1e-3)
        assert latest(w, b, "var_ratio") == pytest.approx(var_b / var_s, rel=1e-3)
    # ... and the split adds up to autograd's gradient at each block's input (via trace)
    tr = trace(model, x, y, train=True)
    for b in blocks:
        split = tr.residual[b]
        torch.testing.assert_close(split.skip + split.branch, split.input_grad)
        assert split.skip.shape == split.input_grad.shape == cap.inp[b].shape


def _store(box, key):
    def hook(module, args, out):
        box[key] = out.detach().clone()

    return hook


# (label, layer, axes it normalizes over); None marks group norm with 3 groups.
NORMS = [
    ("batch", lambda: Norm.batch(6), (0, 2, 3)),
    ("layer", lambda: Norm.layer(6), (1, 2, 3)),
    ("instance", lambda: Norm.instance(6), (2, 3)),
    ("group", lambda: Norm.group(6, groups=3), None),
    ("batch-and-channels", lambda: Norm(6, "NC", spatial=(4, 4)), (0, 1)),
    ("torch-batch", lambda: nn.BatchNorm2d(6), (0, 2, 3)),
    ("torch-layer", lambda: nn.LayerNorm([6, 4, 4]), (1, 2, 3)),
    ("torch-instance", lambda: nn.InstanceNorm2d(6, affine=True), (2, 3)),
    ("torch-group", lambda: nn.GroupNorm(3, 6), None),
]


@pytest.mark.parametrize(("label", "make", "dims"), NORMS, ids=[n[0] for n in NORMS])
def test_norm_statistics_match_the_input(label, make, dims) -> None:
    """Per channel (or group); averaged over the batch when the statistics are per example,
    and to one value when no channel axis is left (layer norm, axes N and C)."""
    torch.manual_seed(6)
    norm = make()
    model = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), norm, nn.Flatten(), nn.Linear(96, 3))
    with torch.no_grad():
        if getattr(norm, "weight", None) is not None:
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    x, y = torch.randn(5, 2, 4, 4) * 2 + 1, torch.randint(0, 3, (5,))
    w, cap = one_step(model, x, y, what=("norms",), layers="1")
    inp = cap.inp["1"]
    if dims is None:  # group norm: statistics per (example, group)
        g = inp.reshape(5, 3, -1)
        mean, var = g.mean(2), g.var(2, correction=0)
    else:
        mean, var = inp.mean(dims), inp.var(dims, correction=0)
    if 0 not in (dims or ()):  # statistics per example: the record averages over the batch
        mean, var = mean.mean(0), var.mean(0)
    if dims is not None and 1 in dims:  # no channel axis left: one value
        mean, var = mean.mean(), var.mean()
    mean, var = mean.reshape(-1), var.reshape(-1)
    np.testing.assert_allclose(latest(w, "1", "batch_mean"), mean.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(latest(w, "1", "batch_var"), var.numpy(), rtol=1e-3, atol=1e-5)
    stats = w.stats()["1"]
    if getattr(norm, "running_mean", None) is not None:
        running_mean, running_var = norm.running_mean, norm.running_var
        if running_mean.shape != (6,):  # kept per position (axes N and C): one value
            running_mean, running_var = (
                running_mean.mean().reshape(1),
                running_var.mean().reshape(1),
            )
        np.testing.assert_allclose(latest(w, "1", "running_mean"), running_mean.numpy(), rtol=1e-6)
        np.testing.assert_allclose(latest(w, "1", "running_var"), running_var.numpy(), rtol=1e-6)
    else:
        assert "running_mean" not in stats
    alpha = norm.weight.detach()
    alpha = alpha.reshape(alpha.shape[0], -1).mean(1) if alpha.dim() > 1 else alpha
    np.testing.assert_allclose(latest(w, "1", "alpha"), alpha.numpy(), rtol=1e-6)
    beta = norm.bias.detach()
    beta = beta.reshape(beta.shape[0], -1).mean(1) if beta.dim() > 1 else beta
    np.testing.assert_allclose(latest(w, "1", "beta"), beta.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["element", "channel", "cutout"])
def test_dropout_mask_is_the_real_mask(kind: str) -> None:
    torch.manual_seed(7)
    drop = Dropout(0.3, kind=kind)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), drop, nn.Flatten(), nn.Linear(4 * 36, 3))
    x, y = torch.randn(10, 2, 6, 6), torch.randint(0, 3, (10,))
    w, cap = one_step(model, x, y, what=("dropout",), mask_sample=(8, 20))
    out, inp = cap.out["1"], cap.inp["1"]
    assert (inp != 0).all()
    mask = drop.last_mask
    assert latest(w, "1", "kept") == pytest.approx(mask.float().mean().item(), **TOL)
    kept = out != 0  # (N, C, H, W): the zeros of the output are exactly the dropped units
    compact = {
        "element": kept.reshape(10, -1),
        "channel": kept[:, :, 0, 0],
        "cutout": kept[:, 0].reshape(10, -1),
    }[kind]
    np.testing.assert_array_equal(latest(w, "1", "mask"), compact[:8, :20].numpy())


def test_dropconnect_mask_sample() -> None:
    torch.manual_seed(8)
    layer = DropConnectLinear(12, 6, p=0.4)
    model = nn.Sequential(layer, nn.ReLU(), nn.Linear(6, 2))
    x, y = torch.randn(4, 12), torch.randint(0, 2, (4,))
    w, _ = one_step(model, x, y, what=("dropout",), mask_sample=(3, 5))
    mask = layer.last_mask
    assert latest(w, "0", "kept") == pytest.approx(mask.float().mean().item(), **TOL)
    np.testing.assert_array_equal(latest(w, "0", "mask"), mask[:3, :5].numpy())


def test_weight_statistics() -> None:
    torch.manual_seed(9)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 36, 4))
    with torch.no_grad():
        model[0].weight[:4] = 0.0  # some exact zeros
        model[0].weight[4:, :, 0] *= 1e-4  # and some tiny weights
    x, y = torch.randn(4, 3, 8, 8), torch.randint(0, 4, (4,))
    params = {
        n: torch.cat([p.detach().reshape(-1) for p in model[int(n)].parameters()])
        for n in ("0", "3")
    }
    w, _ = one_step(model, x, y, what=("weights",), near_zero=1e-3, bins=20)
    for name, flat in params.items():
        assert latest(w, name, "weight_norm") == pytest.approx(flat.norm().item(), **TOL)
        frac = (flat.abs() < 1e-3).float().mean().item()
        assert latest(w, name, "near_zero") == pytest.approx(frac, **TOL)
        lo, hi = w.hist_range(name, "weight_hist")
        assert hi == pytest.approx(1.25 * flat.abs().max().item()) and lo == -hi
        want = torch.histc(flat.clamp(lo, hi), 20, lo, hi) / flat.numel()
        np.testing.assert_allclose(latest(w, name, "weight_hist"), want.numpy(), atol=1e-6)
    assert latest(w, "0", "near_zero") > 0.5


def test_memory_stays_bounded_with_visible_thinning() -> None:
    torch.manual_seed(10)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with watch(model, every=1, max_points=64, bins=8) as w:
        for _ in range(3000):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    assert w.step == 3000
    for layer, stats in w.stats().items():
        for stat in stats:
            steps, values = w.series(layer, stat)
            assert len(steps) >= 1 and len(steps) <= 64 and len(values) == len(steps)
            assert np.all(np.diff(steps) > 0)
    steps, _ = w.series("0", "mean")
    assert steps[0] == 0 and steps[-1] == 2999  # the first and the newest point are kept
    meta = [r for r in w.records() if r.kind == "meta"]
    assert meta and all(r.layer == "" and r.stat == "thinned" for r in meta)
    assert [r.value for r in meta] == [float(t.factor) for t in w.thinning]
    assert w.thinning[-1].factor >= 32


@pytest.mark.parametrize("make", [lambda: nn.BatchNorm2d(3), lambda: Norm(3)])
def test_norm_parameters_follow_swapped_buffers_and_parameters(make) -> None:
    # The watch keeps a layer's running averages, alpha and beta from step to step while
    # they are the same tensors; swapping one in for another must show at once.
    torch.manual_seed(7)
    bn = make()
    model = nn.Sequential(nn.Conv2d(2, 3, 3), bn)
    x = torch.randn(4, 2, 6, 6)
    want = {"running_mean": [], "running_var": [], "alpha": []}
    with watch(model, every=1, what=("norms",)) as w:
        for step in range(3):
            if step == 1:
                bn.running_mean = torch.full((3,), 5.0)  # a new buffer
                bn.weight = nn.Parameter(torch.full((3,), 2.0))  # a new parameter
            if step == 2:
                bn.running_var.mul_(3.0)  # changed in place
            model(x)
            want["running_mean"].append(bn.running_mean.clone())
            want["running_var"].append(bn.running_var.clone())
            want["alpha"].append(bn.weight.detach().clone())
    for stat, values in want.items():
        steps, got = w.series("1", stat)
        assert steps.tolist() == [0, 1, 2]
        np.testing.assert_allclose(got, torch.stack(values).numpy(), rtol=1e-6, err_msg=stat)


def test_gradient_norms_in_a_backward_that_builds_a_graph() -> None:
    # With create_graph=True the gradients the hooks see require grad themselves: the
    # watch must measure them without adding to the graph the second backward walks.
    torch.manual_seed(9)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    x, y = torch.randn(6, 3), torch.randint(0, 2, (6,))
    names = [n for n, _ in model.named_children()]
    cap = Capture(model, names)
    with watch(model, every=1, what=("gradients",)) as w:
        loss = F.cross_entropy(model(x), y)
        (g,) = torch.autograd.grad(loss, model[0].weight, create_graph=True)
        want = {n: cap.grad[n].norm().item() for n in names}
        g.square().sum().backward()  # a gradient penalty: the second backward works
    cap.close()
    assert model[0].weight.grad is not None
    for n in names:  # (the second backward passes the hooks again: its values come after)
        steps, got = w.series(n, "act_grad_norm")
        assert steps[0] == 0 and got[0] == pytest.approx(want[n], rel=1e-5)
