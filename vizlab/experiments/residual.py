"""Section H: residual connections, measured on real runs.

Topics:

- ``degradation`` (H-DEGRADE, He et al. 2016): deeper plain nets train worse; residual nets
  do not.
- ``gradient_split`` (H-GRAD, H-BLOCK): the gradient at each block input is the skip part
  plus the branch part, ``v^T df/dx + v``; a projection sits on the skip exactly where the
  block changes the shape.
- ``branch_ratio`` (H-BNID, De & Smith 2020): at init, batch norm on the branch makes the
  skip path dominate more and more with depth; zero-init gamma makes every block the
  identity.
- ``lesion`` (H-ENSEMBLE, Veit et al. 2016): ``2**n`` paths with binomial lengths; deleting
  one block barely hurts a residual net and wrecks a plain one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from vizlab.device import resolve_device
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.models import resnet
from vizlab.models.resnet import PlainBlock, ResidualBlock
from vizlab.nn import Residual
from vizlab.plots import draw_residual_split, path_lengths, residual_split, variance_ratio
from vizlab.plots.style import MARK, layer_color, new_figure, styled
from vizlab.probes import trace, watch
from vizlab.train import History, evaluate, fit
from vizlab.train.accel import autocast, resolve_amp

__all__ = [
    "degradation",
    "gradient_split",
    "branch_ratio",
    "lesion",
    "blocks_of",
    "delete_block",
    "lesion_accuracies",
    "path_counts",
    "split_check",
    "Twin",
]

ROWS_DEGRADE = ("H-DEGRADE",)
ROWS_GRAD = ("H-GRAD", "H-BLOCK")
ROWS_BNID = ("H-BNID",)
ROWS_ENSEMBLE = ("H-ENSEMBLE",)


# ---- helpers shared with the panel ----------------------------------------------------------
def _net(depth: int, data, *, residual: bool, norm: object = "batch", width: int = 8, **kw):
    channels, height, width_px = data.shape
    return resnet(
        depth,
        residual=residual,
        norm=norm,
        width=width,
        in_channels=channels,
        input_size=(height, width_px),
        num_classes=data.num_classes,
        **kw,
    )


def _data(data, scale: str, seed: int):
    """The given data, else digits (quick) or 10,000 shapes (full)."""
    if data is None and scale == "full":
        return dataset("shapes", "shapes", seed=seed, n=10000)
    return dataset(data, pick(scale, "digits", "shapes"), seed=seed)


def blocks_of(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The residual or plain blocks of a ``resnet``, input side first, with dotted names."""
    return [
        (name, m) for name, m in model.named_modules() if isinstance(m, (ResidualBlock, PlainBlock))
    ]


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


class Twin:
    """A callback that trains a second model in lockstep with the one ``fit`` trains.

    At every step of the fit the twin takes one Adam step of its own on the batch the fit
    just used (same shuffling seed, same batch size, same lr): equal budget, one thread, and
    the fit's ``stop`` event stops both. After each epoch the twin's validation split is
    evaluated. ``history`` is a ``History`` filled like ``fit``'s, so the two can be drawn
    side by side while they train.

    Args:
        model: the twin (trained in place, moved to the fit's device).
        lr, batch_size, seed: must match the fit's for an equal budget.
    """

    def __init__(self, model: nn.Module, *, lr: float = 1e-3, batch_size: int = 64, seed=0):
        self.model, self.lr, self.batch_size, self.seed = model, lr, batch_size, seed
        self.history = History()
        self._batches: Any = None

    def on_fit_start(self, state: Any) -> None:
        self.model.to(state.device)
        self.history.device = str(state.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        self.amp = resolve_amp("auto", state.device)
        self.shuffle = torch.Generator().manual_seed(self.seed)  # the fit's batch order
        self._new_epoch(state)

    def _new_epoch(self, state: Any) -> None:
        n = len(state.data.train)
        drop_last = n > self.batch_size and n % self.batch_size == 1  # as fit does
        self._batches = iter(
            state.data.train.batches(
                self.batch_size, shuffle=True, generator=self.shuffle, drop_last=drop_last
            )
        )
        self._sums = [0.0, 0.0, 0]  # loss sum, correct, seen

    def on_step(self, state: Any) -> None:
        x, y = next(self._batches)  # (B, C, H, W), (B,)
        self.model.train()
        with autocast(state.device, self.amp):
            logits = self.model(x)  # (B, K)
            loss = F.cross_entropy(logits, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        value = float(loss.detach())
        self.history.add_steps([state.step], [value])
        self._sums[0] += value * len(y)
        self._sums[1] += float((logits.detach().argmax(dim=1) == y).sum())
        self._sums[2] += len(y)

    def on_epoch_end(self, state: Any) -> None:
        loss_sum, correct, seen = self._sums
        val_loss, val_acc = evaluate(self.model, state.data.val)
        self.history.add_epoch(
            state.epoch, train_loss=loss_sum / max(seen, 1), train_acc=correct / max(seen, 1),
            val_loss=val_loss, val_acc=val_acc, lr=self.lr,
        )  # fmt: skip
        self._new_epoch(state)

    def on_fit_end(self, state: Any) -> None:
        self.model.eval()


def _records(rows) -> list[list]:
    """Watch records as plain lists (JSON-ready)."""
    return [[int(r[0]), str(r[1]), str(r[2]), str(r[3]), float(r[4])] for r in rows]


# ---- H-DEGRADE ------------------------------------------------------------------------------
@experiment("degradation", ROWS_DEGRADE, "Deeper plain nets train worse; residual nets do not")
def degradation(
    *,
    scale: str = "quick",
    data=None,
    device: str = "auto",
    seed: int = 0,
    stop=None,
    callbacks=(),
    depths: Sequence[int] | None = None,
    epochs: int | None = None,
) -> Result:
    """Plain vs residual nets at a shallow and a deep depth, equal training budget.

    All four nets are CIFAR-style ResNets (batch norm, as in He et al. 2016) or their plain
    twins (same convs, no skips), trained with the same optimizer, lr, batch size, seed and
    number of epochs. The training loss per epoch is recorded (it is an optimization
    effect, not overfitting: the training loss is what degrades).

    Scale: at quick scale (digits, width 8, depths 8 and 32, 4 epochs of Adam, ~10 s on one
    CPU core) the deep plain net ends far above the shallow one (about 1.65 vs 0.65) and the
    deep residual net below the shallow residual one (about 0.12 vs 0.46). Full scale uses
    shapes (32x32), width 16, depths 20 and 56 and 15 epochs, the paper's pair of depths.

    Numbers: ``train_loss[kind][depth]`` (per epoch), ``step_loss[kind][depth]``,
    ``final[kind][depth]``, ``params[kind][depth]``, ``depths``, ``epochs``.
    """
    data = _data(data, scale, seed)
    shallow, deep = depths or pick(scale, (8, 32), (20, 56))
    epochs = epochs or pick(scale, 4, 15)
    width = pick(scale, 8, 16)
    train_loss: dict[str, dict[str, list]] = {"plain": {}, "residual": {}}
    step_loss: dict[str, dict[str, list]] = {"plain": {}, "residual": {}}
    final: dict[str, dict[str, float]] = {"plain": {}, "residual": {}}
    params: dict[str, dict[str, int]] = {"plain": {}, "residual": {}}
    for depth in (shallow, deep):
        for kind in ("plain", "residual"):
            if stopped(stop):
                break
            torch.manual_seed(seed)
            model = _net(depth, data, residual=kind == "residual", width=width)
            history = fit(
                model, data, epochs=epochs, batch_size=64, lr=1e-3, optimizer="adam",
                device=device, seed=seed, stop=stop, callbacks=callbacks,
            )  # fmt: skip
            key = str(depth)
            train_loss[kind][key] = list(history.train_loss)
            step_loss[kind][key] = list(history.loss)
            final[kind][key] = history.train_loss[-1] if history.train_loss else math.nan
            params[kind][key] = sum(p.numel() for p in model.parameters())
    s, d = str(shallow), str(deep)
    done = all(k in final[kind] for kind in final for k in (s, d))
    facts = {}
    if done:
        facts = {
            "deep_plain_worse": final["plain"][d] > final["plain"][s],
            "deep_residual_not_worse": final["residual"][d] <= final["residual"][s],
            "residual_beats_plain_deep": final["residual"][d] < final["plain"][d],
        }
    return Result(
        "degradation",
        ROWS_DEGRADE,
        scale,
        numbers={
            "depths": [shallow, deep],
            "epochs": epochs,
            "train_loss": train_loss,
            "step_loss": step_loss,
            "final": final,
            "params": params,
        },
        facts=facts,
        config={"data": data.name, "width": width, "norm": "batch", "optimizer": "adam",
                "lr": 1e-3, "batch_size": 64, "seed": seed, "device": device},
    )  # fmt: skip


@drawer("degradation")
@styled
def _draw_degradation(result: Result) -> dict[str, tuple[Figure, str]]:
    nums = result.numbers
    shallow, deep = (str(d) for d in nums["depths"])
    fig = new_figure(None, (13.0, 4.8))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind in zip(axes, ("plain", "residual")):
        for i, depth in enumerate((shallow, deep)):
            losses = nums["train_loss"][kind].get(depth, [])
            steps = nums["step_loss"][kind].get(depth, [])
            color = layer_color(i)
            if steps:
                per_epoch = len(steps) / max(len(losses), 1)
                x = (np.arange(len(steps)) + 1) / per_epoch
                ax.plot(x, steps, color=color, alpha=0.25, linewidth=1)
            ax.plot(np.arange(1, len(losses) + 1), losses, "o-", color=color,
                    label=f"{depth} layers")  # fmt: skip
        ax.set_title(f"{kind} nets")
        ax.set_xlabel("epoch")
        ax.legend(loc="best")
    axes[0].set_ylabel("training loss")
    caption = (
        f"Training loss at equal budget: the {deep}-layer plain net trains worse than the "
        f"{shallow}-layer one; with skips the deeper net trains better."
    )
    return {"degradation": (fig, caption)}


# ---- H-GRAD, H-BLOCK ------------------------------------------------------------------------
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
    data = _data(data, scale, seed)
    depth = depth or pick(scale, 20, 56)
    epochs = epochs or pick(scale, 3, 10)
    torch.manual_seed(seed)
    model = _net(depth, data, residual=True, width=pick(scale, 8, 16))
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


# ---- H-BNID ---------------------------------------------------------------------------------
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
    data = _data(data, scale, seed)
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
        model = _net(depth, data, residual=True, width=pick(scale, 8, 16), init="kaiming", **kw)
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


# ---- H-ENSEMBLE -----------------------------------------------------------------------------
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
    data = _data(data, scale, seed)
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
        model = _net(depth, data, residual=kind == "residual", width=pick(scale, 8, 16))
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
