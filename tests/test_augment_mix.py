"""MixUp and CutMix: images and soft labels follow their formulas (curriculum D-MIX, D-CUT)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vizlab import augment as A
from vizlab.data.dataset import Dataset, Split
from vizlab.train import fit


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_mixup_images_and_labels_follow_the_formula():
    x = torch.rand(16, 3, 8, 8, generator=gen(1))
    y = torch.randint(0, 5, (16,), generator=gen(2))
    op = A.MixUp(alpha=0.4, num_classes=5)
    out, soft = op(x, y, generator=gen(3))
    p = op.last_params
    lam, perm = p.lam, p.partner
    assert sorted(perm.tolist()) == list(range(16))  # a permutation of the batch
    assert ((lam >= 0) & (lam <= 1)).all() and lam.std() > 0  # one lam per example
    onehot = F.one_hot(y, 5).float()
    expected = lam[:, None] * onehot + (1 - lam[:, None]) * onehot[perm]
    torch.testing.assert_close(soft, expected)
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(16))
    lam4 = lam.view(-1, 1, 1, 1)
    torch.testing.assert_close(out, lam4 * x + (1 - lam4) * x[perm])


def test_mixup_takes_soft_labels_and_infers_the_class_count():
    x = torch.rand(6, 1, 8, 8)
    y = torch.softmax(torch.randn(6, 4), dim=1)
    op = A.MixUp(alpha=1.0)
    _, soft = op(x, y, generator=gen())
    p = op.last_params
    torch.testing.assert_close(soft, p.lam[:, None] * y + (1 - p.lam[:, None]) * y[p.partner])
    torch.testing.assert_close(soft.sum(1), torch.ones(6))


def test_cutmix_label_weight_is_the_pasted_area_fraction():
    b, h, w = 12, 10, 14
    # every image one distinct grey level, so each pixel tells which image it came from
    x = (torch.arange(b, dtype=torch.float32) / b + 0.01).view(b, 1, 1, 1).expand(b, 3, h, w)
    y = torch.arange(b) % 4
    op = A.CutMix(alpha=1.0, num_classes=4)
    out, soft = op(x.contiguous(), y, generator=gen(4))
    p = op.last_params
    assert p.box.shape == (b, 4)
    checked = 0
    for i in range(b):
        j = int(p.partner[i])
        from_partner = (out[i, 0] == x[j, 0, 0, 0]).float().mean()
        t, left, bottom, right = p.box[i].tolist()
        area = (bottom - t) * (right - left) / (h * w)
        assert float(p.lam[i]) == pytest.approx(1 - area, abs=1e-6)
        if j != i:
            checked += 1
            assert float(from_partner) == pytest.approx(area, abs=1e-6)
            pasted = out[i, :, t:bottom, left:right]
            assert (pasted == x[j, 0, 0, 0]).all()  # the recorded box is the pasted one
        expected = p.lam[i] * F.one_hot(y[i], 4) + (1 - p.lam[i]) * F.one_hot(y[j], 4)
        torch.testing.assert_close(soft[i], expected.float())
    assert checked > 0
    torch.testing.assert_close(soft.sum(1), torch.ones(b))


def test_cutmix_boxes_are_clipped_at_the_border():
    x = torch.rand(200, 1, 8, 8)
    op = A.CutMix(alpha=1.0, num_classes=2)
    op(x, torch.zeros(200, dtype=torch.long), generator=gen(5))
    box = op.last_params.box
    assert (box[:, :2] >= 0).all() and (box[:, 2] <= 8).all() and (box[:, 3] <= 8).all()


@pytest.mark.parametrize("cls", [A.MixUp, A.CutMix])
def test_mixing_in_eval_returns_the_same_objects(cls):
    x, y = torch.rand(3, 3, 8, 8), torch.tensor([0, 1, 2])
    op = cls(1.0, num_classes=3).eval()
    out, labels = op(x, y)
    assert out is x and labels is y


@pytest.mark.parametrize("alpha", [0, -1.0])
def test_bad_alpha_is_rejected(alpha):
    with pytest.raises(ValueError, match="alpha must be a number > 0"):
        A.MixUp(alpha)
    with pytest.raises(ValueError, match="alpha must be a number > 0"):
        A.CutMix(alpha)


def test_integer_labels_need_num_classes():
    with pytest.raises(ValueError, match="pass num_classes"):
        A.MixUp(1.0)(torch.rand(2, 1, 4, 4), torch.tensor([0, 1]))


def test_compose_with_a_mixer_mixes_labels_and_needs_them():
    op = A.Compose(A.Flip(), A.Crop(padding=1), A.CutMix(1.0, num_classes=3))
    assert op.mixes_labels and not A.Compose(A.Flip()).mixes_labels
    x = torch.rand(5, 3, 8, 8)
    with pytest.raises(ValueError, match=r"call it as aug\(x, y\)"):
        op(x)
    out, soft = op(x, torch.tensor([0, 1, 2, 0, 1]), generator=gen(6))
    assert soft.shape == (5, 3) and len(op.last_params.stages) == 3
    again, soft2 = op.replay(x, op.last_params, torch.tensor([0, 1, 2, 0, 1]))
    assert torch.equal(again, out) and torch.equal(soft2, soft)


def test_fit_trains_on_mixed_soft_labels():
    g = gen(7)
    x = torch.rand(64, 1, 8, 8, generator=g)
    y = torch.randint(0, 3, (64,), generator=g)
    data = Dataset("toy", ["a", "b", "c"], Split(x, y), Split(x[:16], y[:16]), Split(x[:0], y[:0]))
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    aug = A.Compose(A.Flip(), A.MixUp(0.4, num_classes=3))
    history = fit(model, data, epochs=1, batch_size=16, augment=aug, device="cpu")
    assert len(history.epochs) == 1 and not history.diverged
    assert aug.last_params is not None and len(aug.last_params.stages) == 2
