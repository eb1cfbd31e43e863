"""H-GRAD, H-BLOCK: the gradient at a block input is the skip part plus the branch part,
``v^T df/dx + v``; a projection sits on the skip exactly where the block changes the shape."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from vizlab.experiments.base import Result, drawer, experiment, pick, stopped
from vizlab.experiments.residual.common import blocks_of, data_for, resnet_for
from vizlab.nn import Residual
from vizlab.plots import draw_residual_split, residual_split
from vizlab.plots.style import MARK, new_figure, styled
from vizlab.probes import watch
from vizlab.train import fit

__all__ = ["ROWS_GRAD", "gradient_split", "split_check"]

ROWS_GRAD = ("H-GRAD", "H-BLOCK")


def split_check(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[dict[str, Any]]:
    """Per block: the gradient split that ``Residual`` recorded, checked two ways.

    1. ``skip + branch`` against autograd's gradient of the loss with respect to the block
       input (``err_total``).
    2. the formula ``VJP = v^T df/dx + v`` computed independently: ``v`` is autograd's
       gradient at the block's sum, the branch and shortcut VJPs of ``v`` are recomputed on a
       fresh copy of the block input (``err_formula``; for an identity shortcut the skip part
       must be ``v`` itself).

    The model is used in training mode (batch statistics, as during training); buffers
    (running statistics) are restored afterwards.

    Returns:
        One dict per residual block: ``block``, ``skip``, ``branch``, ``total`` (gradient
        norms), ``err_total``, ``err_formula`` (max relative error), ``projection``, ``in``
        and ``out`` shapes (without the batch dimension).
    """
    blocks = [(n, m) for n, m in model.named_modules() if isinstance(m, Residual)]
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    was_training = model.training
    ins: dict[str, torch.Tensor] = {}
    sums: dict[str, torch.Tensor] = {}
    handles = []
    for name, block in blocks:
        handles.append(block.register_forward_pre_hook(_keep_input(name, ins)))
        handles.append(block.hook_out.register_forward_hook(_keep_output(name, sums)))
    try:
        model.train()
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)  # so the first block's input tracks grad
            loss = F.cross_entropy(model(x_in), y)
            targets = [ins[n] for n, _ in blocks] + [sums[n] for n, _ in blocks]
            grads = torch.autograd.grad(loss, targets)
        n = len(blocks)
        rows = []
        for i, (name, block) in enumerate(blocks):
            g_in, v = grads[i], grads[n + i]  # dL/d(block input), dL/d(f(x) + s(x))
            skip, branch = block.grad_skip, block.grad_branch
            with torch.enable_grad():
                x0 = ins[name].detach().requires_grad_(True)
                (vjp_branch,) = torch.autograd.grad(block.branch(x0), x0, v)
                if block.projection:
                    (vjp_skip,) = torch.autograd.grad(block.shortcut(x0), x0, v)
                else:
                    vjp_skip = v  # the identity hands v down unchanged
            scale = float(g_in.norm()) or 1.0
            rows.append(
                {
                    "block": name,
                    "skip": float(skip.norm()),
                    "branch": float(branch.norm()),
                    "total": float(g_in.norm()),
                    "err_total": float((skip + branch - g_in).abs().max()) / scale,
                    "err_formula": max(
                        float((vjp_skip - skip).abs().max()),
                        float((vjp_branch - branch).abs().max()),
                        float((vjp_skip + vjp_branch - g_in).abs().max()),
                    )
                    / scale,
                    "projection": bool(block.projection),
                    "in": list(ins[name].shape[1:]),
                    "out": list(sums[name].shape[1:]),
                }
            )
    finally:
        for h in handles:
            h.remove()
        model.load_state_dict(saved)
        model.train(was_training)
    return rows


def _keep_input(name: str, store: dict):
    def hook(module: nn.Module, args: tuple) -> None:
        store[name] = args[0]

    return hook


def _keep_output(name: str, store: dict):
    def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        store[name] = out

    return hook


def _records(rows) -> list[list]:
    """Watch records as plain lists (JSON-ready)."""
    return [[int(r[0]), str(r[1]), str(r[2]), str(r[3]), float(r[4])] for r in rows]


@experiment("gradient_split", ROWS_GRAD, "The gradient through the skip and through the branch")
def gradient_split(
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
    """Per residual block: the skip part and the branch part of the gradient at its input.

    ``vizlab.nn.Residual`` records both parts during backward. They are checked against
    autograd (skip + branch == the gradient of the loss with respect to the block input) and
    against the VJP formula ``v^T df/dx + v`` recomputed block by block (see
    :func:`split_check`), at init and after training; a ``watch`` records the split's norms
    over training. Each block's input and output shapes are measured to show that the 1x1
    projection sits on the skip exactly where channels or stride change.

    Scale: the identity holds at any scale (it is exact up to float rounding); quick scale is
    a depth-20 ResNet on digits for 3 epochs (~3 s).

    Numbers: ``init``/``trained`` (one row per block from :func:`split_check`),
    ``max_err_total``, ``max_err_formula``, ``blocks`` (name, in/out shape, channels,
    stride, projection), ``records`` (watch rows of kind ``residual``), ``final_train_loss``.
    """
    data = data_for(data, scale, seed)
    depth = depth or pick(scale, 20, 56)
    epochs = epochs or pick(scale, 3, 10)
    torch.manual_seed(seed)
    model = resnet_for(depth, data, residual=True, width=pick(scale, 8, 16))
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data.train), generator=gen)[:128]
    x, y = data.train.x[idx], data.train.y[idx]
    init = split_check(model, x, y)
    blocks = []
    for row, (name, block) in zip(init, blocks_of(model)):
        convs = [m for m in block.branch.modules() if isinstance(m, nn.Conv2d)]
        blocks.append(
            {
                "block": name,
                "in": row["in"],
                "out": row["out"],
                "in_channels": convs[0].in_channels,
                "out_channels": convs[-1].out_channels,
                "stride": math.prod(c.stride[0] for c in convs),
                "projection": row["projection"],
            }
        )
    probe = watch(model, layers=Residual, what=("gradients",), every=4)
    history = None
    trained: list[dict[str, Any]] = []
    if not stopped(stop):
        history = fit(
            model, data, epochs=epochs, batch_size=64, lr=1e-3, device=device, seed=seed,
            watch=probe, stop=stop, callbacks=callbacks,
        )  # fmt: skip
        model.cpu()
        trained = split_check(model, x, y)
    records = _records(r for r in probe.records() if r[2] == "residual")
    rows = init + trained
    facts = {
        "skip_plus_branch_is_total": max(r["err_total"] for r in rows) < 1e-5,
        "vjp_formula_holds": max(r["err_formula"] for r in rows) < 1e-4,
        "projection_iff_shape_changes": all(
            b["projection"] == (b["in"] != b["out"]) for b in blocks
        ),
    }
    return Result(
        "gradient_split",
        ROWS_GRAD,
        scale,
        numbers={
            "depth": depth,
            "init": init,
            "trained": trained,
            "max_err_total": max(r["err_total"] for r in rows),
            "max_err_formula": max(r["err_formula"] for r in rows),
            "blocks": blocks,
            "records": records,
            "final_train_loss": history.train_loss[-1] if history and history.train_loss else None,
        },
        facts=facts,
        config={"data": data.name, "depth": depth, "epochs": epochs, "seed": seed,
                "batch": len(idx), "device": device},
    )  # fmt: skip


@drawer("gradient_split")
@styled
def _draw_gradient_split(result: Result) -> dict[str, tuple[Figure, str]]:
    nums = result.numbers
    out: dict[str, tuple[Figure, str]] = {}
    fig = new_figure(None, (13.0, 4.8))
    ax_init, ax_err = fig.subplots(1, 2)
    rows = [
        (0, r["block"], "residual", stat, r[stat.removeprefix("grad_")])
        for r in nums["init"]
        for stat in ("grad_skip", "grad_branch")
    ]
    draw_residual_split(ax_init, rows, over="depth")
    for i, b in enumerate(nums["blocks"]):
        if b["projection"]:
            ax_init.axvline(i, color=MARK, linestyle=":")
    ax_init.set_title("at init (dotted: projection shortcut)")
    errs = [max(r["err_total"], 1e-16) for r in nums["init"]]
    errs_formula = [max(r["err_formula"], 1e-16) for r in nums["init"]]
    x = np.arange(len(errs))
    ax_err.bar(x - 0.2, errs, width=0.4, label="|skip + branch - autograd|")
    ax_err.bar(x + 0.2, errs_formula, width=0.4, label="|v^T df/dx + v - autograd|")
    ax_err.set_yscale("log")
    ax_err.set_xlabel("block")
    ax_err.set_ylabel("max relative error (0 drawn at 1e-16)")
    ax_err.set_title("the split adds up (float rounding only)")
    ax_err.legend(loc="best", fontsize="small")
    out["split_at_init"] = (
        fig,
        "Skip vs branch gradient norm at each block input at init, and how exactly they add "
        "up to autograd's input gradient.",
    )
    if nums["records"]:
        out["split_over_training"] = (
            residual_split(nums["records"]),
            "Skip and branch gradient per block: newest step over depth, and over training.",
        )
    return out
