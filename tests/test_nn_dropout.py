"""Dropout variants, DropConnect and early/late schedules (the F rows of the curriculum)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vizlab.nn import DropConnectLinear, Dropout, Schedule, set_progress


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _positive(*shape: int) -> torch.Tensor:
    """An input without zeros, so the zeros of the output are exactly the dropped values."""
    return torch.rand(*shape) + 0.5


@pytest.mark.parametrize(
    ("kind", "shape"),
    [
        ("element", (64, 50)),
        ("element", (8, 3, 6, 6)),
        ("channel", (8, 16, 6, 6)),
        ("cutout", (8, 3, 10, 10)),
    ],
)
def test_mask_equals_the_zeros_of_the_output(kind: str, shape: tuple[int, ...]) -> None:
    p = 0.3
    d = Dropout(p, kind=kind)
    x = _positive(*shape)
    y = d(x)
    mask = d.last_mask
    assert mask.dtype == torch.bool and mask.shape == x.shape
    assert torch.equal(mask, y != 0)
    if kind != "cutout":  # cutout rescales by the area actually cut; checked below
        torch.testing.assert_close(y[mask], x[mask] / (1 - p))


def test_kept_fraction_and_expected_output() -> None:
    p = 0.4
    d = Dropout(p)
    x = torch.full((1000, 1000), 2.0)
    y = d(x)
    kept = d.last_mask.float().mean().item()
    assert abs(kept - (1 - p)) < 0.005  # 10^6 draws: std of the fraction ~ 5e-4
    assert abs(y.mean().item() - 2.0) < 0.01  # inverted dropout keeps E[output] = input


def test_channel_kept_fraction_and_expectation() -> None:
    p = 0.25
    d = Dropout(p, kind="channel")
    x = torch.ones(500, 200, 2, 2)
    y = d(x)
    assert abs(d.last_mask.float().mean().item() - (1 - p)) < 0.01
    assert abs(y.mean().item() - 1.0) < 0.02


def test_eval_is_identity() -> None:
    for kind in ("element", "channel", "cutout"):
        d = Dropout(0.5, kind=kind).eval()
        x = torch.randn(4, 3, 8, 8)
        assert d(x) is x
        assert d.last_mask is None


def test_channel_masks_are_constant_over_space() -> None:
    d = Dropout(0.5, kind="channel")
    d(_positive(16, 32, 7, 5))
    mask = d.last_mask
    assert torch.equal(mask, mask[:, :, :1, :1].expand_as(mask))
    assert 0 < mask[:, :, 0, 0].float().mean() < 1


def test_cutout_is_one_square_patch_per_example() -> None:
    p, n, c, h, w = 0.25, 32, 3, 12, 12
    d = Dropout(p, kind="cutout")
    x = torch.ones(n, c, h, w)
    y = d(x)
    cut = ~d.last_mask
    assert torch.equal(cut, cut[:, :1].expand_as(cut))  # same patch in every channel
    side = round((p * h * w) ** 0.5)
    for i in range(n):
        rows = cut[i, 0].any(1).nonzero().flatten()
        cols = cut[i, 0].any(0).nonzero().flatten()
        assert len(rows) == len(cols) == side
        assert cut[i, 0, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].all()
        assert int(cut[i, 0].sum()) == side * side
    # Each example's total activation is kept: the scale is 1 / (1 - area cut).
    torch.testing.assert_close(y.mean((1, 2, 3)), torch.ones(n))


def test_cutout_never_cuts_everything_and_needs_images() -> None:
    d = Dropout(0.99, kind="cutout")
    y = d(torch.ones(4, 1, 3, 3))
    assert torch.isfinite(y).all() and (d.last_mask.sum((1, 2, 3)) > 0).all()
    with pytest.raises(ValueError, match="cutout dropout needs a 4-D"):
        d(torch.ones(4, 9))


def test_hook_mask_sees_the_float_mask() -> None:
    seen = []
    d = Dropout(0.5, kind="channel")
    d.hook_mask.register_forward_hook(lambda mod, inp, out: seen.append(out))
    x = _positive(4, 6, 3, 3)
    d(x)
    assert len(seen) == 1
    (mask,) = seen
    assert mask.dtype == x.dtype and mask.shape == (4, 6, 1, 1)
    assert torch.equal(mask.expand_as(x).bool(), d.last_mask)
    d.eval()(x)
    assert len(seen) == 1  # no mask in eval


def test_gradient_is_the_scaled_mask() -> None:
    p = 0.5
    d = Dropout(p)
    x = torch.randn(20, 30, requires_grad=True)
    (g,) = torch.autograd.grad(d(x).sum(), x)
    torch.testing.assert_close(g, d.last_mask.float() / (1 - p))


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, "0.5", True])
def test_bad_rates(p) -> None:
    with pytest.raises(ValueError, match=r"drop probability in \[0, 1\)"):
        Dropout(p)
    with pytest.raises(ValueError, match=r"drop probability in \[0, 1\)"):
        DropConnectLinear(3, 4, p)


def test_bad_kind_and_schedule() -> None:
    with pytest.raises(ValueError, match="dropout kind must be one of"):
        Dropout(0.5, kind="spatial")
    with pytest.raises(ValueError, match="schedule must be None, one of"):
        Dropout(0.5, schedule="middle")
    with pytest.raises(ValueError, match="Schedule kind must be one of"):
        Schedule("sometimes")
    with pytest.raises(ValueError, match=r"switch is a fraction of training in \[0, 1\]"):
        Schedule("early", 2.0)


# ---- DropConnect --------------------------------------------------------------------------


def test_dropconnect_masks_weights() -> None:
    p = 0.3
    layer = DropConnectLinear(20, 7, p)
    x = torch.randn(5, 20)
    y = layer(x)
    mask = layer.last_mask
    assert mask.shape == layer.weight.shape and mask.dtype == torch.bool
    expected = F.linear(x, layer.weight * mask / (1 - p), layer.bias)
    torch.testing.assert_close(y, expected)
    layer.eval()
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))
    assert layer.last_mask is None


def test_dropconnect_kept_fraction_and_no_bias() -> None:
    layer = DropConnectLinear(400, 500, 0.2, bias=False)
    assert layer.bias is None
    layer(torch.randn(2, 400))
    assert abs(layer.last_mask.float().mean().item() - 0.8) < 0.01


# ---- schedules ----------------------------------------------------------------------------


def test_early_and_late_schedules_follow_progress() -> None:
    model = nn.Sequential(
        Dropout(0.4, schedule="early"),
        Dropout(0.4, schedule=Schedule.late(start=0.5)),
        Dropout(0.4),
        DropConnectLinear(3, 3, 0.2, schedule=Schedule("early", 0.1)),
    )
    early, late, const, dc = model
    expected = {
        0.0: (0.4, 0.0, 0.2),
        0.3: (0.0, 0.0, 0.0),
        0.5: (0.0, 0.4, 0.0),
        1.0: (0.0, 0.4, 0.0),
    }
    for progress, (e, lt, c) in expected.items():
        assert set_progress(model, progress) == 4
        assert (early.rate, late.rate, dc.rate) == (e, lt, c)
        assert const.rate == 0.4


def test_zero_rate_in_training_passes_the_input() -> None:
    d = Dropout(0.5, schedule="late")  # off until a quarter of training
    x = _positive(10, 10)
    torch.testing.assert_close(d(x), x)
    assert d.last_mask.all()
    set_progress(d, 0.9)
    assert d.rate == 0.5
    y = d(x)
    assert (y == 0).any() and not d.last_mask.all()


def test_callable_schedule() -> None:
    d = Dropout(0.5, schedule=lambda progress: 0.5 * (1 - progress))
    set_progress(d, 0.5)
    assert d.rate == 0.25
    d_bad = Dropout(0.5, schedule=lambda progress: 1.0)
    with pytest.raises(ValueError, match="the schedule's rate must be"):
        d_bad(torch.ones(2, 2))


def test_set_progress_checks_its_argument() -> None:
    with pytest.raises(ValueError, match=r"fraction of training done, in \[0, 1\]"):
        set_progress(Dropout(0.1), 1.5)
    assert set_progress(nn.Linear(2, 2), 0.5) == 0
