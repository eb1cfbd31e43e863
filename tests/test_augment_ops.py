"""Each augmentation op checked against its definition (curriculum D-AUG, D-RA)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vizlab import augment as A
from vizlab.augment import functional as AF
from vizlab.augment.randaugment import OPS


def images(b=6, c=3, h=16, w=16, seed=0):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_flip_is_exact_mirror():
    x = images(b=32)
    op = A.Flip(p=0.5)
    out = op(x, generator=gen())
    applied = op.last_params.applied
    assert 0 < applied.sum() < 32  # both cases occur
    assert torch.equal(out[applied], x[applied].flip(-1))
    assert torch.equal(out[~applied], x[~applied])


def test_vflip_is_exact_top_bottom_mirror():
    x = images(b=4)
    out = A.VFlip(p=1.0)(x)
    assert torch.equal(out, x.flip(-2))


def test_crop_is_a_shifted_window_of_the_padded_image():
    x = images(b=8, h=12, w=10)
    op = A.Crop(padding=3)
    out = op(x, generator=gen(1))
    padded = F.pad(x, (3, 3, 3, 3))
    offsets = op.last_params.offset
    assert offsets.shape == (8, 2) and offsets.min() >= 0 and offsets.max() <= 6
    for i, (r, c) in enumerate(offsets.tolist()):
        assert torch.equal(out[i], padded[i, :, r : r + 12, c : c + 10])


def test_translate_by_whole_pixels_is_a_shift_with_zero_fill():
    x = images(b=2, h=9, w=11)
    params = A.affine.TranslateParams(
        applied=torch.tensor([True, True]), shift=torch.tensor([[2.0, -1.0], [-3.0, 0.0]])
    )
    out = A.Translate().replay(x, params)
    expected = torch.zeros_like(x)
    expected[0, :, 0:8, 2:11] = x[0, :, 1:9, 0:9]  # right by 2, up by 1
    expected[1, :, :, 0:8] = x[1, :, :, 3:11]  # left by 3
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_rotate_quarter_turn_is_counter_clockwise_rot90():
    x = images(b=2, h=7, w=7)
    params = A.affine.RotateParams(
        applied=torch.tensor([True, True]), angle=torch.tensor([90.0, -90.0])
    )
    out = A.Rotate().replay(x, params)
    # counter-clockwise on screen: the top-right corner goes to the top-left
    torch.testing.assert_close(out[0], torch.rot90(x[0], 1, dims=(1, 2)), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1], torch.rot90(x[1], -1, dims=(1, 2)), atol=1e-5, rtol=0)
    assert torch.allclose(out[0, :, 0, 0], x[0, :, 0, 6], atol=1e-5)


def test_rotate_non_square_keeps_angles_true():
    # 180 degrees on a 6x10 image is an exact double flip, whatever the aspect ratio
    x = images(b=1, h=6, w=10)
    params = A.affine.RotateParams(applied=torch.tensor([True]), angle=torch.tensor([180.0]))
    out = A.Rotate().replay(x, params)
    torch.testing.assert_close(out, x.flip(-1).flip(-2), atol=1e-5, rtol=0)


def test_shear_x_moves_pixels_sideways_in_proportion_to_height():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 6, 4] = 1.0  # two rows below the centre pixel (4, 4)
    params = A.affine.ShearParams(applied=torch.tensor([True]), shear=torch.tensor([[1.0, 0.0]]))
    out = A.Shear().replay(x, params)
    assert out[0, 0, 6, 6] == pytest.approx(1.0, abs=1e-5)  # x' = x + 1 * y = +2
    assert out.sum() == pytest.approx(1.0, abs=1e-4)


def test_brightness_is_scaling_and_stays_in_range():
    x = images(b=16)
    op = A.Brightness(strength=0.9)
    out = op(x, generator=gen(2))
    f = op.last_params.factor.view(-1, 1, 1, 1)
    torch.testing.assert_close(out, (x * f).clamp(0, 1))
    assert out.min() >= 0 and out.max() <= 1


def test_contrast_scales_deviation_from_mean_grey_and_stays_in_range():
    x = images(b=16)
    op = A.Contrast(strength=0.9)
    out = op(x, generator=gen(3))
    grey = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    mean = grey.mean(dim=(1, 2, 3), keepdim=True)
    f = op.last_params.factor.view(-1, 1, 1, 1)
    torch.testing.assert_close(out, (mean + f * (x - mean)).clamp(0, 1))
    assert out.min() >= 0 and out.max() <= 1


def test_color_saturation_zero_is_grey_and_full_turn_hue_is_identity():
    x = images(b=2)
    grey = AF.saturation(x, torch.zeros(2))
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    torch.testing.assert_close(AF.hue(x, torch.ones(2)), x, atol=1e-5, rtol=0)
    shifted = AF.hue(x, torch.full((2,), 0.5))
    assert not torch.allclose(shifted, x, atol=1e-2)
    # hue rotation keeps luma where nothing was clipped
    luma = AF.grayscale(x)
    inside = ((shifted > 0) & (shifted < 1)).all(dim=1, keepdim=True)
    assert torch.allclose(AF.grayscale(shifted)[inside], luma[inside], atol=1e-4)


def test_cutout_fills_exactly_the_recorded_box():
    x = images(b=10, h=12, w=20) * 0.5 + 0.5  # nothing is 0 before
    op = A.Cutout(size=0.5)
    out = op(x, generator=gen(4))
    for i, (t, left, b, r) in enumerate(op.last_params.box.tolist()):
        assert 0 <= t < b <= 12 and 0 <= left < r <= 20
        inside = torch.zeros(12, 20, dtype=torch.bool)
        inside[t:b, left:r] = True
        assert (out[i][:, inside] == 0).all()
        assert torch.equal(out[i][:, ~inside], x[i][:, ~inside])


def test_equalize_autocontrast_posterize_solarize_follow_their_definitions():
    x = torch.full((1, 1, 4, 4), 0.2)
    x[..., 2:, :] = 0.4
    torch.testing.assert_close(AF.equalize(x), (x > 0.3).float())  # two levels -> 0 and 1
    y = images(b=3) * 0.5 + 0.2
    ac = AF.autocontrast(y)
    assert torch.allclose(ac.amin(dim=(2, 3)), torch.zeros(3, 3))
    assert torch.allclose(ac.amax(dim=(2, 3)), torch.ones(3, 3))
    post = AF.posterize(y, torch.full((3,), 4))
    levels = (post * 255).round()
    assert torch.equal(levels % 16, torch.zeros_like(levels))
    assert torch.equal(AF.solarize(y, torch.zeros(3)), 1 - y)
    assert torch.equal(AF.solarize(y, torch.full((3,), 256 / 255)), y)


def test_randaugment_registry_has_the_14_standard_ops():
    assert list(OPS) == [
        "identity", "autocontrast", "equalize", "rotate", "solarize", "color", "posterize",
        "contrast", "brightness", "sharpness", "shear_x", "shear_y", "translate_x",
        "translate_y",
    ]  # fmt: skip
    sign = torch.tensor([-1.0, 1.0])
    assert OPS["rotate"].value(30, sign).tolist() == [-30.0, 30.0]
    assert OPS["brightness"].value(30, sign).tolist() == pytest.approx([0.1, 1.9])
    assert OPS["posterize"].value(30, sign).tolist() == [4.0, 4.0]
    assert OPS["posterize"].value(0, sign).tolist() == [8.0, 8.0]
    assert OPS["shear_x"].value(15, sign).tolist() == pytest.approx([-0.15, 0.15])
    assert OPS["translate_y"].value(30, sign).tolist() == pytest.approx([-0.45, 0.45])


@pytest.mark.parametrize("n", [0, 1, 3])
def test_randaugment_applies_exactly_n_recorded_ops_at_magnitude_m(n):
    x = images(b=24)
    op = A.RandAugment(n=n, m=17)
    out = op(x, generator=gen(5))
    params = op.last_params
    assert params.ops.shape == (24, n) and params.magnitude == 17
    assert params.applied.all()
    expected = x.clone()
    for i in range(24):
        img = x[i : i + 1]
        for k, name in enumerate(params.op_names(i)):
            v = params.value[i, k : k + 1]
            sign = torch.sign(v - OPS[name].base) if OPS[name].signed else torch.ones(1)
            sign = torch.where(sign == 0, torch.ones(1), sign)
            assert torch.allclose(v, OPS[name].value(17, sign))  # magnitude M respected
            img = OPS[name].fn(img, v)
        expected[i] = img[0]
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    if n == 0:
        assert torch.equal(out, x)
    else:
        assert len(op.describe(params, 0).split(", ")) == n


def test_same_seed_same_output_and_global_rng_seeding():
    x = images(b=8)
    op = A.Compose(A.Flip(), A.Crop(), A.Rotate(), A.Color(), A.RandAugment(2, 9))
    a = op(x, generator=gen(7))
    b = op(x, generator=gen(7))
    c = op(x, generator=gen(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(11)
    d = op(x)
    torch.manual_seed(11)
    e = op(x)
    assert torch.equal(d, e)


def test_describe_tells_what_happened():
    x = images(b=4)
    op = A.Compose(A.Flip(p=1.0), A.Crop(padding=2), A.Rotate(degrees=20))
    op(x, generator=gen(9))
    text = op.describe(op.last_params, 0)
    assert text.startswith("flip, crop (") and "rotate" in text and "°" in text
    assert A.Flip(p=0.0).describe(A.Flip(p=0.0).sample_params(x), 0) == ""
