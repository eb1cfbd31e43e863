"""Section B: how many layers are enough? The lecture's VGG depth grid, measured.

The lecture trains a family of VGG-like networks (Simonyan and Zisserman 2014): ``blocks``
blocks of ``convs`` 3x3 convs plus a 2x2 max-pool each, then global average pooling and one
linear layer, cross-entropy, Adam, a few epochs, a few repetitions per cell. Four lessons
come out of that grid, one topic each here:

- ``depth_grid`` (B-GRID, B-STUCK): accuracy (mean and spread over repetitions with distinct
  seeds) and parameter count of every cell; cells whose loss never left chance level are
  flagged, and a gradient-flow view at initialization shows why the deep plain ones stall.
- ``spatial_sizes`` (B-POOL): every block halves the image, so depth is bounded by the input;
  a configuration that would pool below 1x1 is refused with a message, never a crash.
- ``param_growth`` (B-PARAMS): channels double at every block, so the parameter count grows
  about fourfold per block and with the square of the width.

All numbers come from real models: trained by ``vizlab.train.sweep`` or counted with
``sum(p.numel())`` and measured by ``vizlab.models.summary``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import matplotlib
import numpy as np
import torch
from torch import nn

from vizlab import plots
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.models import summary, vgg
from vizlab.models.sizes import max_halvings
from vizlab.plots.style import CMAP, PALETTE, new_figure, styled
from vizlab.probes import trace
from vizlab.train import fit, sweep

__all__ = [
    "CHANCE_MARGIN",
    "build_vgg",
    "is_stuck",
    "flow_at_init",
    "draw_flow",
    "depth_grid",
    "spatial_sizes",
    "param_growth",
]

#: A run is "stuck" when neither its epoch-averaged training loss nor its validation loss
#: ever went more than this many nats below ln(K), the loss of a uniform guess over K classes.
CHANCE_MARGIN = 0.02


def build_vgg(blocks: int, convs: int, **kwargs: Any) -> nn.Module:
    """``vizlab.models.vgg`` with the grid's two axes as the leading arguments.

    A module-level function, so ``functools.partial(build_vgg, width=...)`` can be sent to
    the worker processes of a parallel sweep.
    """
    return vgg(blocks=blocks, convs=convs, **kwargs)


def is_stuck(
    train_loss: Sequence[float],
    num_classes: int,
    margin: float = CHANCE_MARGIN,
    val_loss: Sequence[float] = (),
) -> bool:
    """True when the loss never got ``margin`` nats below ``ln(num_classes)``.

    "The loss" is every epoch's mean training loss and, when given, every epoch's
    validation loss (a real evaluation after the epoch, so a run that learned late in its
    only epoch still counts as having left chance). A run with no finished epoch, or only
    NaN losses, counts as stuck: it never left chance.
    """
    finite = [v for v in (*train_loss, *val_loss) if v is not None and math.isfinite(v)]
    return not finite or min(finite) >= math.log(num_classes) - margin


# ---------------------------------------------------------------- B-GRID, B-STUCK
@experiment(
    "depth_grid",
    ("B-GRID", "B-STUCK", "B-PARAMS", "B-POOL"),
    "How many layers are enough: the VGG blocks x convs grid",
)
def depth_grid(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    blocks: Sequence[int] | None = None,
    convs: Sequence[int] | None = None,
    reps: int | None = None,
    epochs: int | None = None,
    width: int = 16,
    init: str = "torch",
    norm: Any = None,
    residual: bool = False,
    lr: float = 1e-3,
    batch_size: int | None = None,
    margin: float = CHANCE_MARGIN,
) -> Result:
    """Train the VGG-like grid (blocks x convs per block), ``reps`` seeds per cell.

    Every (cell, repetition) gets its own seed (``seed + k`` for the k-th run, the rule of
    ``vizlab.train.sweep``), used for the initial weights and the batch order. A run is
    *stuck* when neither its epoch-averaged training loss nor its validation loss ever got
    ``margin`` nats below ``ln(K)`` (:func:`is_stuck`); a cell is stuck when all its
    repetitions are.

    The init: plain deep nets getting stuck at initialization is an init effect. With
    ``init="torch"`` (PyTorch's default uniform init, whose weights shrink the signal at
    every ReLU layer and whose random biases then dominate), the deepest plain cells keep
    an output that hardly depends on the input and stay at chance, while cells with the
    same number of poolings but fewer convs learn: that is the lecture's observation, so
    it is the default here. With ``init="kaiming"`` (vizlab's default for models) Adam
    trains the 3x6 cell at quick scale; with ``"xavier"`` (Keras's default, which the
    lecture used) it stayed at chance too in our check (one seed). Pass ``init=`` to
    compare, or ``norm="batch"`` / ``residual=True`` to see the cures of sections G and H
    (both train the 3x6 cell at quick scale).

    Scales (measured facts hold at quick scale, see the tests):
        quick: ``digits`` (8x8, 1,295 training images), blocks 1-3 x convs (1, 3, 6),
            2 repetitions, 3 epochs, batch 32: the 3x6 cell (18 convs) stays at chance in
            both repetitions while 3x1 (3 convs) reaches about 0.8 test accuracy.
            One-block cells on 8x8 digits learn slowly (a 330-parameter net), so they may
            also be flagged as never leaving chance in 3 epochs: slow, not stuck at init,
            as the gradient view of such a cell shows. About 15 s on one CPU thread.
        full: ``shapes`` (32x32 RGB, 10,000 images), blocks 1-4 x convs 1-4, 3 repetitions,
            3 epochs, batch 64: the lecture's grid (minutes on a GPU; the tests check the
            quick scale only).

    Numbers:
        ``blocks``, ``convs`` (the grid's axes), ``acc`` (reps x blocks x convs test
        accuracy, ``None`` where a run failed), ``acc_mean``, ``acc_std``, ``params``
        (blocks x convs), ``seeds`` (blocks x convs lists), ``stuck`` and ``stuck_fraction``
        (blocks x convs), ``runs`` (one dict per run: cell, seed, params, ``train_loss``
        and ``val_loss`` per epoch, test accuracy, stuck, error), ``errors`` (runs that
        raised, with their message), ``too_deep`` (the sweep row of a config that pools below 1x1),
        ``deep_cell`` / ``shallow_cell`` (the deepest trained cell and the one with the
        same blocks but fewest convs) and ``grad_flow`` (per-conv gradient norm and signal
        spread across images of those two models at initialization, on one training batch).
    """
    ds = dataset(data, pick(scale, "digits", "shapes"), seed=seed)
    channels, height, width_px = ds.shape
    size = (height, width_px)
    k = ds.num_classes
    blocks = list(blocks or pick(scale, (1, 2, 3), (1, 2, 3, 4)))
    convs = list(convs or pick(scale, (1, 3, 6), (1, 2, 3, 4)))
    reps = reps or pick(scale, 2, 3)
    epochs = epochs or 3
    batch_size = batch_size or pick(scale, 32, 64)
    build = functools.partial(
        build_vgg, width=width, in_channels=channels, num_classes=k, input_size=size,
        init=init, norm=norm, residual=residual,
    )  # fmt: skip
    fit_kwargs = dict(epochs=epochs, lr=lr, batch_size=batch_size, optimizer="adam")
    result = sweep(
        build, {"blocks": blocks, "convs": convs}, reps=reps, data=ds, seed=seed,
        callbacks=callbacks, stop=stop, device=device, **fit_kwargs,
    )  # fmt: skip

    shape = (len(blocks), len(convs))
    acc = np.full((reps, *shape), np.nan)
    params = np.full(shape, np.nan)
    seeds: list[list[list[int]]] = [[[] for _ in convs] for _ in blocks]
    stuck_counts, done_counts = np.zeros(shape, int), np.zeros(shape, int)
    runs, errors = [], []
    for row, history in zip(result.rows, result.histories):
        i, j = blocks.index(row["blocks"]), convs.index(row["convs"])
        seeds[i][j].append(row["seed"])
        if row["params"] is not None:
            params[i, j] = row["params"]
        losses = [] if history is None else list(history.train_loss)
        val_losses = [] if history is None else list(history.val_loss)
        run = {
            "blocks": row["blocks"], "convs": row["convs"], "rep": row["rep"],
            "seed": row["seed"], "params": row["params"], "train_loss": losses,
            "val_loss": val_losses,
            "test_acc": row["test_acc"], "error": row["error"], "stuck": None,
        }  # fmt: skip
        if row["error"] is not None:
            errors.append({"blocks": row["blocks"], "convs": row["convs"], "error": row["error"]})
        elif history is not None and not history.stopped:
            run["stuck"] = is_stuck(losses, k, margin, val_losses)
            stuck_counts[i, j] += run["stuck"]
            done_counts[i, j] += 1
            if row["test_acc"] is not None:
                acc[row["rep"], i, j] = row["test_acc"]
        runs.append(run)
    stuck = (done_counts > 0) & (stuck_counts == done_counts)
    fraction = np.where(done_counts > 0, stuck_counts / np.maximum(done_counts, 1), np.nan)
    counts = np.isfinite(acc).sum(axis=0)
    with np.errstate(invalid="ignore"):
        mean = np.where(counts > 0, np.nansum(acc, axis=0) / np.maximum(counts, 1), np.nan)
        std = np.sqrt(
            np.where(counts > 0, np.nansum((acc - mean) ** 2, 0) / np.maximum(counts, 1), np.nan)
        )

    too_deep = _too_deep_row(build, size, ds, device, fit_kwargs)
    deep, shallow = _deep_and_shallow(blocks, convs, done_counts)
    flow = {}
    if deep is not None and not stopped(stop):
        batch = ds.train.x[:256], ds.train.y[:256]
        for name, cell in (("deep", deep), ("shallow", shallow)):
            first_seed = seeds[blocks.index(cell[0])][convs.index(cell[1])][0]
            torch.manual_seed(first_seed)  # the same initial weights as the cell's first run
            flow[name] = flow_at_init(build(*cell), *batch)

    numbers = {
        "data": ds.name, "input_size": list(size), "num_classes": k,
        "chance_acc": 1.0 / k, "chance_loss": math.log(k), "margin": margin,
        "blocks": blocks, "convs": convs, "reps": reps, "epochs": epochs, "width": width,
        "init": init, "norm": None if norm is None else str(norm), "residual": residual,
        "acc": acc, "acc_mean": mean, "acc_std": std, "params": params, "seeds": seeds,
        "stuck": stuck, "stuck_fraction": fraction, "runs": runs, "errors": errors,
        "too_deep": too_deep, "stopped": result.stopped,
        "deep_cell": None if deep is None else list(deep),
        "shallow_cell": None if shallow is None else list(shallow),
        "grad_flow": flow,
    }  # fmt: skip
    return Result(
        topic="depth_grid",
        rows=("B-GRID", "B-STUCK", "B-PARAMS", "B-POOL"),
        scale=scale,
        numbers=numbers,
        facts=_grid_facts(numbers, build),
        config={
            "data": ds.name,
            "device": device,
            "seed": seed,
            "lr": lr,
            "batch_size": batch_size,
            "optimizer": "adam",
        },  # fmt: skip
    )


def _too_deep_row(build, size, ds, device, fit_kwargs) -> dict[str, Any]:
    """One sweep over a config that pools below 1x1: the row carries the message."""
    too_many = max_halvings(size) + 1
    rows = sweep(
        build, {"blocks": [too_many], "convs": [1]}, reps=1, data=ds, device=device, **fit_kwargs
    ).table()
    return {"blocks": too_many, "error": rows[0]["error"], "params": rows[0]["params"]}


def _deep_and_shallow(blocks, convs, done) -> tuple[tuple | None, tuple | None]:
    """The deepest cell that trained, and the cell with its blocks and the fewest convs."""
    for i in reversed(range(len(blocks))):
        trained = [j for j in range(len(convs)) if done[i, j] > 0]
        if len(trained) >= 2:
            deep = max(trained, key=lambda j: convs[j])
            shallow = min(trained, key=lambda j: convs[j])
            return (blocks[i], convs[deep]), (blocks[i], convs[shallow])
    return None, None


def flow_at_init(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    """Per conv layer at init: weight-gradient norm and signal spread; and the logits' spread.

    A layer's *spread* is the standard deviation of its output across the images of the
    batch, averaged over units: how much it still depends on the input (a constant offset
    from the biases does not count). When the logits' spread is tiny, every image gets the
    same prediction, the loss sits at ln(K) and the gradient reaching the early layers is
    tiny too.
    """
    model = model.to(x.device)
    t = trace(model, x, y, layers=(nn.Conv2d, nn.Linear), rf=False)
    layers = [n for n in t.layers if n != "head"]
    return {
        "layers": layers,
        "grad_norm": [float(t.param_grads[f"{n}.weight"].norm()) for n in layers],
        "signal_spread": [float(t.activations[n].std(dim=0).mean()) for n in layers],
        "logit_spread": float(t.output.std(dim=0).mean()),
        "loss": t.loss,
    }


def _grid_facts(n: dict[str, Any], build) -> dict[str, bool]:
    all_seeds = [s for row in n["seeds"] for cell in row for s in cell]
    params_ok = True
    for i, b in enumerate(n["blocks"]):
        for j, c in enumerate(n["convs"]):
            if math.isfinite(n["params"][i, j]):
                model = build(b, c)
                params_ok &= n["params"][i, j] == sum(p.numel() for p in model.parameters())
    facts = {
        "params_match_numel": bool(params_ok),
        "distinct_seeds": len(all_seeds) == len(set(all_seeds)),
        "too_deep_is_a_message": bool(n["too_deep"]["error"])
        and "below 1x1" in n["too_deep"]["error"],
    }
    if n["deep_cell"] is not None:
        b = n["blocks"].index(n["deep_cell"][0])
        deep_j, shallow_j = (
            n["convs"].index(n["deep_cell"][1]),
            n["convs"].index(n["shallow_cell"][1]),
        )
        facts["deep_stuck_shallow_learns"] = bool(
            n["stuck"][b, deep_j]
            and not n["stuck_fraction"][b, shallow_j]
            and n["acc_mean"][b, shallow_j] >= 2 * n["chance_acc"]
        )
    return facts


@drawer("depth_grid")
def draw_depth_grid(result: Result) -> dict[str, tuple[Any, str]]:
    n = result.numbers
    acc = np.array(
        [[[np.nan if v is None else v for v in r] for r in rep] for rep in _list(n["acc"])], float
    )
    params = np.array([[np.nan if v is None else v for v in r] for r in _list(n["params"])], float)
    fig = plots.grid_heatmap(
        acc, params=params, stuck=n["stuck"], rows=n["blocks"], cols=n["convs"]
    )
    out = {
        "grid": (
            fig,
            f"Test accuracy (mean ± std over {n['reps']} seeds) and parameters per cell; "
            f"hatched: loss never left chance (ln {n['num_classes']})",
        ),
        "losses": (_draw_losses(n), "Training loss per epoch of every run (dashed: stuck at ln K)"),
    }
    if n["grad_flow"]:
        deep, shallow = n["deep_cell"], n["shallow_cell"]
        out["grad_flow"] = (
            draw_flow(n["grad_flow"], deep, shallow),
            f"At init: gradient and signal per conv, {deep[0]}x{deep[1]} vs "
            f"{shallow[0]}x{shallow[1]} ({n['init']} init)",
        )
    return out


def _list(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


@styled
def _draw_losses(n: dict[str, Any]):
    fig = new_figure(None, (9.0, 5.0))
    ax = fig.add_subplot()
    cells = [(b, c) for b in n["blocks"] for c in n["convs"]]
    cmap = matplotlib.colormaps[CMAP]
    for run in n["runs"]:
        if run["train_loss"]:
            cell = cells.index((run["blocks"], run["convs"]))
            label = f"{run['blocks']}x{run['convs']}" if run["rep"] == 0 else None
            ax.plot(
                range(1, len(run["train_loss"]) + 1), run["train_loss"], marker="o",
                color=cmap(cell / max(len(cells) - 1, 1)), label=label,
                linestyle="--" if run["stuck"] else "-",
            )  # fmt: skip
    ax.axhline(n["chance_loss"], color="black", linestyle=":", label="chance, ln K")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.legend(loc="best", fontsize="small", ncol=2)
    return fig


@styled
def draw_flow(flow: dict[str, Any], deep: Sequence[int], shallow: Sequence[int]):
    """Gradient norm and signal spread per conv at init, for ``flow["deep"]`` and
    ``flow["shallow"]`` (dicts from :func:`flow_at_init`) of the cells ``deep``, ``shallow``."""
    fig = new_figure(None, (13.0, 5.0))
    ax_grad, ax_sig = fig.subplots(1, 2)
    for name, cell, color in (("deep", deep, PALETTE[3]), ("shallow", shallow, PALETTE[0])):
        f = flow[name]
        x = np.arange(1, len(f["layers"]) + 1)
        label = f"{cell[0]}x{cell[1]} (logit spread {f['logit_spread']:.1e})"
        ax_grad.plot(x, f["grad_norm"], marker="o", color=color, label=label)
        ax_sig.plot(x, f["signal_spread"], marker="o", color=color, label=f"{cell[0]}x{cell[1]}")
    for ax, what in ((ax_grad, "weight gradient norm"), (ax_sig, "output spread across images")):
        ax.set_yscale("log")
        ax.set_xlabel("conv layer (input side first)")
        ax.set_ylabel(what)
        ax.legend(loc="best", fontsize="small")
    ax_grad.set_title("gradient reaching each conv")
    ax_sig.set_title("signal leaving each conv")
    return fig


# ---------------------------------------------------------------- B-POOL
@experiment("spatial_sizes", ("B-POOL",), "The image is destroyed after a few poolings")
def spatial_sizes(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    convs: int = 2,
    width: int = 16,
    epochs: int | None = None,
) -> Result:
    """Spatial size and a feature map after each block of the deepest VGG the input allows.

    The net (``max_halvings`` blocks, ``convs`` convs each, kaiming init) trains briefly so
    the maps show learned features, then one test image is traced. Configurations with more
    blocks are refused by ``vgg`` while building (``ValueError`` naming the limit), and a
    sweep over them reports that message in its row instead of crashing.

    Scales: quick ``digits`` (8x8: 3 blocks fit), 1 epoch, under a second; full ``shapes``
    (32x32: 5 blocks), 3 epochs.

    Numbers: ``input_size``, ``max_blocks``, ``sizes`` (``(H, W)`` input first, then after
    each block, measured by ``vizlab.models.summary``), ``maps`` (channel-0 map of one test
    image after each block, input first), ``refused`` (``{blocks: message}`` for
    ``max_blocks + 1`` and ``+ 2``, from building), ``sweep_error`` (the row a sweep gives).
    """
    ds = dataset(data, pick(scale, "digits", "shapes"), seed=seed)
    channels, h, w = ds.shape
    size = (h, w)
    most = max_halvings(size)
    build = functools.partial(
        build_vgg, convs=convs, width=width, in_channels=channels, num_classes=ds.num_classes,
        input_size=size, init="kaiming",
    )  # fmt: skip
    torch.manual_seed(seed)
    model = build(most)
    rows = summary(model, ds.shape, device="cpu")
    sizes = [list(size)] + [
        list(r.output_shape[-2:]) for r in rows if r.name.count(".") == 1 and ".block" in r.name
    ]
    if not stopped(stop):
        fit(model, ds, epochs=epochs or pick(scale, 1, 3), device=device, seed=seed,
            batch_size=64, stop=stop, callbacks=callbacks)  # fmt: skip
    x = ds.test.x[:1].to(next(model.parameters()).device)
    t = trace(model, x, layers=[f"features.block{i}.pool" for i in range(1, most + 1)], rf=False)
    maps = [x[0].mean(0).cpu().numpy()] + [t.activations[n][0, 0].numpy() for n in t.layers]
    refused = {}
    for blocks in (most + 1, most + 2):
        try:
            build(blocks)
        except ValueError as err:
            refused[blocks] = str(err)
    row = sweep(build, {"blocks": [most + 1]}, reps=1, data=ds, epochs=1, device=device).rows[0]
    numbers = {
        "data": ds.name, "input_size": list(size), "max_blocks": most, "convs": convs,
        "sizes": sizes, "maps": maps, "refused": refused, "sweep_error": row["error"],
    }  # fmt: skip
    halves = (
        all(b == [a[0] // 2, a[1] // 2] for a, b in zip(sizes, sizes[1:])) and min(sizes[-1]) >= 1
    )
    facts = {
        "each_block_halves": halves,
        "too_deep_refused_with_message": len(refused) == 2
        and all("below 1x1" in m for m in refused.values()),
        "sweep_reports_not_crash": bool(row["error"]) and "below 1x1" in row["error"],
    }
    return Result("spatial_sizes", ("B-POOL",), scale, numbers, facts,
                  config={"data": ds.name, "device": device, "seed": seed})  # fmt: skip


@drawer("spatial_sizes")
def draw_spatial_sizes(result: Result) -> dict[str, tuple[Any, str]]:
    n = result.numbers
    fig = plots.spatial_sizes(n["sizes"], [np.asarray(m) for m in n["maps"]])
    caption = (
        f"{n['max_blocks']} blocks take {n['input_size'][0]}x{n['input_size'][1]} to "
        f"{n['sizes'][-1][0]}x{n['sizes'][-1][1]}; one more is refused"
    )
    return {"sizes": (fig, caption)}


# ---------------------------------------------------------------- B-PARAMS
@experiment("param_growth", ("B-PARAMS",), "Parameters grow fast with depth and width")
def param_growth(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    widths: Sequence[int] = (8, 16, 32),
    convs: int = 2,
) -> Result:
    """Parameter counts of the VGG family: per layer for one net, in total over the grid.

    No training: models are built and counted. ``layers`` comes from
    ``vizlab.models.summary`` (each module's own parameters), and its sum is checked
    against ``sum(p.numel())``. Scales: quick uses 32x32 RGB inputs (the lecture's size)
    on 10 classes with blocks 1-4; full blocks 1-5; both well under a second.

    Numbers: ``layers`` (``[name, type, output_shape, params]`` for ``blocks=max``,
    ``convs``, width 16), ``layer_sum`` and ``numel`` of that net, ``totals``
    (``{width: [params for blocks = 1..max]}``), ``by_convs`` (width 16, max blocks,
    ``{convs: params}`` for 1-4), ``block_ratio`` (params of b+1 blocks over b, width 16),
    ``width_ratio`` (params at 2w over w, max blocks).
    """
    in_channels, size, k = 3, (32, 32), 10
    if data is not None:
        ds = dataset(data, "shapes", seed=seed)
        (in_channels, *hw), k = ds.shape, ds.num_classes
        size = tuple(hw)
    most = min(max_halvings(size), pick(scale, 4, 5))
    kw = dict(in_channels=in_channels, num_classes=k, input_size=size)

    def count(blocks: int, c: int, w: int) -> int:
        return sum(p.numel() for p in vgg(blocks, c, w, **kw).parameters())

    featured = vgg(most, convs, 16, **kw)
    rows = summary(featured, (in_channels, *size), device="cpu")
    layers = [[r.name, r.type, list(r.output_shape or []), r.params] for r in rows if r.params]
    totals = {w: [count(b, convs, w) for b in range(1, most + 1)] for w in widths}
    by_convs = {c: count(most, c, 16) for c in range(1, 5)}
    base = totals.get(16) or [count(b, convs, 16) for b in range(1, most + 1)]
    numbers = {
        "input_size": list(size), "in_channels": in_channels, "num_classes": k,
        "max_blocks": most, "convs": convs, "widths": list(widths), "layers": layers,
        "layer_sum": sum(r[3] for r in layers),
        "numel": sum(p.numel() for p in featured.parameters()),
        "totals": totals, "by_convs": by_convs,
        "block_ratio": [b / a for a, b in zip(base, base[1:])],
        "width_ratio": [count(most, convs, 2 * w) / count(most, convs, w) for w in widths],
    }  # fmt: skip
    growing = all(all(a < b for a, b in zip(t, t[1:])) for t in totals.values())
    facts = {
        "layers_sum_to_numel": numbers["layer_sum"] == numbers["numel"],
        "grows_with_depth_and_width": growing and all(r > 3 for r in numbers["width_ratio"]),
    }
    return Result("param_growth", ("B-PARAMS",), scale, numbers, facts,
                  config={"input_size": list(size), "seed": seed})  # fmt: skip


@drawer("param_growth")
def draw_param_growth(result: Result) -> dict[str, tuple[Any, str]]:
    n = result.numbers
    bars = plots.param_bars(n["layers"])
    return {
        "layers": (
            bars,
            f"Parameters per layer of the {n['max_blocks']}x{n['convs']} VGG, width 16",
        ),
        "growth": (_draw_growth(n), "Total parameters by blocks and width (log scale)"),
    }


@styled
def _draw_growth(n: dict[str, Any]):
    fig = new_figure(None, (12.0, 5.0))
    ax_b, ax_c = fig.subplots(1, 2)
    for i, (w, totals) in enumerate(n["totals"].items()):
        ax_b.plot(range(1, len(totals) + 1), totals, marker="o", color=PALETTE[i % 7],
                  label=f"width {w}")  # fmt: skip
    ax_b.set_xlabel(f"blocks ({n['convs']} convs each)")
    ax_b.set_xticks(range(1, n["max_blocks"] + 1))
    convs = [int(c) for c in n["by_convs"]]
    ax_c.bar(convs, list(n["by_convs"].values()), color=PALETTE[0])
    ax_c.set_xlabel(f"convs per block ({n['max_blocks']} blocks, width 16)")
    ax_c.set_xticks(convs)
    for ax in (ax_b, ax_c):
        ax.set_yscale("log")
        ax.set_ylabel("parameters")
    ax_b.legend(loc="best")
    return fig
