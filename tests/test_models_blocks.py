"""ResNet twins and the blocks of the classic architectures, checked against their definitions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vizlab import models
from vizlab.models import Bottleneck, ConvNeXtBlock, DenseBlock, Inception, summary
from vizlab.nn import Norm, Residual


def layers(model: nn.Module) -> list[tuple[str, tuple]]:
    """(name, weight shape) of every conv and norm outside the shortcuts."""
    return [
        (name, tuple(m.weight.shape))
        for name, m in model.named_modules()
        if isinstance(m, (nn.Conv2d, Norm)) and ".shortcut" not in name
    ]


def blocks(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if n.count(".") == 2 and "block" in n}


@pytest.mark.parametrize(("depth", "bottleneck"), [(20, False), (11, True)])
def test_plain_twin_has_the_same_layers_without_skips(depth, bottleneck):
    res = models.resnet(depth, bottleneck=bottleneck)
    plain = models.resnet(depth, bottleneck=bottleneck, residual=False)
    assert layers(res) == layers(plain)
    res_blocks, plain_blocks = blocks(res), blocks(plain)
    assert list(res_blocks) == list(plain_blocks)
    assert all(isinstance(b, Residual) for b in res_blocks.values())
    assert not any(isinstance(m, Residual) for m in plain.modules())
    # the only parameters the plain twin lacks are those of the projection shortcuts
    proj = sum(p.numel() for b in res_blocks.values() for p in b.shortcut.parameters())
    assert proj > 0
    total = sum(p.numel() for p in res.parameters())
    assert total - proj == sum(p.numel() for p in plain.parameters())


def test_resnet_depth_counts_weight_layers():
    for depth in (8, 20, 32):
        model = models.resnet(depth, residual=False)
        assert len(layers(model)) // 2 + 1 == depth  # convs (each with a norm) + the head
    n_convs = sum(isinstance(m, nn.Conv2d) for m in models.resnet(20, bottleneck=True).modules())
    assert n_convs - 3 + 1 == 20  # minus the 3 projections, plus the head


def test_projection_exactly_where_channels_or_stride_change():
    model = models.resnet(20, norm="batch")
    with_proj = {n for n, b in blocks(model).items() if b.projection}
    assert with_proj == {"stages.stage2.block1", "stages.stage3.block1"}
    bottle = models.resnet(20, bottleneck=True)
    with_proj = {n for n, b in blocks(bottle).items() if b.projection}
    assert with_proj == {"stages.stage1.block1", "stages.stage2.block1", "stages.stage3.block1"}
    shortcut = model.stages.stage2.block1.shortcut
    assert shortcut.conv.kernel_size == (1, 1) and shortcut.conv.stride == (2, 2)


def test_resnet_shapes_per_stage():
    rows = {r.name: r.output_shape for r in summary(models.resnet(8), (3, 32, 32))}
    assert rows["stages.stage1"] == (1, 16, 32, 32)
    assert rows["stages.stage2"] == (1, 32, 16, 16)
    assert rows["stages.stage3"] == (1, 64, 8, 8)
    rows = {r.name: r.output_shape for r in summary(models.resnet(11, bottleneck=True), (3, 8, 8))}
    assert rows["stages.stage3.block1.branch.conv2"] == (1, 64, 2, 2)  # the narrow 3x3
    assert rows["stages.stage3"] == (1, 256, 2, 2)


def test_relu_comes_after_the_sum():
    block = models.resnet(8).eval().stages.stage1.block1
    x = torch.randn(2, 16, 8, 8)
    expected = torch.relu(block.branch(x) + x)
    torch.testing.assert_close(block(x), expected)
    assert (block(x) >= 0).all() and (block.branch(x) < 0).any()  # the branch can go negative


@pytest.mark.parametrize(
    ("depth", "bottleneck", "message"),
    [
        (21, False, r"6n\+2 .* nearest valid depths: 20 or 26"),
        (18, False, "20 or 26|14 or 20"),
        (5, False, "8 or 14"),
        (21, True, r"9n\+2 .* nearest valid depths: 20 or 29"),
        (20.0, False, "must be an int"),
    ],
)
def test_bad_depth_names_valid_neighbours(depth, bottleneck, message):
    with pytest.raises(ValueError, match=message):
        models.resnet(depth, bottleneck=bottleneck)


def test_zero_init_makes_each_block_start_as_its_skip():
    model = models.resnet(8, zero_init=True).eval()
    block = model.stages.stage1.block1
    assert torch.count_nonzero(block.branch.conv2.norm.weight) == 0
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(block(x), torch.relu(x))
    assert torch.count_nonzero(models.resnet(8).stages.stage1.block1.branch.conv2.norm.weight)
    with pytest.raises(ValueError, match="zero_init=True .* needs norm"):
        models.resnet(8, zero_init=True, norm=None)


def test_bottleneck_branch_reduces_then_expands():
    branch = Bottleneck(64, 16, 64, stride=2, spatial=(8, 8))
    kernels = [m.kernel_size for m in branch.modules() if isinstance(m, nn.Conv2d)]
    channels = [
        (m.in_channels, m.out_channels) for m in branch.modules() if isinstance(m, nn.Conv2d)
    ]
    assert kernels == [(1, 1), (3, 3), (1, 1)]
    assert channels == [(64, 16), (16, 16), (16, 64)]
    assert branch.conv3.act is None and branch.out_size == (4, 4)
    assert branch(torch.rand(2, 64, 8, 8)).shape == (2, 64, 4, 4)


def test_inception_concatenates_four_paths():
    block = Inception(8, 4, (3, 6), (2, 5), 7, spatial=(6, 6)).eval()
    x = torch.rand(2, 8, 6, 6)
    out = block(x)
    assert block.out_channels == 4 + 6 + 5 + 7 and out.shape == (2, 22, 6, 6)
    parts = [block.branch1x1(x), block.branch3x3(x), block.branch5x5(x), block.branch_pool(x)]
    torch.testing.assert_close(out, torch.cat(parts, dim=1))
    assert block.branch5x5.conv.conv.kernel_size == (5, 5)
    assert isinstance(block.branch_pool.pool, nn.MaxPool2d)
    assert sum(isinstance(m, Inception) for m in models.googlenet().modules()) == 3


def test_dense_block_keeps_its_input_and_grows_by_the_growth_rate():
    block = DenseBlock(5, 3, 4, norm=None).eval()
    x = torch.rand(2, 5, 6, 6)
    out = block(x)
    assert out.shape == (2, 5 + 3 * 4, 6, 6) and block.out_channels == 17
    torch.testing.assert_close(out[:, :5], x)
    torch.testing.assert_close(out[:, 5:9], block.layer1(x))
    in_channels = [u.conv.in_channels for u in (block.layer1, block.layer2, block.layer3)]
    assert in_channels == [5, 9, 13]
    names = dict(models.densenet(blocks=3).named_modules())
    assert "trans2.pool" in names and "trans3" not in names


def test_convnext_block_structure():
    block = ConvNeXtBlock(8, spatial=(4, 4))
    assert isinstance(block, Residual) and not block.projection
    dw = block.branch.dwconv.conv
    assert dw.kernel_size == (7, 7) and dw.groups == 8
    assert block.branch.expand.conv.out_channels == 32
    assert isinstance(block.branch.expand.act, nn.GELU)
    assert block.branch.dwconv.norm.axes == ("C",)
    assert block(torch.rand(2, 8, 4, 4)).shape == (2, 8, 4, 4)
    scaled = ConvNeXtBlock(8, layer_scale=1e-6)
    assert torch.all(scaled.branch.scale.gamma == 1e-6)
    stem = models.convnext(input_size=32).stem.conv
    assert stem.kernel_size == stem.stride == (2, 2)
    assert models.convnext(in_channels=1, input_size=8).stem.conv.kernel_size == (1, 1)


def test_convnext_channel_norm_is_a_per_position_layer_norm():
    norm = models.convnext().stages.stage1.block1.branch.dwconv.norm.train()
    x = torch.randn(2, 24, 5, 5)
    expected = nn.functional.layer_norm(x.permute(0, 2, 3, 1), (24,)).permute(0, 3, 1, 2)
    torch.testing.assert_close(norm(x), expected, atol=1e-5, rtol=1e-5)


def test_lenet_pads_to_fit_each_input():
    shapes = {}
    for side in (8, 28, 32):
        model = models.lenet(in_channels=1, input_size=side)
        rows = {r.name: r.output_shape for r in summary(model, (1, side, side))}
        shapes[side] = (rows["conv1"], rows["pool2"], model.fc1.linear.in_features)
        assert isinstance(model.conv1.act, nn.Sigmoid)
    assert shapes[28] == ((1, 6, 28, 28), (1, 16, 5, 5), 400)  # the classic LeNet-5 sizes
    assert shapes[32] == ((1, 6, 32, 32), (1, 16, 6, 6), 576)
    assert shapes[8] == ((1, 6, 8, 8), (1, 16, 2, 2), 64)


def test_alexnet_and_nin_layouts():
    alex = models.alexnet()
    convs = [m for m in alex.modules() if isinstance(m, nn.Conv2d)]
    fcs = [m for m in alex.modules() if isinstance(m, nn.Linear)]
    assert len(convs) == 5 and len(fcs) == 3
    assert [c.out_channels for c in convs] == [32, 64, 96, 96, 64]
    assert all(isinstance(m.act, nn.ReLU) for m in alex.modules() if hasattr(m, "conv"))
    net = models.nin(num_classes=7)
    assert not any(isinstance(m, nn.Linear) for m in net.modules())  # no fully connected head
    assert net.block4.fc2.conv.out_channels == 7 and net.block4.fc2.act is None
    assert [net.block1.fc1.conv.kernel_size, net.block1.conv.conv.kernel_size] == [(1, 1), (5, 5)]


def test_init_schemes():
    torch.manual_seed(0)
    default = models.vgg(blocks=2, convs=1, init="torch")
    kaiming = models.vgg(blocks=2, convs=1)  # kaiming is vgg's default
    w_default = default.features.block2.conv1.conv.weight
    w_kaiming = kaiming.features.block2.conv1.conv.weight
    fan_in = 16 * 9
    assert w_kaiming.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.1)
    assert w_default.std().item() == pytest.approx((1 / (3 * fan_in)) ** 0.5, rel=0.1)
    assert torch.all(kaiming.features.block2.conv1.conv.bias == 0)
    lenet = models.lenet()
    bound = (6 / (6 * 25 + 16 * 25)) ** 0.5  # xavier: fan_in + fan_out of conv2
    assert lenet.conv2.conv.weight.abs().max() <= bound
    assert lenet.conv2.conv.weight.abs().max() > 0.9 * bound
