"""``trace`` keeps whole tensors of one batch and leaves the model exactly as it found it."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vizlab import models
from vizlab.nn import Dropout, Norm, Residual
from vizlab.probes import receptive_field, trace, watch

pytestmark = pytest.mark.usefixtures("one_thread")


def vgg() -> nn.Module:
    torch.manual_seed(0)
    return models.vgg(blocks=2, convs=1, width=4, norm="batch", dropout=0.3, input_size=8)


def batch(n: int = 6):
    gen = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def test_trace_captures_everything_with_the_right_shapes() -> None:
    model = vgg()
    x, y = batch()
    t = trace(model, x, y, train=True)
    modules = dict(model.named_modules())
    assert t.output.shape == (6, 10) and t.loss > 0
    for layer in t.layers:
        act = t.activations[layer]
        assert t.grads[layer].shape == act.shape
        assert act.device.type == "cpu" and not act.requires_grad
    assert t.activations["features.block1.conv1.conv"].shape == (6, 4, 8, 8)
    assert set(t.feature_maps) == {k for k, v in t.activations.items() if v.dim() == 4}
    # the loss gradient reaches every parameter of the traced layers and the input
    for name, p in model.named_parameters():
        assert t.param_grads[name].shape == p.shape
    assert t.input_grad.shape == x.shape
    # masks are the dropout layers' own masks
    drops = [n for n, m in modules.items() if isinstance(m, Dropout)]
    assert set(t.masks) == set(drops)
    for name in drops:
        mask = t.masks[name]
        assert mask.dtype == torch.bool and mask.shape == t.activations[name].shape
        before = t.activations[name.replace(".drop", ".act")]  # the ReLU feeding the dropout
        assert torch.equal(t.activations[name] != 0, mask & (before != 0))
    # norm statistics, in batch-norm shape
    norms = [n for n, m in modules.items() if isinstance(m, Norm)]
    assert set(t.norm_stats) == set(norms)
    for name in norms:
        s = t.norm_stats[name]
        channels = modules[name].channels
        assert s.batch_mean.shape == s.running_mean.shape == s.alpha.shape == (channels,)
        torch.testing.assert_close(s.mean, s.batch_mean)  # training mode uses the batch
        assert not s.uses_running
    assert t.filters_layer == "features.block1.conv1.conv"
    assert t.filters.shape == (4, 3, 3, 3)


def test_trace_in_eval_mode_uses_running_statistics() -> None:
    model = vgg()
    x, _ = batch()
    t = trace(model, x)
    assert t.loss is None and t.grads == {} and t.input_grad is None
    assert t.masks == {}  # dropout is the identity in eval mode
    s = t.norm_stats["features.block1.conv1.norm"]
    assert s.uses_running
    torch.testing.assert_close(s.mean, s.running_mean)
    inp = t.activations["features.block1.conv1.conv"]
    torch.testing.assert_close(s.batch_mean, inp.mean((0, 2, 3)))
    torch.testing.assert_close(s.batch_var, inp.var((0, 2, 3), correction=0))


def test_trace_residual_split_adds_up_to_autograd() -> None:
    torch.manual_seed(2)
    model = models.resnet(depth=8, width=4, input_size=8)
    x, y = batch()
    t = trace(model, x, y, train=True)
    blocks = [n for n, m in model.named_modules() if isinstance(m, Residual)]
    assert set(t.residual) == set(blocks)
    for name in blocks:
        split = t.residual[name]
        torch.testing.assert_close(split.total, split.input_grad)
        torch.testing.assert_close(split.skip + split.branch, split.input_grad)
        assert split.var_branch > 0 and split.var_skip > 0


def test_trace_leaves_no_trace_on_the_model() -> None:
    model = vgg()
    model.train()
    model.features.block2.eval()  # a mix of modes must come back exactly
    modes = {n: m.training for n, m in model.named_modules()}
    before = copy.deepcopy(model.state_dict())
    x, y = batch()
    trace(model, x, y, train=True)  # training mode would nudge the running statistics
    assert {n: m.training for n, m in model.named_modules()} == modes
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in model.parameters())
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


def test_trace_while_watching_is_not_a_training_step() -> None:
    model = vgg()
    x, y = batch()
    with watch(model, every=1) as w:
        model.train()
        F.cross_entropy(model(x), y).backward()
        trace(model, x, y, train=True)
        assert w.step == 1
    assert {r.step for r in w.records()} == {0}


def test_trace_layer_selection_and_foreign_models() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(256, 3)
    )
    x, y = batch()
    t = trace(model, x, y % 3, layers=[nn.Conv2d, "1"])
    assert t.layers == ["0", "1"]
    assert set(t.activations) == {"0", "1"} and set(t.norm_stats) == {"1"}
    s = t.norm_stats["1"]
    assert s.uses_running and s.batch_mean.shape == (4,)
    torch.testing.assert_close(s.batch_mean, t.activations["0"].mean((0, 2, 3)))


def _window(size: int, center: int, radius: int) -> torch.Tensor:
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[center - radius : center + radius + 1, center - radius : center + radius + 1] = True
    return mask


def test_receptive_field_of_stacked_convs_is_the_analytic_window() -> None:
    torch.manual_seed(4)
    # tanh keeps every derivative nonzero, so the measured field fills its whole window
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(3, 3, 3, padding=1),
        nn.Tanh(),
        nn.Conv2d(3, 2, 3, padding=1),
    )
    x = torch.randn(2, 1, 13, 13)
    t = trace(model, x, layers=nn.Conv2d)
    for layer, radius in (("0", 1), ("2", 2), ("4", 3)):  # 3x3, 5x5, 7x7
        rf = t.receptive_field[layer]
        assert rf.shape == (13, 13)
        assert torch.equal(rf != 0, _window(13, 6, radius)), layer


def test_receptive_field_grows_with_pooling() -> None:
    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(2, 2, 3, padding=1)
    )
    x = torch.randn(1, 1, 16, 16)
    rf = receptive_field(model, x, layers="3")["3"]
    rows = (rf != 0).any(1).nonzero().flatten()
    # conv3 -> pool2 -> conv3: 3 + (3 - 1) * 2 = 8 input pixels along each side
    assert len(rows) == 8


def test_trace_keeps_the_residual_split_of_the_last_training_step() -> None:
    torch.manual_seed(6)
    model = models.resnet(depth=8, width=4, input_size=8)
    x, y = batch()
    F.cross_entropy(model(x), y).backward()
    blocks = [m for m in model.modules() if isinstance(m, Residual)]
    before = [(b.grad_skip, b.grad_branch) for b in blocks]
    trace(model, torch.rand(6, 3, 8, 8), y, train=True)
    assert all(b.grad_skip is s and b.grad_branch is g for b, (s, g) in zip(blocks, before))
