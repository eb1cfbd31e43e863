"""``Compose``: run ops one after the other and keep every stage's record.

A pipeline such as flip -> crop -> MixUp is itself an augmentation: it samples (each stage
its own parameters), applies, remembers (``last_params.stages``, one record per stage) and
replays. It mixes labels as soon as one of its stages does, so the training loop hands it
the labels too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from vizlab.augment.base import Params, check_images

__all__ = ["Compose", "ComposeParams"]


@dataclass
class ComposeParams:
    """One record per stage, in order (``stages[k]`` is what stage k drew)."""

    stages: tuple[Params, ...]

    def __len__(self) -> int:
        return len(self.stages[0]) if self.stages else 0

    def to(self, device: str | torch.device) -> ComposeParams:
        return dataclasses.replace(self, stages=tuple(s.to(device) for s in self.stages))


class Compose(nn.Module):
    """Apply augmentation ops in sequence.

    Args:
        ops: the stages, as separate arguments or one iterable; each must have
            ``sample_params``/``apply`` (every op of this package does).

    Shape:
        x: (B, C, H, W) -> (B, C, H, W); with a mixing stage, ``(x, y) -> (x, (B, K) y)``.
    """

    name = "compose"

    def __init__(self, *ops: nn.Module | Iterable[nn.Module]) -> None:
        super().__init__()
        if len(ops) == 1 and not isinstance(ops[0], nn.Module):
            if not isinstance(ops[0], Iterable):
                raise TypeError(
                    f"Compose takes vizlab.augment ops (Flip(), Crop(), ...) or one list of "
                    f"them, got {ops[0]!r}"
                )
            ops = tuple(ops[0])
        for op in ops:
            if not (isinstance(op, nn.Module) and hasattr(op, "sample_params")):
                raise TypeError(
                    f"Compose takes vizlab.augment ops (Flip(), Crop(), ...), got {op!r}"
                )
        self.ops = nn.ModuleList(ops)
        self.mixes_labels = any(getattr(op, "mixes_labels", False) for op in ops)
        self.last_params: ComposeParams | None = None

    def sample_params(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> ComposeParams:
        """Every stage's draws for ``x`` (no stage changes the image size)."""
        check_images(x)
        return ComposeParams(tuple(op.sample_params(x, generator) for op in self.ops))

    def apply(self, x: torch.Tensor, params: ComposeParams) -> torch.Tensor:
        """The images after every stage, as ``params`` say."""
        for op, p in zip(self.ops, params.stages, strict=True):
            x = op.apply(x, p)
        return x

    def apply_labels(self, y: torch.Tensor, params: ComposeParams) -> torch.Tensor:
        """The labels after every mixing stage (lets a Compose nest inside another)."""
        for op, p in zip(self.ops, params.stages, strict=True):
            if getattr(op, "mixes_labels", False):
                y = op.apply_labels(y, p)
        return y

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ):
        """Augment ``x`` (and mix ``y`` where a stage mixes); identity in eval mode.

        Returns ``x`` when called without labels, else ``(x, y)``.
        """
        if not self.training:
            return x if y is None else (x, y)
        check_images(x)
        if self.mixes_labels and y is None:
            raise ValueError("this Compose mixes labels (MixUp/CutMix): call it as aug(x, y)")
        stages = []
        for op in self.ops:  # sample from the current images, as each stage sees them
            params = op.sample_params(x, generator)
            if getattr(op, "mixes_labels", False):
                x, y = op.apply(x, params), op.apply_labels(y, params)
            else:
                x = op.apply(x, params)
            op.last_params = params
            stages.append(params)
        self.last_params = ComposeParams(tuple(stages))
        return x if y is None else (x, y)

    def replay(self, x: torch.Tensor, params: ComposeParams, y: torch.Tensor | None = None):
        """Run every stage again as recorded; with ``y``, also return the mixed labels."""
        check_images(x)
        params = params.to(x.device)
        for op, p in zip(self.ops, params.stages, strict=True):
            if y is not None and getattr(op, "mixes_labels", False):
                x, y = op.replay(x, p, y)
            else:
                x = op.replay(x, p)
        return x if y is None else (x, y)

    def describe(self, params: ComposeParams, i: int) -> str:
        """The captions of the stages that touched example ``i``, joined by commas."""
        parts = (op.describe(p, i) for op, p in zip(self.ops, params.stages, strict=True))
        return ", ".join(t for t in parts if t)
