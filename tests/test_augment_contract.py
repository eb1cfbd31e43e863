"""One contract for every augmentation op (curriculum D-AUG, D-LAYER).

Each op must keep shape, dtype and device, stay in [0, 1], be the identity at p = 0 and in
eval mode (returning the very input object), replay its recorded parameters exactly, give
the same output for the same seed, and reject bad input with a helpful ValueError.
"""

from __future__ import annotations

import pytest
import torch

from vizlab import augment as A

K = 4  # classes for the label-mixing ops

FACTORIES = {
    "flip": lambda p: A.flip(p=p),
    "vflip": lambda p: A.VFlip(p=p),
    "crop": lambda p: A.crop(padding=3, p=p),
    "translate": lambda p: A.translate(0.2, p=p),
    "shear": lambda p: A.shear(0.3, p=p),
    "rotate": lambda p: A.rotate(25, p=p),
    "brightness": lambda p: A.brightness(0.8, p=p),
    "contrast": lambda p: A.contrast(0.8, p=p),
    "color": lambda p: A.color(0.8, 0.2, p=p),
    "cutout": lambda p: A.cutout(0.4, p=p),
    "randaugment": lambda p: A.RandAugment(3, 20, p=p),
    "mixup": lambda p: A.MixUp(0.5, p=p, num_classes=K),
    "cutmix": lambda p: A.CutMix(1.0, p=p, num_classes=K),
    "compose": lambda p: A.Compose(A.Flip(p=p), A.Crop(2, p=p), A.RandAugment(2, 9, p=p)),
    "compose_mix": lambda p: A.Compose(A.Rotate(p=p), A.MixUp(1.0, p=p, num_classes=K)),
}
SHAPES = [(1, 3, 32, 32), (5, 1, 8, 8), (3, 3, 128, 192), (7, 3, 9, 13)]
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
        ],
    ),
]


def run(op, x, y, generator=None):
    """Images (and labels, for mixing ops) out of one call."""
    if op.mixes_labels:
        return op(x, y, generator=generator)
    return op(x, generator=generator), None


def batch(shape, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g).to(device)
    y = torch.randint(0, K, (shape[0],), generator=g).to(device)
    return x, y


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_contract(name, shape, device):
    x, y = batch(shape, device)
    op = FACTORIES[name](1.0).to(device)
    g = torch.Generator().manual_seed(3)
    out, soft = run(op, x, y, g)
    # shape, dtype, device, range
    assert out.shape == x.shape and out.dtype == torch.float32 and out.device == x.device
    assert out.min() >= 0 and out.max() <= 1
    if soft is not None:
        assert soft.shape == (shape[0], K)
        torch.testing.assert_close(soft.sum(1), torch.ones(shape[0], device=device))
    # the record replays exactly, in any mode
    params = op.last_params
    assert len(params) == shape[0]
    again = op.replay(x, params, y) if op.mixes_labels else op.replay(x, params)
    again, soft_again = again if op.mixes_labels else (again, None)
    assert torch.equal(again, out)
    if soft is not None:
        assert torch.equal(soft_again, soft)
    assert isinstance(op.describe(params, shape[0] - 1), str)
    # same seed, same output
    out2, _ = run(op, x, y, torch.Generator().manual_seed(3))
    assert torch.equal(out2, out)
    # eval mode: the layer is the identity and hands back the input object itself
    op.eval()
    if op.mixes_labels:
        ex, ey = op(x, y)
        assert ex is x and ey is y
    else:
        assert op(x) is x
    assert torch.equal(op.replay(x, params), out)  # images only when no labels are given


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_p_zero_is_identity_and_recorded_as_not_applied(name):
    x, y = batch((6, 3, 12, 10), "cpu")
    op = FACTORIES[name](0.0)
    out, soft = run(op, x, y, torch.Generator().manual_seed(0))
    assert torch.equal(out, x)
    stages = op.last_params.stages if isinstance(op, A.Compose) else (op.last_params,)
    assert all(not s.applied.any() for s in stages)
    assert op.describe(op.last_params, 0) == ""
    if soft is not None:
        torch.testing.assert_close(soft, torch.nn.functional.one_hot(y, K).float())


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_bad_images_are_rejected(name):
    op = FACTORIES[name](1.0)
    y = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\).*unsqueeze"):
        run(op, torch.rand(3, 8, 8), y)
    with pytest.raises(ValueError, match="float images.*x.float"):
        run(op, torch.zeros(2, 3, 8, 8, dtype=torch.uint8), y)


@pytest.mark.parametrize("name", [n for n in sorted(FACTORIES) if not n.startswith("compose")])
@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_p_outside_unit_interval_is_rejected(name, p):
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
        FACTORIES[name](p)


def test_randaugment_arguments_are_checked():
    with pytest.raises(ValueError, match="m \\(magnitude\\) must lie in 0..30"):
        A.RandAugment(2, 31)
    with pytest.raises(ValueError, match="m \\(magnitude\\) must lie in 0..30"):
        A.RandAugment(2, -1)
    with pytest.raises(ValueError, match="n \\(ops per image\\) must be an int >= 0"):
        A.RandAugment(-1, 9)
    with pytest.raises(ValueError, match="unknown RandAugment ops"):
        A.RandAugment(1, 9, ops=("identity", "warp"))


def test_other_arguments_are_checked():
    with pytest.raises(ValueError, match="padding must be an int >= 0"):
        A.Crop(padding=-1)
    with pytest.raises(ValueError, match="degrees must be a number >= 0"):
        A.Rotate(degrees=-5)
    with pytest.raises(ValueError, match="size is a fraction"):
        A.Cutout(size=2.0)
    with pytest.raises(TypeError, match="Compose takes vizlab.augment ops"):
        A.Compose(torch.nn.ReLU())


def test_an_op_is_usable_as_the_first_layer_of_a_model():
    model = torch.nn.Sequential(A.Flip(p=1.0), torch.nn.Flatten())
    x = torch.rand(2, 1, 4, 4)
    assert torch.equal(model(x), x.flip(-1).flatten(1))
    model.eval()
    assert torch.equal(model(x), x.flatten(1))
