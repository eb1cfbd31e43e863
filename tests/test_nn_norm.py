"""Norm against torch's own normalization functions and modules (the G rows of the curriculum)."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vizlab.nn import Norm, resolve_norm

N, C, H, W = 6, 8, 5, 4
DT = torch.float64


def _x(*shape: int, seed: int = 0, dtype: torch.dtype = DT) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # A non-zero mean and a non-unit scale, so that wrong statistics show up.
    return (torch.randn(*shape, generator=g, dtype=dtype) * 3 + 1.5).requires_grad_(True)


def _randomize_affine(m: nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))


def _grads(y: torch.Tensor, inputs: list[torch.Tensor], seed: int = 2) -> tuple:
    v = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    return torch.autograd.grad((y * v).sum(), inputs)


def _assert_close_all(a, b, **kw) -> None:
    assert len(a) == len(b)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, **kw)


# ---- the four classic choices against torch's functional references ---------------------

# name -> (Norm kwargs, reference(x, weight, bias))
FUNCTIONAL = {
    "layer_element": (
        dict(axes=("C", "H", "W"), affine="element", spatial=(H, W)),
        lambda x, w, b: F.layer_norm(x, (C, H, W), w, b),
    ),
    "layer_channel": (dict(axes="CHW"), lambda x, w, b: F.group_norm(x, 1, w, b)),
    "instance": (dict(axes=("H", "W")), lambda x, w, b: F.instance_norm(x, weight=w, bias=b)),
    "group": (dict(axes=("C", "H", "W"), groups=4), lambda x, w, b: F.group_norm(x, 4, w, b)),
    # per-position layer norm (ConvNeXt): layer_norm over C of the channels-last view
    "position": (
        dict(axes=("C",)),
        lambda x, w, b: F.layer_norm(x.permute(0, 2, 3, 1), (C,), w, b).permute(0, 3, 1, 2),
    ),
}


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
@pytest.mark.parametrize("training", [True, False])
def test_per_example_norms_match_torch(name: str, fused: bool, training: bool) -> None:
    kw, ref = FUNCTIONAL[name]
    m = Norm(C, fused=fused, **kw).to(DT).train(training)
    _randomize_affine(m)
    assert m.running_mean is None  # no "N" among the axes: no running statistics
    x = _x(N, C, H, W)
    y = m(x)
    y_ref = ref(x, m.weight, m.bias)
    torch.testing.assert_close(y, y_ref)
    inputs = [x, m.weight, m.bias]
    _assert_close_all(_grads(y, inputs), _grads(y_ref, inputs))


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_batch_norm_matches_torch_over_several_steps(fused: bool, momentum: float | None) -> None:
    m = Norm.batch(C, momentum=momentum, fused=fused).to(DT)
    _randomize_affine(m)
    rm, rv = torch.zeros(C, dtype=DT), torch.ones(C, dtype=DT)
    for step in range(4):
        x = _x(N, C, H, W, seed=step)
        y = m(x)
        # F.batch_norm has no cumulative mode; emulate torch's module, which passes 1/steps.
        mom = 1.0 / (step + 1) if momentum is None else momentum
        y_ref = F.batch_norm(x, rm, rv, m.weight, m.bias, training=True, momentum=mom)
        torch.testing.assert_close(y, y_ref)
        inputs = [x, m.weight, m.bias]
        _assert_close_all(_grads(y, inputs, seed=step), _grads(y_ref, inputs, seed=step))
        torch.testing.assert_close(m.running_mean, rm)
        torch.testing.assert_close(m.running_var, rv)
    assert int(m.num_batches_tracked) == 4
    m.eval()
    x = _x(N, C, H, W, seed=9)
    y = m(x)
    y_ref = F.batch_norm(x, rm, rv, m.weight, m.bias, training=False)
    torch.testing.assert_close(y, y_ref)
    _assert_close_all(_grads(y, [x, m.weight]), _grads(y_ref, [x, m.weight]))
    assert m.last_mean.data_ptr() == m.running_mean.data_ptr()  # eval uses the running stats


# ---- against torch's modules, float32, train and eval ------------------------------------


def _module_pairs():
    return {
        "BatchNorm2d": (lambda: Norm.batch(C), lambda: nn.BatchNorm2d(C), (N, C, H, W)),
        "BatchNorm1d": (lambda: Norm.batch(C), lambda: nn.BatchNorm1d(C), (N, C)),
        "BatchNorm1d_axesN": (lambda: Norm(C, ("N",)), lambda: nn.BatchNorm1d(C), (N, C)),
        "LayerNorm": (
            lambda: Norm.layer(C, affine="element", spatial=(H, W)),
            lambda: nn.LayerNorm([C, H, W]),
            (N, C, H, W),
        ),
        "LayerNorm1d": (lambda: Norm(C, ("C",), affine="element"), lambda: nn.LayerNorm(C), (N, C)),
        "InstanceNorm2d": (
            lambda: Norm.instance(C),
            lambda: nn.InstanceNorm2d(C, affine=True),
            (N, C, H, W),
        ),
        "GroupNorm": (lambda: Norm.group(C, 2), lambda: nn.GroupNorm(2, C), (N, C, H, W)),
    }


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("name", sorted(_module_pairs()))
def test_matches_torch_modules(name: str, fused: bool) -> None:
    make_ours, make_ref, shape = _module_pairs()[name]
    ours, ref = make_ours(), make_ref()
    ours.fused = fused
    _randomize_affine(ref)
    with torch.no_grad():
        for p, q in zip(ours.parameters(), ref.parameters()):
            p.copy_(q)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    for step in range(3):
        x = _x(*shape, seed=step, dtype=torch.float32)
        y, y_ref = ours(x), ref(x)
        torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-4)
        inputs = [x, *ours.parameters()]
        g = _grads(y, inputs)
        g_ref = _grads(y_ref, [x, *ref.parameters()])
        _assert_close_all(g, g_ref, atol=1e-4, rtol=1e-4)
    if isinstance(ref, nn.modules.batchnorm._BatchNorm):
        torch.testing.assert_close(ours.running_mean, ref.running_mean)
        torch.testing.assert_close(ours.running_var, ref.running_var)
    ours.eval()
    ref.eval()
    x = _x(*shape, seed=7, dtype=torch.float32)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-4)


def test_fused_and_plain_paths_agree_in_float32() -> None:
    x = _x(32, C, 8, 8, dtype=torch.float32)
    for xin in (x, x.to(memory_format=torch.channels_last)):
        for axes, groups in [("NHW", None), ("CHW", None), ("HW", None), ("CHW", 4), ("C", None)]:
            a = Norm(C, axes, groups=groups)
            b = Norm(C, axes, groups=groups, fused=False)
            _randomize_affine(a)
            b.load_state_dict(a.state_dict())
            ya, yb = a(xin), b(xin)
            torch.testing.assert_close(ya, yb, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(a.last_mean, b.last_mean)
            torch.testing.assert_close(a.last_var, b.last_var, atol=1e-4, rtol=1e-5)
            ga, gb = _grads(ya, [x, a.weight]), _grads(yb, [x, b.weight])
            _assert_close_all(ga, gb, atol=1e-4, rtol=1e-4)


# ---- any other choice against a direct mean/var computation ------------------------------

OTHER = [
    (("N", "C", "H", "W"), None, None),
    (("N", "C", "H", "W"), 2, None),
    (("N", "C"), None, (H, W)),
    (("N",), None, (H, W)),
    (("N", "W"), None, (H, W)),
    (("W",), None, None),
    (("C",), None, None),
    (("C", "H"), 4, None),
    (("H", "W"), None, None),
]


def _direct(x: torch.Tensor, axes: tuple[str, ...], groups: int | None):
    g = groups or 1
    x5 = x.reshape(x.shape[0], g, C // g, *x.shape[2:])
    dims = tuple({"N": 0, "C": 2, "H": 3, "W": 4}[a] for a in axes)
    mean = x5.mean(dims, keepdim=True)
    var = ((x5 - mean) ** 2).mean(dims, keepdim=True)
    count = x5.numel() // mean.numel()
    return mean, var, count, x5


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize(("axes", "groups", "spatial"), OTHER)
def test_any_axes_choice_matches_direct_statistics(axes, groups, spatial, fused) -> None:
    m = Norm(C, axes, groups=groups, spatial=spatial, affine=None, momentum=0.5, fused=fused)
    m = m.to(DT)
    assert (m.running_mean is not None) == ("N" in axes)
    x = _x(N, C, H, W)
    y = m(x)
    mean, var, count, x5 = _direct(x, axes, groups)
    torch.testing.assert_close(y, ((x5 - mean) / torch.sqrt(var + 1e-5)).reshape(x.shape))
    torch.testing.assert_close(m.last_mean.reshape(-1), mean.detach().reshape(-1))
    torch.testing.assert_close(m.last_var.reshape(-1), var.detach().reshape(-1))
    if "N" in axes:
        # running = 0.5 * initial + 0.5 * batch, with the unbiased variance
        torch.testing.assert_close(m.running_mean.reshape(-1), 0.5 * mean.detach().reshape(-1))
        unbiased = var.detach().reshape(-1) * count / (count - 1)
        torch.testing.assert_close(m.running_var.reshape(-1), 0.5 + 0.5 * unbiased)
        m.eval()
        x2 = _x(N, C, H, W, seed=3)
        view = mean.shape
        expected = (x2.reshape(x5.shape) - m.running_mean.reshape(view)) / torch.sqrt(
            m.running_var.reshape(view) + 1e-5
        )
        torch.testing.assert_close(m(x2), expected.reshape(x2.shape))


def test_statistics_shapes() -> None:
    x = torch.randn(N, C, H, W)
    cases = {
        Norm.batch(C): (C,),
        Norm.layer(C): (N,),
        Norm.instance(C): (N, C),
        Norm.group(C, 4): (N, 4),
        Norm(C, ("N", "C"), spatial=(H, W)): (H, W),
        Norm(C, "NCHW"): (),
    }
    for m, shape in cases.items():
        m(x)
        assert m.last_mean.shape == shape, m
        assert m.last_var.shape == shape, m
        if m.running_mean is not None:
            assert m.running_mean.shape == shape


def test_gradcheck_on_an_unusual_choice() -> None:
    m = Norm(3, ("N", "C"), affine="element", spatial=(2, 3), fused=False).to(DT)
    _randomize_affine(m)
    x = torch.randn(4, 3, 2, 3, dtype=DT, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: m(t), (x,))


# ---- parameters, presets, repr ---------------------------------------------------------


def test_layer_norm_with_elementwise_affine_has_2CHW_parameters() -> None:
    counts = {
        "element": 2 * C * H * W,
        "channel": 2 * C,
        None: 0,
    }
    for affine, expected in counts.items():
        m = Norm.layer(C, affine=affine, spatial=(H, W))
        assert sum(p.numel() for p in m.parameters()) == expected


def test_group_preset_default_groups() -> None:
    assert Norm.group(16).groups == 8
    assert Norm.group(12).groups == 4
    assert Norm.group(6).groups == 2
    assert Norm.group(5).groups == 1


def test_preset_names_and_repr() -> None:
    assert Norm.batch(C).preset == "batch"
    assert Norm.layer(C).preset == "layer"
    assert Norm.instance(C).preset == "instance"
    assert Norm.group(C, 2).preset == "group"
    assert Norm(C, "NC", spatial=(2, 2)).preset is None
    r = repr(Norm.group(C, 2, affine="channel"))
    assert "axes=('C', 'H', 'W')" in r and "groups=2" in r and "affine='channel'" in r
    assert "momentum" not in r  # no running statistics, so momentum plays no part


def test_axes_accept_strings_and_any_order() -> None:
    assert Norm(C, "hwn").axes == ("N", "H", "W")
    assert Norm(C, ["W", "N", "H"]).axes == ("N", "H", "W")


# ---- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(axes=("N", "X")), "unknown axis 'X'.*NCHW"),
        (dict(axes=("N", "N")), "names an axis twice"),
        (dict(axes=()), "axes is empty"),
        (dict(axes=""), "axes is empty"),
        (
            dict(axes=("C", "H", "W"), groups=3),
            r"groups=3 does not divide channels=8.*\[1, 2, 4, 8\]",
        ),
        (dict(axes=("N", "H", "W"), groups=2), "add 'C' to axes"),
        (dict(affine="elementwise"), "affine must be 'channel', 'element' or None"),
        (dict(momentum=1.5), "momentum must be in"),
        (dict(eps=0.0), "eps must be positive"),
        (dict(spatial=(4,)), "spatial must be"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Norm(C, **kwargs)


def test_bad_channels() -> None:
    with pytest.raises(ValueError, match="channels must be a positive int"):
        Norm(0)


def test_wrong_input_rank_and_channels() -> None:
    m = Norm.batch(C)
    with pytest.raises(ValueError, match=r"expected a 4-D .* or 2-D .*got a 3-D input"):
        m(torch.randn(2, C, 5))
    with pytest.raises(ValueError, match="expected 8 channels .*got 3"):
        m(torch.randn(2, 3, 5, 5))


def test_spatial_state_needs_spatial() -> None:
    with pytest.raises(ValueError, match=r"needs spatial=\(H, W\).*pass spatial=\(5, 4\)"):
        Norm(C, ("N", "C"))(torch.randn(N, C, H, W))
    with pytest.raises(ValueError, match=r"built for spatial size \(5, 4\).*H, W = 3, 3"):
        Norm.layer(C, affine="element", spatial=(H, W))(torch.randn(N, C, 3, 3))
    # Without spatial, such a layer still serves 2-D (N, F) inputs.
    assert Norm(C, ("N",))(torch.randn(N, C)).shape == (N, C)


def test_batch_of_one_in_training_is_refused() -> None:
    with pytest.raises(ValueError, match="more than one value per statistic"):
        Norm(C, ("N",))(torch.randn(1, C))
    m = Norm.batch(C).eval()
    assert m(torch.randn(1, C)).shape == (1, C)


# ---- resolve_norm -------------------------------------------------------------------------


def test_resolve_norm_spellings() -> None:
    assert resolve_norm(None) is None
    assert resolve_norm("none") is None
    cases = {
        "batch": ("N", "H", "W"),
        "layer": ("C", "H", "W"),
        "instance": ("H", "W"),
        "group": ("C", "H", "W"),
        ("N", "H", "W"): ("N", "H", "W"),
        "NC": ("N", "C"),
        "hw": ("H", "W"),
    }
    for spec, axes in cases.items():
        m = resolve_norm(spec)(C, (H, W))
        assert isinstance(m, Norm) and m.axes == axes, spec
        assert m(torch.randn(N, C, H, W)).shape == (N, C, H, W)
    assert resolve_norm("group")(C, None).groups == 8
    assert resolve_norm(Norm.group)(12).groups == 4
    m = resolve_norm(functools.partial(Norm, axes="HW", affine=None))(C, (H, W))
    assert m.axes == ("H", "W") and m.spatial == (H, W) and m.weight is None
    m = resolve_norm(functools.partial(Norm.layer, affine="element"))(C, (H, W))
    assert sum(p.numel() for p in m.parameters()) == 2 * C * H * W
    m = resolve_norm(nn.BatchNorm2d)(C, (H, W))  # no spatial keyword: not passed
    assert isinstance(m, nn.BatchNorm2d) and m.num_features == C
    m = resolve_norm(lambda c: nn.GroupNorm(2, c))(C, (H, W))
    assert isinstance(m, nn.GroupNorm)


@pytest.mark.parametrize("spec", ["batchnorm", 3, ("N", "Q"), ""])
def test_resolve_norm_rejects_unknown(spec) -> None:
    with pytest.raises(ValueError, match="unknown|NCHW|Valid choices"):
        resolve_norm(spec)


def test_resolve_norm_rejects_module_instances() -> None:
    with pytest.raises(ValueError, match="module instance; pass a factory"):
        resolve_norm(nn.BatchNorm2d(4))


def test_fused_path_is_taken_for_the_classic_choices() -> None:
    # Same kernel, same bits: equality (not closeness) shows the dispatch happened.
    x = _x(N, C, H, W, dtype=torch.float32)
    with torch.no_grad():
        m = Norm.batch(C)
        assert torch.equal(m(x), F.batch_norm(x, None, None, m.weight, m.bias, training=True))
        m = Norm.group(C, 4)
        assert torch.equal(m(x), F.group_norm(x, 4, m.weight, m.bias))
        m = Norm.instance(C, affine=None)
        assert torch.equal(m(x), F.group_norm(x, C))
        m = Norm.layer(C, affine="element", spatial=(H, W))
        assert torch.equal(m(x), F.layer_norm(x, (C, H, W), m.weight, m.bias))
        m = Norm(C, "C", affine=None)
        assert torch.equal(m(x), F.layer_norm(x.permute(0, 2, 3, 1), (C,)).permute(0, 3, 1, 2))
