"""Model families: shapes, layer tables, options and the errors they raise (no training)."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from vizlab import models
from vizlab.models import FAMILIES, SummaryRow, build, format_summary, summary
from vizlab.nn import Dropout, Norm, Residual
from vizlab.nn.tap import Tap

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32)]


def count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


def forward_shapes(model: nn.Module, x: torch.Tensor) -> dict[str, tuple]:
    """Output shape of every named module in one real forward (the oracle for summary)."""
    shapes, handles = {}, []
    for name, module in model.named_modules():
        if name:

            def hook(_m, _i, out, name=name):
                shapes[name] = tuple(out.shape)

            handles.append(module.register_forward_hook(hook))
    model.eval()
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return shapes


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}x{s[2]}")
@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_forwards_on_supported_sizes(name, shape):
    c, h, _ = shape
    model = build(name, in_channels=c, input_size=h, num_classes=7)
    out = model(torch.rand(2, *shape))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list(FAMILIES))
def test_summary_matches_a_real_forward(name):
    model = build(name)
    model.train()
    rows = summary(model, (3, 32, 32))
    # summary leaves no hook behind and restores the training mode
    assert all(not m._forward_hooks for m in model.modules())
    assert all(m.training for m in model.modules())
    assert all(isinstance(r, SummaryRow) for r in rows)
    assert [r.name for r in rows] == [n for n, _ in model.named_modules() if n]
    assert sum(r.params for r in rows) == sum(p.numel() for p in model.parameters())
    real = forward_shapes(model, torch.rand(2, 3, 32, 32))
    for row in rows:
        if row.name in real:
            assert row.output_shape == (1, *real[row.name][1:]), row.name
        else:  # modules that do not run in eval mode would be listed without a shape
            assert row.output_shape is None
    assert rows[-1].output_shape == (1, 10)


def test_summary_removes_hooks_when_the_forward_fails():
    model = build("vgg", in_channels=3)
    with pytest.raises(RuntimeError):
        summary(model, (5, 32, 32))  # wrong number of channels
    assert all(not m._forward_hooks for m in model.modules())


def test_summary_counts_own_parameters_and_formats_a_table():
    model = models.vgg(blocks=1, convs=1, width=4)
    rows = {r.name: r for r in summary(model, (3, 8, 8))}
    assert rows["features.block1.conv1.conv"].params == 4 * 3 * 9 + 4
    assert rows["features.block1"].params == 0  # a container owns nothing itself
    assert rows["head"].params == 4 * 10 + 10
    text = format_summary(list(rows.values()))
    assert "features.block1.conv1.conv" in text and "hook_post_act" not in text
    assert text.splitlines()[-1].split()[-1] == f"{sum(p.numel() for p in model.parameters()):,}"
    assert "hook_post_act" in format_summary(list(rows.values()), taps=True)


def test_mlp_summary_takes_flat_input_shapes():
    model = models.mlp([64, 32, 10])
    rows = summary(model, (64,))
    assert rows[-1].output_shape == (1, 10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(blocks=4, input_size=8), "vgg with 4 blocks pools an 8x8 input below 1x1: 3 blocks"),
        (dict(blocks=6, input_size=32), "6 blocks pools a 32x32 input .* 5 blocks at most for 32"),
        (dict(blocks=5, input_size=28), "4 blocks at most for 28x28 input"),
        (dict(blocks=3, input_size=(32, 4)), "2 blocks at most for 32x4 input"),
    ],
)
def test_vgg_refuses_to_pool_below_one_pixel(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.vgg(**kwargs)


def test_vgg_deepest_allowed_configs_build_and_reach_one_pixel():
    for side, blocks in ((8, 3), (28, 4), (32, 5)):
        model = models.vgg(blocks=blocks, convs=1, width=2, in_channels=1, input_size=side)
        rows = {r.name: r for r in summary(model, (1, side, side))}
        assert rows[f"features.block{blocks}.hook_out"].output_shape[2:] == (1, 1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: models.densenet(blocks=5, input_size=8), "densenet with 5 blocks .* 4 blocks"),
        (lambda: models.convnext(depths=(1,) * 5, input_size=8), "5 stages .* 4 stages at most"),
        (lambda: models.nin(input_size=4), "nin pools a 4x4 input below 1x1: .* at least 8x8"),
        (lambda: models.googlenet(input_size=2), "googlenet pools a 2x2 .* at least 4x4"),
        (lambda: models.lenet(input_size=3), "lenet pools a 3x3 .* at least 4x4"),
    ],
)
def test_other_families_refuse_to_pool_below_one_pixel(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(blocks=0), "vgg needs blocks >= 1"),
        (dict(convs=0), "vgg needs convs >= 1"),
        (dict(width=0), "vgg needs width >= 1"),
        (dict(blocks=2.5), "vgg needs blocks >= 1"),
        (dict(dropout=1.0), "dropout must be a probability"),
        (dict(input_size=0), "input_size must be positive"),
    ],
)
def test_vgg_validates_its_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.vgg(**kwargs)


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="unknown model family 'vgg16'.*resnet"):
        build("vgg16")
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*'gelu'.*'relu'"):
        models.vgg(activation="swish")
    with pytest.raises(ValueError, match="unknown activation"):
        models.mlp([64, 10], activation="swish")  # no hidden layer: still checked
    with pytest.raises(ValueError, match="unknown norm"):
        models.resnet(norm="batchy")
    with pytest.raises(ValueError, match=r"unknown init 'he'.*kaiming"):
        models.vgg(init="he")


@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize(("activation", "kind"), [("tanh", nn.Tanh), ("gelu", nn.GELU)])
def test_activation_option_reaches_every_unit(name, activation, kind):
    model = build(name, activation=activation)
    assert count(model, kind) > 0
    others = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU)
    assert sum(count(model, k) for k in others if k is not kind) == 0


@pytest.mark.parametrize("name", list(FAMILIES))
def test_no_inplace_activations(name):
    model = build(name, activation="relu")
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert relus and not any(m.inplace for m in relus)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_norm_option_adds_norms_and_drops_conv_bias(name):
    plain, normed = build(name, norm=None), build(name, norm="group")
    assert count(plain, Norm) == 0
    assert count(normed, Norm) > 0
    assert all(m.preset == "group" for m in normed.modules() if isinstance(m, Norm))
    for unit in normed.modules():
        if isinstance(unit, models.ConvUnit):
            assert (unit.conv.bias is None) == (unit.norm is not None)
            assert hasattr(unit, "hook_post_norm") == (unit.norm is not None)


def test_norm_counts_are_exact():
    assert count(models.vgg(blocks=3, convs=2, norm="batch"), Norm) == 6
    assert count(models.vgg(blocks=2, convs=2, norm="batch", residual=True), Norm) == 4 + 2
    assert count(models.resnet(20), Norm) == 19 + 2  # every conv but the head, + projections
    assert count(models.resnet(20, residual=False), Norm) == 19
    assert count(models.mlp([64, 32, 16, 10], norm="layer"), Norm) == 2
    layer_norms = [m for m in models.convnext().modules() if isinstance(m, Norm)]
    assert layer_norms and all(m.axes == ("C",) for m in layer_norms)


def test_element_affine_norms_get_their_spatial_size():
    element = functools.partial(Norm, axes="CHW", affine="element")
    for side in (8, 32):
        for model in (
            models.vgg(norm=element, residual=True, in_channels=1, input_size=side),
            models.resnet(8, norm=element, in_channels=1, input_size=side),
        ):
            model.train()
            assert model(torch.rand(2, 1, side, side)).shape == (2, 10)
    norm = models.vgg(norm=element, input_size=32).features.block2.conv1.norm
    assert norm.weight.shape == (32, 16, 16)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_dropout_option_adds_vizlab_dropout(name):
    model = build(name, dropout=0.3)
    drops = [m for m in model.modules() if isinstance(m, Dropout)]
    assert drops and all(m.p == 0.3 for m in drops)
    assert count(build(name, dropout=0.0), Dropout) == 0
    assert count(model, nn.Dropout) == 0  # torch's own dropout hides its mask


def test_dropout_placement():
    assert count(models.vgg(blocks=3, convs=2, dropout=0.1), Dropout) == 6
    assert count(models.alexnet(), Dropout) == 2  # the two hidden fully connected layers
    assert count(models.mlp([64, 32, 16, 10], dropout=0.2), Dropout) == 2


def test_vgg_layer_names_and_taps():
    model = models.vgg(blocks=2, convs=2, norm="batch")
    names = dict(model.named_modules())
    for expected in [
        "features.block1.conv1.conv",
        "features.block1.conv1.hook_pre_norm",
        "features.block1.conv1.norm",
        "features.block1.conv1.hook_post_norm",
        "features.block1.conv1.act",
        "features.block1.conv1.hook_post_act",
        "features.block2.conv2.conv",
        "features.block2.pool",
        "features.block2.hook_out",
        "head",
    ]:
        assert expected in names
    assert isinstance(names["features.block1.hook_out"], Tap)
    assert names["features.block2.conv1.conv"].in_channels == 16
    assert names["features.block2.conv1.conv"].out_channels == 32
    assert names["head"].in_features == 32


def test_vgg_taps_see_the_tensors_they_name():
    model = models.vgg(blocks=1, convs=1, norm="batch").eval()
    unit = model.features.block1.conv1
    seen = {}
    for tap in ("hook_pre_norm", "hook_post_norm", "hook_post_act"):
        getattr(unit, tap).register_forward_hook(lambda m, i, o, tap=tap: seen.update({tap: o}))
    x = torch.rand(2, 3, 32, 32)
    model(x)
    conv = unit.conv(x)
    torch.testing.assert_close(seen["hook_pre_norm"], conv)
    torch.testing.assert_close(seen["hook_post_norm"], unit.norm(conv))
    torch.testing.assert_close(seen["hook_post_act"], torch.relu(unit.norm(conv)))


def test_vgg_residual_wraps_each_block():
    plain = models.vgg(blocks=3, convs=2)
    res = models.vgg(blocks=3, convs=2, residual=True)
    blocks = [m for m in res.modules() if isinstance(m, Residual)]
    assert len(blocks) == 3 and all(b.projection for b in blocks)  # channels change each time
    assert count(plain, Residual) == 0
    proj = sum(p.numel() for b in blocks for p in b.shortcut.parameters())
    assert sum(p.numel() for p in res.parameters()) - proj == sum(
        p.numel() for p in plain.parameters()
    )


def test_param_count_grows_with_depth_and_width():
    def n(**kw):
        return sum(p.numel() for p in models.vgg(**kw).parameters())

    assert n(blocks=1, convs=1, width=16) == 3 * 16 * 9 + 16 + 16 * 10 + 10
    assert n(blocks=2) > n(blocks=1) and n(convs=3) > n(convs=2) and n(width=32) > n(width=16)


def test_mlp_sizes_and_consistency_checks():
    model = models.mlp([64, 128, 10])
    assert [m.out_features for m in model.modules() if isinstance(m, nn.Linear)] == [128, 10]
    assert model(torch.rand(5, 1, 8, 8)).shape == (5, 10)
    assert models.mlp(in_channels=1, input_size=8, hidden=(32, 16))[0:2](
        torch.rand(2, 1, 8, 8)
    ).shape == (2, 32)
    with pytest.raises(ValueError, match="64 input features but .* gives 3072"):
        models.mlp([64, 10], in_channels=3, input_size=32)
    with pytest.raises(ValueError, match="num_classes=7"):
        models.mlp([64, 10], num_classes=7)
    with pytest.raises(ValueError, match="at least"):
        models.mlp([64])
