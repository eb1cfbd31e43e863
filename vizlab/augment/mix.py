"""MixUp (Zhang et al. 2018) and CutMix (Yun et al. 2019): mix images *and* labels.

Both pair every example i with a partner ``partner[i]`` (a random permutation of the batch)
and give it the soft label ``lam[i] * onehot(y[i]) + (1 - lam[i]) * onehot(y[partner[i]])``.
MixUp blends whole images with the same weight; CutMix pastes a box of the partner into the
image, and its ``lam`` is the fraction of pixels that stayed the example's own *after* the
box was clipped to the image, so the label says exactly how much of each picture is there.

``lam`` is drawn per example from Beta(alpha, alpha). Both ops set ``mixes_labels = True``:
the training loop then calls ``x, y = augment(x, y)`` and trains on the soft labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vizlab.augment.base import Params, check_images, check_probability, coin
from vizlab.augment.cutout import box_mask, random_boxes

__all__ = ["MixUp", "CutMix", "MixParams", "soft_labels"]


@dataclass
class MixParams(Params):
    """Record of a mixing op.

    Attributes:
        lam: (B,) weight of the example's own image and label (1 where skipped).
        partner: (B,) int64 index of the example mixed in (itself where skipped).
        box: (B, 4) int64 pasted box (top, left, bottom, right) for CutMix, None for MixUp.
    """

    lam: torch.Tensor
    partner: torch.Tensor
    box: torch.Tensor | None = None


def soft_labels(y: torch.Tensor, num_classes: int | None) -> torch.Tensor:
    """Class indices (B,) as one-hot float (B, K), or soft labels (B, K) as they are."""
    if y.ndim == 2:
        return y.to(torch.float32)
    if y.ndim != 1 or y.is_floating_point():
        raise ValueError(
            f"labels must be class indices (B,) int or soft labels (B, K), got "
            f"shape {tuple(y.shape)} dtype {y.dtype}"
        )
    if num_classes is None:
        raise ValueError(
            "integer labels need the number of classes to build soft labels: "
            "pass num_classes=... (e.g. MixUp(1.0, num_classes=data.num_classes))"
        )
    # Checked on the CPU only: on a GPU the check would cost a sync every step, and fit
    # has already checked the dataset's labels against the model before training.
    if y.device.type == "cpu" and y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"labels range over [{int(y.min())}, {int(y.max())}] but num_classes={num_classes}: "
            f"class indices must lie in [0, {num_classes - 1}]; pass num_classes=data.num_classes"
        )
    return F.one_hot(y.long(), num_classes).to(torch.float32)


def _beta(n: int, alpha: float, device, generator: torch.Generator | None) -> torch.Tensor:
    """(n,) Beta(alpha, alpha) draws, seeded from the torch generator (or global RNG).

    torch's Beta sampler takes no generator, so a seed drawn from the torch RNG drives
    numpy's; the same torch seed therefore gives the same lambdas.
    """
    where = generator.device if generator is not None else "cpu"
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=where))
    lam = np.random.default_rng(seed).beta(alpha, alpha, size=n)
    return torch.as_tensor(lam, dtype=torch.float32, device=device)


class _Mix(nn.Module):
    """Shared plumbing: argument checks, partner draw, label mixing, forward and replay."""

    mixes_labels = True
    name = "mix"

    def __init__(
        self,
        alpha: float = 1.0,
        p: float = 1.0,
        *,
        num_classes: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f"alpha must be a number > 0 (1.0 draws lam uniformly), got {alpha!r}")
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
            raise ValueError(f"num_classes must be a positive int or None, got {num_classes!r}")
        self.alpha = float(alpha)
        self.p = check_probability(p)
        self.num_classes = num_classes
        self.generator = generator
        self.last_params: MixParams | None = None

    def _partner(self, x, applied, generator) -> torch.Tensor:
        b = x.shape[0]
        where = generator.device if generator is not None else x.device
        perm = torch.randperm(b, generator=generator, device=where).to(x.device)
        return torch.where(applied, perm, torch.arange(b, device=x.device))

    def sample_params(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Params:
        check_images(x)
        g = generator if generator is not None else self.generator
        applied = coin(x.shape[0], self.p, device=x.device, generator=g)
        return self._sample(x, applied, g)

    def apply_labels(self, y: torch.Tensor, params: MixParams) -> torch.Tensor:
        """Soft labels ``lam * Y + (1 - lam) * Y[partner]`` with Y the one-hot labels.

        Shape:
            y: (B,) int or (B, K) soft -> (B, K) float, each row summing to 1
        """
        soft = soft_labels(y, self.num_classes).to(params.lam.device)
        lam = params.lam[:, None]
        return lam * soft + (1 - lam) * soft[params.partner]

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mix a training batch; in eval mode return ``(x, y)`` untouched (same objects).

        Shape:
            x: (B, C, H, W), y: (B,) or (B, K) -> ((B, C, H, W), (B, K))
        """
        if not self.training:
            return x, y
        check_images(x)
        if not isinstance(y, torch.Tensor) or y.shape[0] != x.shape[0]:
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ValueError(
                f"{self.name} needs one label per image: x has {x.shape[0]} images, y is {got}; "
                "call it as aug(x, y) with the batch's labels"
            )
        params = self.sample_params(x, generator)
        out, soft = self.apply(x, params), self.apply_labels(y, params)
        self.last_params = params
        return out, soft

    def replay(self, x: torch.Tensor, params: MixParams, y: torch.Tensor | None = None):
        """Mix again as recorded: images only, or ``(images, soft labels)`` if ``y`` given."""
        check_images(x)
        params = params.to(x.device)
        out = self.apply(x, params)
        return out if y is None else (out, self.apply_labels(y, params))

    def describe(self, params: MixParams, i: int) -> str:
        if not bool(params.applied[i]):
            return ""
        return f"{self.name} lam={float(params.lam[i]):.2f} with #{int(params.partner[i])}"

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, p={self.p}, num_classes={self.num_classes}"


class MixUp(_Mix):
    """MixUp: ``x = lam * x + (1 - lam) * x[partner]``, labels mixed the same way.

    Args:
        alpha: Beta(alpha, alpha) parameter, > 0 (small alpha: lam near 0 or 1).
        p: probability of mixing each example.
        num_classes: K, needed when labels are class indices.
        generator: default ``torch.Generator``.
    """

    name = "mixup"

    def _sample(self, x, applied, generator) -> MixParams:
        lam = _beta(x.shape[0], self.alpha, x.device, generator)
        lam = torch.where(applied, lam, torch.ones_like(lam))
        partner = self._partner(x, applied, generator)
        return MixParams(applied=applied, lam=lam, partner=partner)

    def apply(self, x: torch.Tensor, params: MixParams) -> torch.Tensor:
        lam = params.lam.to(x.dtype).view(-1, 1, 1, 1)
        mixed = lam * x + (1 - lam) * x[params.partner]
        return torch.where(params.applied.view(-1, 1, 1, 1), mixed, x)


class CutMix(_Mix):
    """CutMix: paste a box of the partner image; lam = share of the example's own pixels.

    The box has sides ``sqrt(1 - lam0)`` times the image's, with lam0 ~ Beta(alpha, alpha),
    and a uniformly drawn centre; after clipping to the image the recorded ``lam`` is
    recomputed from the box's real area.

    Args:
        alpha, p, num_classes, generator: as in ``MixUp``.
    """

    name = "cutmix"

    def _sample(self, x, applied, generator) -> MixParams:
        b, h, w = x.shape[0], x.shape[2], x.shape[3]
        cut = (1 - _beta(b, self.alpha, x.device, generator)).sqrt()  # side fraction
        sides = torch.stack([(cut * h).round(), (cut * w).round()], dim=1).to(torch.int64)
        box = random_boxes((h, w), sides, applied, generator)
        area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
        lam = 1 - area.to(torch.float32) / (h * w)
        partner = self._partner(x, applied, generator)
        return MixParams(applied=applied, lam=lam, partner=partner, box=box)

    def apply(self, x: torch.Tensor, params: MixParams) -> torch.Tensor:
        mask = box_mask(params.box, x.shape[-2:])  # (B, 1, H, W)
        return torch.where(mask, x[params.partner], x)

    def describe(self, params: MixParams, i: int) -> str:
        text = super().describe(params, i)
        if text:
            t, left, b, r = params.box[i].tolist()
            text += f" box rows {t}:{b} cols {left}:{r}"
        return text
