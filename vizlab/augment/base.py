"""The shape every augmentation shares: sample parameters, apply them, remember them.

An augmentation here is split in two. ``sample_params(x)`` draws the random choices for a
batch (one set per example: flip or not, how far to shift, which angle) and returns them as
a small dataclass of tensors. ``apply(x, params)`` is a pure function of the images and those
choices. Keeping the two apart is what lets a lecture view show *what* happened to each image
and replay it exactly, and what lets the tests check each op against its definition.

Every op is an ``nn.Module`` so it can sit in front of a model: in ``train()`` it augments,
in ``eval()`` it hands back the very object it was given (augmentation is a training-time
layer only).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "Params",
    "Augment",
    "check_images",
    "check_probability",
    "check_nonnegative",
    "uniform",
    "coin",
    "where_applied",
]


@dataclass
class Params:
    """Per-example record of one op on one batch.

    Attributes:
        applied: (B,) bool; False where the op left the example untouched (probability p).
    """

    applied: torch.Tensor

    def __len__(self) -> int:
        return int(self.applied.shape[0])

    def to(self, device: str | torch.device) -> Params:
        """A copy with every tensor field moved to ``device``."""
        moved = {
            f.name: v.to(device) if isinstance(v, torch.Tensor) else v
            for f in dataclasses.fields(self)
            for v in [getattr(self, f.name)]
        }
        return dataclasses.replace(self, **moved)


def check_images(x: object) -> torch.Tensor:
    """Raise a helpful error unless ``x`` is a (B, C, H, W) float tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"augmentations take a torch.Tensor of images, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(
            f"augmentations take a batch shaped (B, C, H, W), got shape {tuple(x.shape)}; "
            "add a batch axis with x.unsqueeze(0) for a single image"
        )
    if not x.is_floating_point():
        raise ValueError(
            f"augmentations take float images in [0, 1], got dtype {x.dtype}; "
            "convert with x.float() / 255 first"
        )
    if x.shape[0] == 0:
        raise ValueError(
            f"augmentations need at least one image, got an empty batch of shape "
            f"{tuple(x.shape)}; skip the call when there is nothing to augment"
        )
    return x


def check_probability(p: float) -> float:
    """``p`` as a float, or ValueError unless it lies in [0, 1]."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    return float(p)


def check_nonnegative(name: str, value: float) -> float:
    """``value`` as a float, or ValueError unless it is a number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def uniform(
    n: int,
    low: float,
    high: float,
    *,
    device: torch.device,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(n,) float32 uniform in [low, high), drawn on the generator's device, put on ``device``.

    Drawing where the generator lives keeps a CPU generator usable for CUDA batches.
    """
    where = generator.device if generator is not None else device
    u = torch.rand(n, generator=generator, device=where)
    return (low + (high - low) * u).to(device)


def coin(
    n: int, p: float, *, device: torch.device, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(n,) bool, each True with probability ``p`` (exactly all/none for p = 1/0)."""
    u = uniform(n, 0.0, 1.0, device=device, generator=generator)
    return u < p


def where_applied(applied: torch.Tensor, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``out`` for the examples the op was applied to, ``x`` (bit for bit) for the others."""
    return torch.where(applied.view(-1, 1, 1, 1), out, x)


class Augment(nn.Module):
    """Base of the image-only ops: ``forward`` = sample + apply + remember.

    Subclasses implement ``_sample(x, applied, generator)``, ``apply(x, params)`` and
    ``describe(params, i)``.

    Attributes:
        p: probability that each example is transformed.
        generator: default ``torch.Generator`` for the draws (None: torch's global RNG).
        last_params: the ``Params`` of the last training forward (None before it).
    """

    mixes_labels = False
    name = "augment"

    def __init__(self, p: float = 1.0, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.p = check_probability(p)
        self.generator = generator
        self.last_params: Params | None = None

    def sample_params(self, x: torch.Tensor, generator: torch.Generator | None = None) -> Params:
        """Draw this op's random choices for the batch ``x`` (one set per example).

        Shape:
            x: (B, C, H, W); every tensor in the result has B rows on x's device.
        """
        check_images(x)
        g = generator if generator is not None else self.generator
        applied = coin(x.shape[0], self.p, device=x.device, generator=g)
        return self._sample(x, applied, g)

    def _sample(
        self, x: torch.Tensor, applied: torch.Tensor, generator: torch.Generator | None
    ) -> Params:
        raise NotImplementedError

    def apply(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        """Transform ``x`` as ``params`` say; pure (same inputs, same output)."""
        raise NotImplementedError

    def describe(self, params: Params, i: int) -> str:
        """A short caption of what happened to example ``i`` (empty if untouched)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a training batch and keep its parameters; the identity in eval mode.

        Shape:
            x: (B, C, H, W) float in [0, 1] -> (B, C, H, W)
        """
        if not self.training:
            return x
        params = self.sample_params(x, generator)
        out = self.apply(x, params)
        self.last_params = params
        return out

    def replay(self, x: torch.Tensor, params: Params) -> torch.Tensor:
        """Apply recorded ``params`` again (in any mode), e.g. to redraw a gallery."""
        check_images(x)
        if len(params) != x.shape[0]:
            raise ValueError(
                f"params record {len(params)} examples but x has {x.shape[0]}; "
                "replay on the batch the params were drawn for"
            )
        return self.apply(x, params.to(x.device))

    def extra_repr(self) -> str:
        return f"p={self.p}"
