"""H-ENSEMBLE (Veit et al. 2016): ``2**n`` paths with binomial lengths; deleting one block
barely hurts a residual net and wrecks a plain one."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from vizlab.experiments.base import Result, drawer, experiment, pick, stopped
from vizlab.experiments.residual.common import blocks_of, data_for, resnet_for
from vizlab.models.resnet import PlainBlock
from vizlab.nn import Residual
from vizlab.plots import path_lengths
from vizlab.train import evaluate, fit

__all__ = [
    "ROWS_ENSEMBLE",
    "lesion",
    "delete_block",
    "lesion_accuracies",
    "path_counts",
]

ROWS_ENSEMBLE = ("H-ENSEMBLE",)


class _Deleted(nn.Module):
    """A deleted block: what is left when the branch is gone (the shortcut, then the act)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.block, Residual):
            return self.block.act(self.block.shortcut(x))
        return x  # a plain block with equal in/out shapes: the identity


def _same_shape(block: nn.Module) -> bool:
    """Whether a plain block keeps its input shape (only such blocks can be deleted)."""
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    stride = math.prod(c.stride[0] for c in convs)
    return stride == 1 and convs[0].in_channels == convs[-1].out_channels


def delete_block(model: nn.Module, name: str) -> nn.Module:
    """Replace block ``name`` by its shortcut in place; returns the removed block."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name)
    block = getattr(parent, child)
    setattr(parent, child, _Deleted(block))
    return block


def _restore_block(model: nn.Module, name: str, block: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name), child, block)


def lesion_accuracies(model: nn.Module, split, *, stop: Any = None) -> list[float | None]:
    """Test accuracy with each block deleted in turn (``None``: a plain block that changes
    the shape has no shortcut to fall back on). The model is restored afterwards."""
    accs: list[float | None] = []
    for name, block in blocks_of(model):
        if stopped(stop):
            break
        if isinstance(block, PlainBlock) and not _same_shape(block):
            accs.append(None)
            continue
        delete_block(model, name)
        try:
            accs.append(evaluate(model, split)[1])
        finally:
            _restore_block(model, name, block)
    return accs


def path_counts(blocks: int) -> list[int]:
    """Number of paths of each length through ``blocks`` residual blocks, by enumeration.

    Each block is passed through its branch (1) or its skip (0); a path is a 0/1 word and its
    length the number of branches taken. Counting the ``2**blocks`` words gives ``C(n, k)``.
    """
    counts = [0] * (blocks + 1)
    for word in itertools.product((0, 1), repeat=blocks):
        counts[sum(word)] += 1
    return counts


@experiment("lesion", ROWS_ENSEMBLE, "Residual nets as ensembles of paths: the lesion study")
def lesion(
    *,
    scale: str = "quick",
    data=None,
    device: str = "auto",
    seed: int = 0,
    stop=None,
    callbacks=(),
    depth: int | None = None,
    epochs: int | None = None,
) -> Result:
    """Delete one block at a time from a trained residual net and from its plain twin.

    Deleting a residual block leaves its shortcut (the identity, or the projection followed
    by the block's ReLU); deleting a plain block leaves the identity, which is only possible
    where the block keeps the shape (the others are reported as ``None``). Every accuracy is
    a real evaluation of the test split. The path-length distribution is counted by
    enumerating the ``2**n`` skip/branch choices.

    Scale: quick is depth 20 (9 blocks) on digits, 6 epochs each (~8 s): the plain net falls
    to chance (~0.1) whichever block is deleted, the residual net keeps a median of ~0.8
    (Veit et al. 2016 saw the same on CIFAR-10 with 54 blocks, full scale here: depth 56).

    Numbers: ``blocks`` (names), ``n_blocks``, ``path_counts`` (enumerated), ``binomial``
    (``C(n, k)``), ``baseline`` and ``restored`` (accuracy before and after all deletions),
    ``lesion`` (``{kind: accuracy per deleted block}``), ``median``, ``test_acc``.
    """
    data = data_for(data, scale, seed)
    depth = depth or pick(scale, 20, 56)
    epochs = epochs or pick(scale, 6, 15)
    baseline: dict[str, float] = {}
    restored: dict[str, float] = {}
    accs: dict[str, list] = {}
    test_acc: dict[str, float | None] = {}
    names: list[str] = []
    for kind in ("residual", "plain"):
        if stopped(stop):
            break
        torch.manual_seed(seed)
        model = resnet_for(depth, data, residual=kind == "residual", width=pick(scale, 8, 16))
        history = fit(
            model, data, epochs=epochs, batch_size=64, lr=1e-3, device=device, seed=seed,
            stop=stop, callbacks=callbacks,
        )  # fmt: skip
        if history.stopped:
            break
        test = data.test.to(next(model.parameters()).device)
        test_acc[kind] = history.test_acc
        baseline[kind] = evaluate(model, test)[1]
        accs[kind] = lesion_accuracies(model, test, stop=stop)
        restored[kind] = evaluate(model, test)[1]
        names = [n for n, _ in blocks_of(model)]
    n = len(names)
    counts = path_counts(n)
    binomial = [math.comb(n, k) for k in range(n + 1)]
    median = {k: float(np.median([a for a in v if a is not None])) for k, v in accs.items() if v}
    facts = {"paths_binomial": counts == binomial and sum(counts) == 2**n}
    if set(median) == {"residual", "plain"} and len(accs["plain"]) == n:
        chance = 1.0 / data.num_classes
        facts["plain_collapses"] = median["plain"] < chance + 0.2
        facts["residual_graceful"] = median["residual"] > median["plain"] + 0.4
    return Result(
        "lesion",
        ROWS_ENSEMBLE,
        scale,
        numbers={
            "depth": depth,
            "blocks": names,
            "n_blocks": n,
            "path_counts": counts,
            "binomial": binomial,
            "baseline": baseline,
            "restored": restored,
            "test_acc": test_acc,
            "lesion": accs,
            "median": median,
            "chance": 1.0 / data.num_classes,
        },
        facts=facts,
        config={"data": data.name, "depth": depth, "epochs": epochs, "seed": seed,
                "device": device},
    )  # fmt: skip


@drawer("lesion")
def _draw_lesion(result: Result) -> dict[str, tuple[Figure, str]]:
    nums = result.numbers
    fig = path_lengths(nums["n_blocks"], nums["lesion"] or None, baseline=nums["baseline"])
    return {
        "lesion": (
            fig,
            f"{2 ** nums['n_blocks']:,} paths with binomial lengths; test accuracy with one "
            "block deleted (dotted: nothing deleted). Gaps: plain blocks that change shape.",
        )
    }
