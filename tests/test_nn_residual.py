"""Residual blocks: projection rule and the skip/branch gradient split (the H rows)."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from vizlab.nn import Norm, Residual

DT = torch.float64


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _branch(c_in: int, c_out: int, stride: int = 1) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
        Norm.batch(c_out),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1),
    )


def _block(c_in: int, c_out: int, stride: int = 1, **kw) -> Residual:
    return Residual(
        _branch(c_in, c_out, stride), in_channels=c_in, out_channels=c_out, stride=stride, **kw
    ).to(DT)


def _x(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=DT, requires_grad=True)


def test_projection_exactly_when_channels_or_stride_change() -> None:
    assert not Residual(nn.Identity()).projection
    assert not _block(4, 4).projection
    assert _block(4, 8).projection
    assert _block(4, 4, stride=2).projection
    assert _block(4, 8, stride=2).projection
    explicit = Residual(nn.Identity(), nn.Conv2d(4, 4, 1))
    assert explicit.projection and isinstance(explicit.shortcut, nn.Conv2d)


def test_projection_is_a_strided_1x1_conv_with_optional_norm() -> None:
    with_norm = _block(4, 8, stride=2, norm="batch")
    conv = with_norm.shortcut.conv
    assert conv.kernel_size == (1, 1) and conv.stride == (2, 2) and conv.bias is None
    assert isinstance(with_norm.shortcut.norm, Norm) and with_norm.shortcut.norm.channels == 8
    plain = _block(4, 8, stride=2)
    assert plain.shortcut.conv.bias is not None and len(plain.shortcut) == 1
    x = _x(2, 4, 8, 8)
    assert with_norm(x).shape == plain(x).shape == (2, 8, 4, 4)


def test_projection_norm_gets_the_output_size() -> None:
    block = Residual(
        _branch(4, 8, stride=2),
        in_channels=4,
        out_channels=8,
        stride=2,
        norm=functools.partial(Norm.layer, affine="element"),  # parameters per position
        spatial=(7, 7),
    )
    assert block.shortcut.norm.weight.shape == (8, 4, 4)
    assert block(torch.randn(2, 4, 7, 7)).shape == (2, 8, 4, 4)


def test_output_is_branch_plus_shortcut_and_taps_see_each_part() -> None:
    block = _block(4, 8, stride=2, norm="batch").eval()
    seen = {}
    for name in ("hook_branch", "hook_skip", "hook_out"):
        getattr(block, name).register_forward_hook(
            lambda mod, inp, out, name=name: seen.__setitem__(name, out)
        )
    x = _x(2, 4, 8, 8)
    y = block(x)
    with torch.no_grad():
        torch.testing.assert_close(seen["hook_branch"], block.branch(x))
        torch.testing.assert_close(seen["hook_skip"], block.shortcut(x))
    torch.testing.assert_close(seen["hook_out"], y)
    torch.testing.assert_close(y, seen["hook_branch"] + seen["hook_skip"])


@pytest.mark.parametrize(("c_in", "c_out", "stride"), [(4, 4, 1), (4, 8, 1), (4, 8, 2)])
def test_gradient_split_adds_up_to_autograd(c_in: int, c_out: int, stride: int) -> None:
    block = _block(c_in, c_out, stride, norm="batch")
    x = _x(3, c_in, 8, 8)
    y = block(x)
    v = torch.randn_like(y)
    (g_x,) = torch.autograd.grad((y * v).sum(), x)
    assert block.grad_skip.shape == block.grad_branch.shape == x.shape
    torch.testing.assert_close(block.grad_skip + block.grad_branch, g_x)
    # Each part is the VJP through its own path alone.
    x2 = x.detach().requires_grad_(True)
    (g_branch,) = torch.autograd.grad((block.branch(x2) * v).sum(), x2)
    torch.testing.assert_close(block.grad_branch, g_branch)
    if not block.projection:
        torch.testing.assert_close(block.grad_skip, v)  # the skip hands v down unchanged


def test_split_through_stacked_blocks_with_backward() -> None:
    blocks = [_block(3, 4), _block(4, 4), _block(4, 8, stride=2, norm="batch"), _block(8, 8)]
    x = _x(2, 3, 8, 8)
    inputs, h = [], x
    for block in blocks:
        inputs.append(h)
        h = block(h)
    loss = (h**2).mean()
    grads = torch.autograd.grad(loss, inputs, retain_graph=True)
    for block, g in zip(blocks, grads):
        torch.testing.assert_close(block.grad_skip + block.grad_branch, g)
    # loss.backward() fills the same split.
    for block in blocks:
        block.grad_skip = block.grad_branch = None
    loss.backward()
    for block, g in zip(blocks, grads):
        torch.testing.assert_close(block.grad_skip + block.grad_branch, g)


def test_no_split_without_gradients() -> None:
    block = _block(4, 4)
    block(torch.randn(2, 4, 6, 6, dtype=DT))  # input does not require grad
    assert block.grad_skip is None and block.grad_branch is None
    with torch.no_grad():
        block(_x(2, 4, 6, 6))
    assert block.grad_skip is None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="pass in_channels"):
        Residual(nn.Identity(), stride=2)
    with pytest.raises(ValueError, match="stride must be a positive int"):
        Residual(nn.Identity(), stride=0)
    with pytest.raises(TypeError, match="branch must be an nn.Module"):
        Residual(lambda x: x)
    with pytest.raises(ValueError, match="unknown norm"):
        Residual(nn.Identity(), in_channels=2, out_channels=4, norm="batchnorm")
