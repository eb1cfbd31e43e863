"""Fault suite, bad input: every public entry point refuses nonsense with a precise error.

A classroom tries everything: sliders at their ends, typos in names, images in the wrong
dtype, labels past the last class. Each case below is one such input, the exception type
it must raise (never a bare ``Exception``, never a torch traceback from deep inside a
layer), and the words its message must contain: the bad value, and what to do instead.

The table is swept per entry point: ``vizlab.data.load``, ``vizlab.models`` (every family),
``vizlab.nn``, ``vizlab.augment``, ``vizlab.fit``, ``vizlab.sweep``, ``vizlab.watch`` and
the ``vizlab`` command line (run in-process through ``vizlab.cli.main``).

Decision recorded here (and in ``fit``'s docstring): training data whose labels are all one
class is refused with a ``ValueError``. Such a run learns nothing and would report 100%
accuracy, which is worse than an error for a student reading the curves.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from small_data import digits_dataset
from torch import nn

from vizlab import augment as A
from vizlab import data as D
from vizlab import models as M
from vizlab import nn as VN
from vizlab.cli import main as cli_main
from vizlab.data.dataset import Dataset, DatasetError, Split
from vizlab.probes import watch
from vizlab.train import Run, fit, sweep

pytestmark = pytest.mark.usefixtures("one_thread")


@dataclass(frozen=True)
class Case:
    """One bad input: ``call()`` must raise ``exc`` whose message contains every word."""

    id: str
    call: Callable[[], object]
    exc: type[BaseException]
    words: tuple[str, ...]


def case(id: str, call: Callable[[], object], exc: type[BaseException], *words: str) -> Case:
    return Case(id, call, exc, words)


def check(c: Case) -> str:
    with pytest.raises(c.exc) as info:
        c.call()
    err = info.value
    # The exact class, not a broader one: ValueError cases must not be mere Exceptions.
    assert isinstance(err, c.exc) and type(err) is not Exception
    msg = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    for word in c.words:
        assert word in msg, f"{c.id}: {word!r} not in message: {msg}"
    assert "Traceback" not in msg and len(msg) < 2000
    return msg


def table(cases: list[Case]):
    return pytest.mark.parametrize("c", cases, ids=[c.id for c in cases])


# ---- shared small things, built once ----------------------------------------------------
@functools.cache
def digits() -> Dataset:
    return digits_dataset(64, 16, 16)  # (N, 1, 8, 8) float32, 10 classes


def small_mlp() -> nn.Module:
    return M.mlp([64, 16, 10])


def variant(*, x=None, y=None, classes=None) -> Dataset:
    """The digits with the training images or labels (or class names) replaced."""
    d = digits()
    train = Split(d.train.x if x is None else x, d.train.y if y is None else y)
    return Dataset("bad", list(d.classes if classes is None else classes), train, d.val, d.test)


def with_nan(value: float) -> torch.Tensor:
    x = digits().train.x.clone()
    x[3, 0, 2, 2] = value
    return x


FIT = dict(epochs=1, device="cpu")


def fit_with(data=None, model=None, **kwargs):
    return fit(model or small_mlp(), digits() if data is None else data, **{**FIT, **kwargs})


# ---- vizlab.data.load -----------------------------------------------------------------------
DATA = [
    case("unknown-name", lambda: D.load("nope"), ValueError, "'nope'", "choose one of", "digits"),
    case("name-none", lambda: D.load(None), ValueError, "None", "choose one of"),
    case("n-zero", lambda: D.load("digits", n=0), ValueError, "got 0", "positive"),
    case("n-negative", lambda: D.load("shapes", n=-3), ValueError, "-3", "positive"),
    case("n-float", lambda: D.load("digits", n=2.5), TypeError, "2.5", "integer"),
    case("n-huge", lambda: D.load("shapes", n=10**12), ValueError, "GiB", "use n <="),
    case("val-fraction-1", lambda: D.load("digits", val_fraction=1.0), ValueError, "1.0", "[0, 1)"),
    case("val-fraction-nan", lambda: D.load("digits", val_fraction=math.nan), ValueError, "nan"),
    case("val-fraction-str", lambda: D.load("digits", val_fraction="a"), TypeError, "'a'"),
    case("seed-str", lambda: D.load("digits", seed="a"), TypeError, "'a'", "integer"),
    *[
        case(
            f"{name}-missing",
            functools.partial(D.load, name, root="/nonexistent/vizlab"),
            DatasetError,
            name,
            "download=True",
            "VIZLAB_DATA",
        )
        for name in ("mnist", "fashion_mnist", "cifar10")
    ],
]


@table(DATA)
def test_data_load_refuses(c: Case) -> None:
    check(c)


# ---- vizlab.models: every family --------------------------------------------------------
def family(name: str, **kwargs) -> Callable[[], nn.Module]:
    """Builder call for family ``name``; the MLP gets the image size its sizes need."""
    if name == "mlp":
        base = dict(in_channels=3, input_size=32)
        if "input_size" in kwargs or "in_channels" in kwargs:
            base = {}
        return lambda: M.mlp(**{**base, **kwargs})
    return lambda: M.FAMILIES[name](**kwargs)


FAMILY_CASES = []
for _name in M.FAMILIES:
    FAMILY_CASES += [
        case(f"{_name}-norm", family(_name, norm="bogus"), ValueError, "'bogus'", "Valid choices"),
        case(
            f"{_name}-activation",
            family(_name, activation="bogus"),
            ValueError,
            "'bogus'",
            "choose one of",
            "relu",
        ),
        case(f"{_name}-init", family(_name, init="bogus"), ValueError, "'bogus'", "kaiming"),
        case(
            f"{_name}-classes-0",
            family(_name, num_classes=0),
            ValueError,
            "num_classes",
            ">= 1",
            "got 0",
        ),
        case(f"{_name}-classes-float", family(_name, num_classes=2.5), ValueError, "2.5"),
        case(
            f"{_name}-channels-0", family(_name, in_channels=0), ValueError, "in_channels", "got 0"
        ),
        case(f"{_name}-dropout-1", family(_name, dropout=1.0), ValueError, "1.0", "[0, 1)"),
        case(f"{_name}-dropout-neg", family(_name, dropout=-0.1), ValueError, "-0.1", "[0, 1)"),
        case(f"{_name}-input-0", family(_name, input_size=0), ValueError, "input_size", "positive"),
        case(f"{_name}-input-bool", family(_name, input_size=True), TypeError, "(H, W)"),
    ]

MODEL_CASES = [
    *FAMILY_CASES,
    # pooling below 1x1: refused while building, with the depth that would fit
    case("vgg-too-deep", lambda: M.vgg(blocks=6), ValueError, "below 1x1", "5 blocks at most"),
    case("vgg-tiny-input", lambda: M.vgg(input_size=2), ValueError, "below 1x1", "at most"),
    case("lenet-tiny-input", lambda: M.lenet(input_size=2), ValueError, "below 1x1", "4x4"),
    case("nin-tiny-input", lambda: M.nin(input_size=4), ValueError, "below 1x1", "8x8"),
    case("googlenet-tiny-input", lambda: M.googlenet(input_size=2), ValueError, "below 1x1"),
    case("densenet-too-deep", lambda: M.densenet(blocks=9), ValueError, "below 1x1", "at most"),
    case("convnext-too-deep", lambda: M.convnext(depths=(1,) * 7), ValueError, "below 1x1"),
    # family-specific sizes
    case("vgg-blocks-0", lambda: M.vgg(blocks=0), ValueError, "blocks >= 1", "got 0"),
    case("vgg-convs-neg", lambda: M.vgg(convs=-1), ValueError, "convs >= 1", "-1"),
    case("vgg-width-0", lambda: M.vgg(width=0), ValueError, "width >= 1"),
    case("resnet-depth-21", lambda: M.resnet(depth=21), ValueError, "6n+2", "20 or 26"),
    case("resnet-width-0", lambda: M.resnet(width=0), ValueError, "width >= 1"),
    case("densenet-compression-0", lambda: M.densenet(compression=0), ValueError, "(0, 1]"),
    case("densenet-growth-0", lambda: M.densenet(growth=0), ValueError, "growth >= 1"),
    case("convnext-no-stages", lambda: M.convnext(depths=()), ValueError, "depths=(2, 2, 2)"),
    case("convnext-depths-int", lambda: M.convnext(depths=3), TypeError, "3", "(2, 2, 2)"),
    case("convnext-kernel-0", lambda: M.convnext(kernel_size=0), ValueError, "kernel_size"),
    case("convnext-patch-big", lambda: M.convnext(patch=64), ValueError, "64", "32x32"),
    case(
        "convnext-layer-scale-neg", lambda: M.convnext(layer_scale=-1.0), ValueError, "-1.0", "1e-6"
    ),
    case("mlp-one-size", lambda: M.mlp([10]), ValueError, "[in_features, num_classes]"),
    case("mlp-zero-width", lambda: M.mlp([10, 0, 5]), ValueError, "sizes[1]", "got 0"),
    case("mlp-disagree", lambda: M.mlp([10, 5], num_classes=3), ValueError, "num_classes=3"),
    case("build-unknown", lambda: M.build("nope"), ValueError, "'nope'", "choose one of", "vgg"),
    case("build-unknown-arg", lambda: M.build("vgg", depth=3), TypeError, "depth", "blocks"),
    case(
        "summary-wrong-shape",
        lambda: M.summary(M.vgg(), (1, 8, 8)),
        RuntimeError,
        "(1, 1, 8, 8)",
        "in_channels",
    ),
    case("summary-bad-rank", lambda: M.summary(M.vgg(), (1, 2, 3, 4, 5)), ValueError, "(C, H, W)"),
]


@table(MODEL_CASES)
def test_model_builders_refuse(c: Case) -> None:
    check(c)


def test_every_family_is_in_the_table() -> None:
    covered = {c.id.split("-")[0] for c in FAMILY_CASES}
    assert covered == set(M.FAMILIES)


# ---- vizlab.nn ------------------------------------------------------------------------------
def conv(i: int, o: int, k: int = 3, p: int = 1) -> nn.Module:
    return nn.Conv2d(i, o, k, padding=p)


NN_CASES = [
    case("norm-axis-X", lambda: VN.Norm(8, axes=("X",)), ValueError, "'X'", "NCHW"),
    case("norm-axis-string", lambda: VN.Norm(8, axes="NQ"), ValueError, "'Q'", "NCHW"),
    case("norm-axes-empty", lambda: VN.Norm(8, axes=()), ValueError, "empty", "('C', 'H', 'W')"),
    case("norm-axes-twice", lambda: VN.Norm(8, axes=("H", "H")), ValueError, "twice"),
    case(
        "norm-groups-3-of-8",
        lambda: VN.Norm(8, ("C", "H", "W"), groups=3),
        ValueError,
        "groups=3",
        "channels=8",
        "[1, 2, 4, 8]",
    ),
    case(
        "norm-group-preset",
        lambda: VN.Norm.group(6, groups=4),
        ValueError,
        "groups=4",
        "[1, 2, 3, 6]",
    ),
    case("norm-groups-0", lambda: VN.Norm(8, ("C", "H", "W"), groups=0), ValueError, "got 0"),
    case("norm-channels-0", lambda: VN.Norm(0), ValueError, "channels", "got 0"),
    case("norm-affine", lambda: VN.Norm(8, affine="bogus"), ValueError, "'bogus'", "'channel'"),
    case("norm-eps-0", lambda: VN.Norm(8, eps=0), ValueError, "eps", "positive"),
    case("norm-momentum-2", lambda: VN.Norm(8, momentum=2), ValueError, "[0, 1]", "got 2"),
    case(
        "norm-wrong-channels",
        lambda: VN.Norm(8)(torch.rand(2, 4, 5, 5)),
        ValueError,
        "expected 8 channels",
        "got 4",
    ),
    case(
        "norm-3d-input", lambda: VN.Norm(8)(torch.rand(2, 8, 5)), ValueError, "3-D", "(N, C, H, W)"
    ),
    case(
        "norm-int-input",
        lambda: VN.Norm(8)(torch.ones(2, 8, 3, 3, dtype=torch.int64)),
        TypeError,
        "torch.int64",
        "x.float()",
    ),
    case(
        "norm-batch-of-one-1x1",
        lambda: VN.Norm(8).train()(torch.rand(1, 8, 1, 1)),
        ValueError,
        "eval()",
    ),
    case("norm-spec", lambda: VN.resolve_norm(3.5), ValueError, "3.5", "Valid choices"),
    case("norm-instance", lambda: VN.resolve_norm(nn.BatchNorm2d(4)), ValueError, "factory"),
    *[
        case(f"dropout-p-{p}", functools.partial(VN.Dropout, p), ValueError, repr(p), "[0, 1)")
        for p in (1.0, -0.1, 1.5, math.nan, "a")
    ],
    case("dropout-kind", lambda: VN.Dropout(0.5, kind="bogus"), ValueError, "'bogus'", "'channel'"),
    case(
        "dropout-schedule",
        lambda: VN.Dropout(0.5, schedule="bogus"),
        ValueError,
        "'bogus'",
        "'early'",
    ),
    case("dropconnect-p-1", lambda: VN.DropConnectLinear(4, 4, p=1.0), ValueError, "[0, 1)"),
    case(
        "dropconnect-in-0", lambda: VN.DropConnectLinear(0, 4), ValueError, "in_features", "got 0"
    ),
    case(
        "residual-channels",
        lambda: VN.Residual(conv(4, 8))(torch.rand(2, 4, 6, 6)),
        ValueError,
        "(2, 8, 6, 6)",
        "(2, 4, 6, 6)",
        "out_channels=",
    ),
    case(
        "residual-spatial",
        lambda: VN.Residual(conv(4, 4, 3, 0))(torch.rand(2, 4, 6, 6)),
        ValueError,
        "(2, 4, 4, 4)",
        "stride=",
    ),
    case(
        "residual-broadcast",
        lambda: VN.Residual(nn.AdaptiveAvgPool2d(1))(torch.rand(2, 4, 6, 6)),
        ValueError,
        "(2, 4, 1, 1)",
        "must match",
    ),
    case("residual-branch", lambda: VN.Residual("conv"), TypeError, "nn.Module", "str"),
    case(
        "residual-stride-0",
        lambda: VN.Residual(nn.Identity(), in_channels=4, stride=0),
        ValueError,
        "stride",
        "got 0",
    ),
    case(
        "residual-projection-needs-channels",
        lambda: VN.Residual(nn.Identity(), stride=2),
        ValueError,
        "in_channels",
    ),
]


@table(NN_CASES)
def test_nn_layers_refuse(c: Case) -> None:
    check(c)


# ---- vizlab.augment ----------------------------------------------------------------------------
def images(*shape: int, dtype=torch.float32) -> torch.Tensor:
    return (
        torch.rand(shape).to(dtype) if dtype.is_floating_point else torch.ones(shape, dtype=dtype)
    )


def run_op(op: nn.Module, x: object) -> object:
    op.train()
    if getattr(op, "mixes_labels", False):
        n = x.shape[0] if isinstance(x, torch.Tensor) and x.ndim else 1
        return op(x, torch.zeros(n, dtype=torch.int64))
    return op(x)


OPS: dict[str, Callable[..., nn.Module]] = {
    "flip": A.Flip,
    "vflip": A.VFlip,
    "crop": A.Crop,
    "translate": A.Translate,
    "shear": A.Shear,
    "rotate": A.Rotate,
    "brightness": A.Brightness,
    "contrast": A.Contrast,
    "color": A.Color,
    "cutout": A.Cutout,
    "randaugment": A.RandAugment,
    "mixup": functools.partial(A.MixUp, num_classes=10),
    "cutmix": functools.partial(A.CutMix, num_classes=10),
}

AUG_CASES = []
for _name, _make in OPS.items():
    AUG_CASES += [
        case(f"{_name}-p-1.5", functools.partial(_make, p=1.5), ValueError, "1.5", "[0, 1]"),
        case(f"{_name}-p-neg", functools.partial(_make, p=-0.1), ValueError, "-0.1", "[0, 1]"),
        case(f"{_name}-p-nan", functools.partial(_make, p=math.nan), ValueError, "nan"),
        case(
            f"{_name}-uint8",
            lambda m=_make: run_op(m(), images(4, 3, 16, 16, dtype=torch.uint8)),
            ValueError,
            "torch.uint8",
            "x.float() / 255",
        ),
        case(
            f"{_name}-single-image",
            lambda m=_make: run_op(m(), images(3, 16, 16)),
            ValueError,
            "(3, 16, 16)",
            "unsqueeze(0)",
        ),
        case(
            f"{_name}-empty-batch",
            lambda m=_make: run_op(m(), images(0, 3, 16, 16)),
            ValueError,
            "empty batch",
            "(0, 3, 16, 16)",
        ),
        case(f"{_name}-not-a-tensor", lambda m=_make: run_op(m(), [[0.5]]), TypeError, "list"),
    ]

X4 = torch.rand(4, 3, 16, 16)
AUG_CASES += [
    case("crop-padding-neg", lambda: A.Crop(padding=-1), ValueError, "padding", "-1", ">= 0"),
    case("crop-padding-float", lambda: A.Crop(padding=1.5), ValueError, "1.5", "int"),
    case("translate-neg", lambda: A.Translate(fraction=-1.0), ValueError, "-1.0", ">= 0"),
    case("translate-over-1", lambda: A.Translate(fraction=2.0), ValueError, "2.0", "[0, 1]"),
    case("rotate-neg", lambda: A.Rotate(degrees=-5), ValueError, "-5", ">= 0"),
    case("rotate-over-180", lambda: A.Rotate(degrees=1000), ValueError, "1000", "[0, 180]"),
    case("shear-neg", lambda: A.Shear(shear=-1), ValueError, "-1", ">= 0"),
    case("brightness-neg", lambda: A.Brightness(strength=-1), ValueError, "strength", ">= 0"),
    case("contrast-neg", lambda: A.Contrast(strength=-1), ValueError, "strength", ">= 0"),
    case("color-saturation-neg", lambda: A.Color(saturation=-1), ValueError, "saturation"),
    case("color-hue-over", lambda: A.Color(hue=2), ValueError, "hue", "[0, 0.5]"),
    case("cutout-size-2", lambda: A.Cutout(size=2), ValueError, "size", "[0, 1]"),
    case("cutout-fill-3", lambda: A.Cutout(fill=3), ValueError, "fill", "[0, 1]"),
    case("mixup-alpha-0", lambda: A.MixUp(alpha=0), ValueError, "alpha", "got 0"),
    case("cutmix-alpha-neg", lambda: A.CutMix(alpha=-1), ValueError, "alpha", "> 0"),
    case("mixup-classes-0", lambda: A.MixUp(num_classes=0), ValueError, "num_classes", "got 0"),
    case(
        "mixup-no-classes",
        lambda: A.MixUp().train()(X4, torch.tensor([0, 1, 2, 3])),
        ValueError,
        "num_classes=...",
    ),
    case(
        "mixup-label-range",
        lambda: A.MixUp(num_classes=3).train()(X4, torch.tensor([0, 1, 2, 5])),
        ValueError,
        "[0, 5]",
        "num_classes=3",
        "[0, 2]",
    ),
    case(
        "cutmix-label-neg",
        lambda: A.CutMix(num_classes=3).train()(X4, torch.tensor([0, -1, 2, 1])),
        ValueError,
        "[-1, 2]",
        "[0, 2]",
    ),
    case(
        "mixup-float-labels",
        lambda: A.MixUp(num_classes=3).train()(X4, torch.rand(4)),
        ValueError,
        "(4,)",
        "soft labels (B, K)",
    ),
    case(
        "mixup-label-count",
        lambda: A.MixUp(num_classes=3).train()(X4, torch.tensor([0, 1])),
        ValueError,
        "4 images",
        "aug(x, y)",
    ),
    case("randaugment-n-neg", lambda: A.RandAugment(n=-1), ValueError, "-1", ">= 0"),
    case("randaugment-m-31", lambda: A.RandAugment(m=31), ValueError, "31", "0..30"),
    case("randaugment-ops", lambda: A.RandAugment(ops=("bogus",)), ValueError, "'bogus'", "rotate"),
    case("randaugment-no-ops", lambda: A.RandAugment(ops=()), ValueError, "empty", "ops=None"),
    case("compose-int", lambda: A.Compose(3), TypeError, "3", "Flip()"),
    case("compose-not-op", lambda: A.Compose(nn.ReLU()), TypeError, "ReLU", "Flip()"),
    case(
        "compose-mix-without-labels",
        lambda: A.Compose(A.MixUp(num_classes=3)).train()(X4),
        ValueError,
        "aug(x, y)",
    ),
]


@table(AUG_CASES)
def test_augment_refuses(c: Case) -> None:
    check(c)


# ---- vizlab.fit ------------------------------------------------------------------------------
FIT_CASES = [
    # arguments
    *[
        case(f"lr-{v}", functools.partial(fit_with, lr=v), ValueError, f"got {v}", "lr=1e-3")
        for v in (0, -1, -1e-3, math.inf, math.nan)
    ],
    case("lr-str", lambda: fit_with(lr="fast"), TypeError, "'fast'", "number"),
    case("epochs-0", lambda: fit_with(epochs=0), ValueError, "epochs", "got 0"),
    case("epochs-neg", lambda: fit_with(epochs=-2), ValueError, "epochs", "got -2"),
    case("epochs-float", lambda: fit_with(epochs=1.5), TypeError, "epochs", "1.5"),
    case("batch-size-0", lambda: fit_with(batch_size=0), ValueError, "batch_size", "got 0"),
    case("batch-size-neg", lambda: fit_with(batch_size=-8), ValueError, "batch_size", "got -8"),
    case(
        "optimizer-unknown",
        lambda: fit_with(optimizer="adagrad"),
        ValueError,
        "'adagrad'",
        "adam, adamw, sgd",
    ),
    case("optimizer-int", lambda: fit_with(optimizer=3), TypeError, "3", "a name or a callable"),
    case(
        "weight-decay-neg", lambda: fit_with(weight_decay=-1), ValueError, "weight_decay", "use 0"
    ),
    case("l2-nan", lambda: fit_with(l2=math.nan), ValueError, "l2", "nan"),
    case("momentum-1", lambda: fit_with(momentum=1.0), ValueError, "momentum", "0.9"),
    case(
        "early-stopping-neg",
        lambda: fit_with(early_stopping=-1),
        ValueError,
        "patience",
        "early_stopping=None",
    ),
    case("device-unknown", lambda: fit_with(device="tpu"), ValueError, "'tpu'", "'cpu'"),
    case("amp-unknown", lambda: fit_with(amp="fp8"), ValueError, "'fp8'", "'bf16'"),
    case("seed-str", lambda: fit_with(seed="0"), TypeError, "seed", "'0'"),
    case("augment-int", lambda: fit_with(augment=3), TypeError, "augment", "3"),
    case("callbacks-int", lambda: fit_with(callbacks=3), TypeError, "callbacks", "3"),
    case("stop-int", lambda: fit_with(stop=3), TypeError, "stop", "threading.Event"),
    case("model-str", lambda: fit("vgg", digits(), **FIT), TypeError, "nn.Module", "str"),
    case("data-unknown", lambda: fit_with(data="imagenet"), ValueError, "'imagenet'", "digits"),
    case("data-tensor", lambda: fit_with(data=torch.rand(3)), TypeError, "Tensor", "load"),
    # data
    case("x-nan", lambda: fit_with(variant(x=with_nan(math.nan))), ValueError, "NaN", "clean"),
    case("x-inf", lambda: fit_with(variant(x=with_nan(math.inf))), ValueError, "infinite", "clean"),
    case(
        "x-uint8",
        lambda: fit_with(variant(x=(digits().train.x * 255).to(torch.uint8))),
        TypeError,
        "torch.uint8",
        "x.float() / 255",
    ),
    case(
        "x-float64",
        lambda: fit_with(variant(x=digits().train.x.double())),
        TypeError,
        "torch.float64",
        "x.float()",
    ),
    case(
        "x-no-channel-axis",
        lambda: fit_with(variant(x=digits().train.x[:, 0])),
        ValueError,
        "(64, 8, 8)",
        "unsqueeze(1)",
    ),
    case(
        "x-wrong-channels",
        lambda: fit_with(model=M.vgg(1, 1, 4, input_size=8)),
        ValueError,
        "(2, 1, 8, 8)",
        "in_channels",
    ),
    case(
        "empty-train",
        lambda: fit_with(variant(x=digits().train.x[:0], y=digits().train.y[:0])),
        ValueError,
        "empty",
        "n=",
    ),
    case(
        "single-class",
        lambda: fit_with(variant(y=torch.full((64,), 3))),
        ValueError,
        "class 3",
        "at least two classes",
    ),
    case(
        "labels-too-big",
        lambda: fit_with(variant(y=digits().train.y + 5)),
        ValueError,
        "[5, 14]",
        "[0, 9]",
    ),
    case(
        "labels-negative",
        lambda: fit_with(variant(y=digits().train.y - 1)),
        ValueError,
        "[-1, 8]",
        "[0, 9]",
    ),
    case(
        "labels-float",
        lambda: fit_with(variant(y=digits().train.y.float())),
        TypeError,
        "torch.float32",
        "integer",
    ),
    case(
        "labels-2d",
        lambda: fit_with(variant(y=digits().train.y[:, None])),
        TypeError,
        "(64, 1)",
        "1-D",
    ),
    case(
        "labels-count",
        lambda: variant(y=digits().train.y[:10]),
        ValueError,
        "64 images",
        "10 labels",
    ),
    case(
        "no-class-names", lambda: fit_with(variant(classes=[])), ValueError, "0 class", "at least 2"
    ),
    case(
        "wrong-num-classes",
        lambda: fit_with(model=M.mlp([64, 16, 5])),
        ValueError,
        "(2, 5)",
        "num_classes=10",
    ),
    case(
        "early-stopping-no-val",
        lambda: fit_with(
            Dataset("x", digits().classes, digits().train, digits().val.subset(0), digits().test),
            early_stopping=2,
        ),
        ValueError,
        "validation",
        "val_fraction",
    ),
    case("eval-batch-size-0", lambda: fit_with(eval_batch_size=0), ValueError, "eval_batch_size"),
    case("log-every-0", lambda: fit_with(log_every=0), ValueError, "log_every", "got 0"),
    case("data-dict", lambda: fit_with(data={"name": "digits"}), TypeError, "dict", "load"),
    case(
        "val-labels-too-big",
        lambda: fit_with(
            Dataset(
                "v",
                digits().classes,
                digits().train,
                type(digits().val)(digits().val.x, digits().val.y + 10),
                digits().test,
            )
        ),
        ValueError,
        "val labels",
        "[0, 9]",
    ),
]


@table(FIT_CASES)
def test_fit_refuses_before_training(c: Case) -> None:
    check(c)


def test_fit_errors_reach_a_background_run_unchanged() -> None:
    run = Run(fit, small_mlp(), variant(y=torch.full((64,), 3)), **FIT).start()
    assert run.join(30) and run.status == "failed"
    assert isinstance(run.error, ValueError) and "at least two classes" in str(run.error)


# ---- vizlab.sweep ------------------------------------------------------------------------
def build(width: int = 8) -> nn.Module:
    return M.mlp([64, width, 10])


def needs_width(width: int) -> nn.Module:
    return M.mlp([64, width, 10])


def sweep_with(grid, build=build, **kwargs):
    return sweep(build, grid, **{"reps": 1, "data": digits(), **FIT, **kwargs})


SWEEP_CASES = [
    case("grid-empty", lambda: sweep_with({}), ValueError, "grid is empty", "{'width': [8, 16]}"),
    case(
        "grid-empty-values",
        lambda: sweep_with({"width": []}),
        ValueError,
        "'width'",
        "at least one value",
    ),
    case(
        "grid-unknown-key",
        lambda: sweep_with({"depth": [1, 2]}),
        TypeError,
        "['depth']",
        "['width']",
        "rename",
    ),
    case(
        "grid-missing-key",
        lambda: sweep_with({"width": [4]}, build=lambda width, depth: build(width)),
        TypeError,
        "['depth']",
        "add them to the grid",
    ),
    case("grid-not-dict", lambda: sweep_with([4, 8]), TypeError, "dict", "list"),
    case("grid-scalar", lambda: sweep_with({"width": 4}), TypeError, "'width'", "list of values"),
    case("grid-clash", lambda: sweep_with({"seed": [1]}), ValueError, "'seed'", "rename"),
    case("reps-0", lambda: sweep_with({"width": [4]}, reps=0), ValueError, "reps", "got 0"),
    case(
        "fit-unknown-arg",
        lambda: sweep_with({"width": [4]}, epoch=3),
        TypeError,
        "['epoch']",
        "epochs",
    ),
    case("fit-lr-0", lambda: sweep_with({"width": [4]}, lr=0), ValueError, "got 0", "lr=1e-3"),
    case("fit-epochs-0", lambda: sweep_with({"width": [4]}, epochs=0), ValueError, "epochs"),
    case(
        "fit-optimizer", lambda: sweep_with({"width": [4]}, optimizer="nope"), ValueError, "'nope'"
    ),
    case(
        "data-unknown",
        lambda: sweep_with({"width": [4]}, data="imagenet"),
        ValueError,
        "'imagenet'",
    ),
    case(
        "build-not-callable",
        lambda: sweep_with({"width": [4]}, build="vgg"),
        TypeError,
        "'vgg'",
        "callable",
    ),
    case(
        "data-spec-no-name",
        lambda: sweep_with({"width": [4]}, data={"n": 50}),
        ValueError,
        "'name'",
        "{'name': 'shapes', 'n': 2000}",
    ),
]


@table(SWEEP_CASES)
def test_sweep_refuses_before_any_run(c: Case) -> None:
    check(c)


def test_a_bad_cell_is_a_failed_row_not_a_crash() -> None:
    """Cell values are only known to build: a bad one fails that run, the others train."""
    s = sweep_with({"width": [0, 4]}, build=needs_width, epochs=1)
    errors = [row["error"] for row in s.table()]
    assert errors[0] is not None and "sizes[1]" in errors[0] and errors[1] is None


# ---- vizlab.watch ------------------------------------------------------------------------
@functools.cache
def tiny_vgg() -> nn.Module:
    return M.vgg(1, 1, 4, in_channels=1, input_size=8)


WATCH_CASES = [
    case(
        "layer-unknown",
        lambda: watch(tiny_vgg(), layers="nope"),
        ValueError,
        "layers='nope'",
        "Available layers",
        "features.block1",
    ),
    case(
        "layer-typo",
        lambda: watch(tiny_vgg(), layers="features.block1.conv1.cnv"),
        ValueError,
        "features.block1.conv1.conv",
    ),
    case(
        "layer-glob-miss",
        lambda: watch(tiny_vgg(), layers="stages.*"),
        ValueError,
        "'stages.*'",
        "glob",
    ),
    case("layer-in-list", lambda: watch(tiny_vgg(), layers=["head", "nope"]), ValueError, "'nope'"),
    case("layer-int", lambda: watch(tiny_vgg(), layers=3), TypeError, "3", "nn.Conv2d"),
    case("every-0", lambda: watch(tiny_vgg(), every=0), ValueError, "every", "got 0"),
    case("every-neg", lambda: watch(tiny_vgg(), every=-5), ValueError, "every", "-5"),
    case("every-float", lambda: watch(tiny_vgg(), every=2.5), ValueError, "every", "2.5"),
    case(
        "what-unknown",
        lambda: watch(tiny_vgg(), what="weigths"),
        ValueError,
        "'weigths'",
        "'weights'",
    ),
    case(
        "what-unknown-in-list",
        lambda: watch(tiny_vgg(), what=["activations", "grads"]),
        ValueError,
        "'grads'",
        "'gradients'",
    ),
    case("what-empty", lambda: watch(tiny_vgg(), what=[]), ValueError, "empty", "'activations'"),
    case("bins-1", lambda: watch(tiny_vgg(), bins=1), ValueError, "bins", "at least 2"),
    case(
        "max-points-2", lambda: watch(tiny_vgg(), max_points=2), ValueError, "max_points", "got 2"
    ),
    case("mask-sample", lambda: watch(tiny_vgg(), mask_sample=(0, 4)), ValueError, "(8, 256)"),
    case("near-zero-neg", lambda: watch(tiny_vgg(), near_zero=-1), ValueError, "near_zero", "-1"),
    case(
        "near-zero-str", lambda: watch(tiny_vgg(), near_zero="small"), ValueError, "'small'", "1e-3"
    ),
    case("model-str", lambda: watch("vgg"), TypeError, "nn.Module", "str"),
    case(
        "series-unknown-layer",
        lambda: watch(tiny_vgg()).series("nope", "mean"),
        KeyError,
        "'nope'",
        "watched layers",
    ),
    case(
        "series-unknown-stat",
        lambda: watch(tiny_vgg()).series("head", "median"),
        KeyError,
        "'median'",
        "records",
    ),
]


@table(WATCH_CASES)
def test_watch_refuses(c: Case) -> None:
    check(c)


# ---- vizlab.train.Run and vizlab.experiments ----------------------------------------------------
def started_twice() -> None:
    def work(*, stop, callbacks):
        return None

    run = Run(work).start()
    run.join(5)
    run.start()


def run_experiment(topic: str):
    from vizlab import experiments  # imported here: the sections change often

    return experiments.run(topic)


RUN_CASES = [
    case("target-not-callable", lambda: Run(3), TypeError, "3", "fit or sweep"),
    case("target-without-stop", lambda: Run(lambda x: x, 1), TypeError, "stop", "callbacks"),
    case(
        "own-stop", lambda: Run(fit, small_mlp(), digits(), stop=object()), TypeError, "run.stop()"
    ),
    case(
        "unknown-event",
        lambda: Run(fit, small_mlp(), digits()).on("tick", print),
        ValueError,
        "'tick'",
        "step, epoch",
    ),
    case(
        "listener-not-callable",
        lambda: Run(fit, small_mlp(), digits()).on("step", 3),
        TypeError,
        "3",
        "callable",
    ),
    case("started-twice", started_twice, RuntimeError, "already started", "new Run"),
    case("experiment-topic", lambda: run_experiment("nope"), ValueError, "'nope'", "available"),
]


@table(RUN_CASES)
def test_run_and_experiments_refuse(c: Case) -> None:
    check(c)


# ---- the vizlab command line ---------------------------------------------------------------
CLI_CASES = [
    (["figures", "--topic", "nope"], ("'nope'", "available")),
    (["app", "nope"], ("'nope'", "available")),
    (["figures", "--data", "imagenet"], ("'imagenet'", "choose one of")),
    (["lab", "nope.ipynb", "--no-browser"], ("'nope.ipynb'", "choose one of")),
    (["figures", "--device", "tpu"], ("'tpu'", "'cpu'")),
    (["figures", "--topic", "overfitting", "--topic", "nope"], ("'nope'", "available")),
]


@pytest.mark.parametrize(
    "argv, words", CLI_CASES, ids=lambda v: "-".join(v) if isinstance(v, list) else ""
)
def test_cli_refuses_with_one_line(argv, words, capsys, tmp_path) -> None:
    if argv[0] == "figures":
        argv = [*argv, "--out", str(tmp_path)]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith(f"vizlab {argv[0]}:")
    for word in words:
        assert word in err
    assert not list(tmp_path.iterdir()), "a refused command wrote files"


ARGPARSE_CASES = [
    (["figures", "--seed", "many"], "'many'"),
    (["figures", "--scale", "huge"], "'huge'"),
    (["figures", "--epochs", "3"], "--epochs"),
    (["nope"], "'nope'"),
]


@pytest.mark.parametrize(
    "argv, word",
    ARGPARSE_CASES,
    ids=["seed-not-int", "scale-unknown", "unknown-option", "unknown-command"],
)
def test_cli_argument_errors_are_argparse_usage_errors(argv, word, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and word in err and "usage: vizlab" in err


def test_suite_size() -> None:
    """The sweep stays systematic: every entry point has a table of its own, ids unique."""
    tables = [DATA, MODEL_CASES, NN_CASES, AUG_CASES, FIT_CASES, SWEEP_CASES, WATCH_CASES]
    assert all(len(t) >= 10 for t in tables)
    for t in tables:
        ids = [c.id for c in t]
        assert len(ids) == len(set(ids)), "duplicate case ids"
