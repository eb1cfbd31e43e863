"""H-BNID (De & Smith 2020): at init, batch norm on the branch makes the skip path dominate
more and more with depth; zero-init gamma makes every block the identity."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from vizlab.device import resolve_device
from vizlab.experiments.base import Result, drawer, experiment, pick, stopped
from vizlab.experiments.residual.common import blocks_of, data_for, resnet_for
from vizlab.nn import Residual
from vizlab.plots import variance_ratio
from vizlab.plots.style import layer_color, new_figure, styled
from vizlab.probes import trace

__all__ = ["ROWS_BNID", "SETTINGS", "branch_ratio"]

ROWS_BNID = ("H-BNID",)
SETTINGS = {
    "no norm": {"norm": None},
    "batch norm": {"norm": "batch"},
    "BN, zero-init gamma": {"norm": "batch", "zero_init": True},
}


@experiment("branch_ratio", ROWS_BNID, "Batch norm biases residual blocks toward the identity")
def branch_ratio(
    *,
    scale: str = "quick",
    data=None,
    device: str = "auto",
    seed: int = 0,
    stop=None,
    callbacks=(),
    depth: int | None = None,
) -> Result:
    """Variance of the branch output over variance of the skip output, per block, at init.

    Three otherwise identical ResNets (He init): no norm, batch norm in the branch, and batch
    norm with the last gamma of each branch set to zero. One batch of training images runs
    through each in training mode and the variances come from the blocks' taps (via
    ``vizlab.probes.trace``).

    What De & Smith (2020) predict and this measures: with batch norm the branch output has
    variance ~1 while the skip path accumulates one such unit per block, so the ratio falls
    like ``1/k`` within a stage and the net starts close to its shallow paths; without norm
    the skip variance grows geometrically and the ratio stays of order one; zero-init gamma
    makes every ratio exactly 0 (each block starts as its skip).

    Scale: no training; holds at any scale (quick: depth 56 on 256 digits, < 1 s).

    Numbers: ``ratio``, ``var_branch``, ``var_skip`` (``{setting: per block}``), ``blocks``,
    ``projection`` (per block), ``skip_growth`` (``{setting: var_skip of the last block of
    stage 1 / of its first block}``).
    """
    data = data_for(data, scale, seed)
    depth = depth or 56
    n = pick(scale, 256, 512)
    x = data.train.x[:n]
    where = resolve_device(device)
    ratio: dict[str, list[float]] = {}
    var_branch: dict[str, list[float]] = {}
    var_skip: dict[str, list[float]] = {}
    blocks: list[str] = []
    projection: list[bool] = []
    for setting, kw in SETTINGS.items():
        if stopped(stop):
            break
        torch.manual_seed(seed)
        model = resnet_for(
            depth, data, residual=True, width=pick(scale, 8, 16), init="kaiming", **kw
        )
        model.to(where)
        found = trace(model, x.to(where), None, layers=Residual, train=True, rf=False).residual
        var_branch[setting] = [s.var_branch for s in found.values()]
        var_skip[setting] = [s.var_skip for s in found.values()]
        ratio[setting] = [b / s for b, s in zip(var_branch[setting], var_skip[setting])]
        blocks = list(found)
        projection = [m.projection for _, m in blocks_of(model)]
    per_stage = len(blocks) // 3
    growth = {k: v[per_stage - 1] / v[0] for k, v in var_skip.items()}
    facts = {}
    if len(ratio) == len(SETTINGS):
        bn = ratio["batch norm"]
        stages = [bn[s * per_stage + 1 : (s + 1) * per_stage] for s in range(3)]
        facts = {
            "zero_gamma_ratio_is_zero": all(r == 0.0 for r in ratio["BN, zero-init gamma"]),
            "bn_ratio_falls_within_stage": all(
                all(a > b for a, b in zip(st, st[1:])) for st in stages
            ),
            "no_norm_skip_grows_faster": growth["no norm"] > 2 * growth["batch norm"],
        }
    return Result(
        "branch_ratio",
        ROWS_BNID,
        scale,
        numbers={
            "depth": depth,
            "blocks": blocks,
            "projection": projection,
            "ratio": ratio,
            "var_branch": var_branch,
            "var_skip": var_skip,
            "skip_growth": growth,
        },
        facts=facts,
        config={"data": data.name, "depth": depth, "batch": n, "init": "kaiming", "seed": seed},
    )


@drawer("branch_ratio")
@styled
def _draw_branch_ratio(result: Result) -> dict[str, tuple[Figure, str]]:
    nums = result.numbers
    fig = new_figure(None, (13.0, 4.8))
    ax_ratio, ax_skip = fig.subplots(1, 2)
    shown = {k: [max(v, 1e-6) for v in vals] for k, vals in nums["ratio"].items()}
    variance_ratio(shown, ax=ax_ratio)
    ax_ratio.set_title("branch / skip variance (zero shown at 1e-6)")
    for i, (setting, values) in enumerate(nums["var_skip"].items()):
        ax_skip.plot(values, marker="o", color=layer_color(i), label=setting)
    ax_skip.set_yscale("log")
    ax_skip.set_xlabel("block")
    ax_skip.set_ylabel("var(skip)")
    ax_skip.set_title("variance carried by the skip path")
    ax_skip.legend(loc="best")
    return {
        "branch_ratio": (
            fig,
            "At init, batch norm makes each branch small next to the growing skip path "
            "(ratio ~ 1/k); zero-init gamma makes every block the identity.",
        )
    }
