"""Section G, normalization: why standardizing helps, what each norm layer computes, and
what batch statistics cost.

Topics (each a real computation; see the curriculum rows in brackets):

- ``standardization`` [G-STD]: gradient descent on a least-squares problem with raw and with
  standardized inputs; the Hessian's condition number and the steps to converge.
- ``norm_reference`` [G-BN1, G-BN3, G-AXES, G-LNPARAMS]: ``vizlab.nn.Norm`` against torch's
  own batch, layer, instance and group norm (outputs, gradients, running statistics) and
  the affine parameter counts.
- ``bn_inference`` [G-BN2]: a batch-norm net after training: running averages vs statistics
  recomputed over the whole training set, and test accuracy with each choice.
- ``batch_spread`` [G-BNSMALL]: how much batch estimates of a channel mean scatter at each
  batch size, how much one example's output depends on its batch, and accuracy vs batch size.
- ``norm_axes`` [G-AXES]: the same small net trained with every choice of axes.
- ``smoothness`` [G-SMOOTH, optional row]: along real training steps, how much the loss and
  the gradient change when moving along the gradient, with and without batch norm.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from vizlab.data import Dataset, Split
from vizlab.device import resolve_device
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.models import vgg
from vizlab.nn import Norm
from vizlab.plots import (
    batch_spread as batch_spread_figure,
)
from vizlab.plots import (
    descent_paths,
    draw_curves,
    draw_norm_axes_cube,
    layer_color,
    norm_stats,
    shared_mask,
)
from vizlab.plots.style import MARK, TRAIN, VAL, new_figure, style, style_ticks, styled
from vizlab.probes import watch
from vizlab.train import evaluate, fit

__all__ = [
    "AXES_CHOICES",
    "standardization",
    "norm_reference",
    "bn_inference",
    "batch_spread",
    "norm_axes",
    "smoothness",
    "norm_net",
    "LandscapeProbe",
]

# The choices of G-AXES: what the model builders accept as ``norm=`` and the axes it means.
AXES_CHOICES: dict[str, tuple[Any, tuple[str, ...] | None]] = {
    "batch": ("batch", ("N", "H", "W")),
    "layer": ("layer", ("C", "H", "W")),
    "instance": ("instance", ("H", "W")),
    "group": (functools.partial(Norm.group, groups=4), ("C", "H", "W")),
    "none": (None, None),
}


def norm_net(data: Dataset, norm: Any = "batch", *, width: int = 8, seed: int = 0) -> nn.Module:
    """The section's small conv net: two VGG blocks of one conv each, ``norm`` after each
    conv, global average pooling and a linear head (seeded)."""
    torch.manual_seed(seed)
    c, h, w = data.shape
    return vgg(
        blocks=2,
        convs=1,
        width=width,
        norm=norm,
        in_channels=c,
        num_classes=data.num_classes,
        input_size=(h, w),
    )


def _styled_drawer(fn):
    """Run a drawer under the house style; tick labels sized on every axes it made."""

    @functools.wraps(fn)
    def wrapper(result: Result) -> dict[str, tuple[Figure, str]]:
        with style():
            out = fn(result)
        for fig, _ in out.values():
            for ax in fig.axes:
                style_ticks(ax)
        return out

    return wrapper


def _by_size(values: dict) -> dict[int, Any]:
    """Batch-size keys as ints again (JSON turns them into strings)."""
    return {int(k): v for k, v in values.items()}


def _norms(model: nn.Module) -> list[tuple[str, Norm]]:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, Norm)]


# ---- G-STD ------------------------------------------------------------------------------
def _descend(
    x: np.ndarray, y: np.ndarray, lr: float, tol: float, max_steps: int
) -> tuple[np.ndarray, int, bool]:
    """Gradient descent on ``0.5 * mean((x w - y)^2)`` from ``w = 0``; stops once the loss
    gap to the optimum is below ``tol`` times the starting gap.

    Returns the iterates ``(T + 1, 2)``, the steps taken and whether it converged.
    """
    n = len(y)
    w_star = np.linalg.lstsq(x, y, rcond=None)[0]

    def loss(w: np.ndarray) -> float:
        return 0.5 * float(np.mean((x @ w - y) ** 2))

    best = loss(w_star)
    w = np.zeros(2)
    gap0 = loss(w) - best
    path = [w.copy()]
    for step in range(1, max_steps + 1):
        w = w - lr * (x.T @ (x @ w - y)) / n  # the real gradient of the data loss
        path.append(w.copy())
        if loss(w) - best <= tol * gap0:
            return np.array(path), step, True
    return np.array(path), max_steps, False


@experiment("standardization", ["G-STD"], "Standardizing inputs preconditions the problem")
def standardization(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    n: int = 200,
    means: tuple[float, float] = (3.0, 0.0),
    scales: tuple[float, float] = (1.5, 0.3),
    tol: float = 1e-6,
) -> Result:
    """Least squares with two inputs, before and after standardizing them (G-STD).

    The inputs have different means and scales (``means``, ``scales``), like raw pixel
    values next to a small feature. The loss ``0.5 * mean((x w - y)^2)`` is a quadratic in
    ``w`` with Hessian ``A = x^T x / n``; gradient descent with step ``1 / lambda_max(A)``
    needs about ``cond(A) * log(1 / tol) / 2`` steps. Standardizing (subtract the mean,
    divide by the standard deviation; the targets are centred, so the intercept is their
    mean) makes ``A`` the inputs' correlation matrix, with condition number near 1.

    Pure numpy on synthetic data (seeded); ``data`` and ``device`` are not used. The fact
    holds at any scale; ``"full"`` only takes more samples.
    """
    rng = np.random.default_rng(seed)
    n = pick(scale, n, 10 * n)
    z = rng.standard_normal((n, 2))
    x_raw = np.asarray(means) + np.asarray(scales) * z  # (n, 2)
    y = x_raw @ np.array([0.8, -2.0]) + 0.1 * rng.standard_normal(n)  # (n,)
    x_std = (x_raw - x_raw.mean(0)) / x_raw.std(0)
    y_std = y - y.mean()
    numbers: dict[str, Any] = {"n": n, "tol": tol}
    for key, x, t in (("raw", x_raw, y), ("standardized", x_std, y_std)):
        hessian = x.T @ x / n  # (2, 2)
        eig = np.linalg.eigvalsh(hessian)
        lr = 1.0 / eig[-1]
        path, steps, converged = _descend(x, t, lr, tol, max_steps=20000)
        w_star = np.linalg.lstsq(x, t, rcond=None)[0]
        numbers[key] = {
            "hessian": hessian,
            "eigenvalues": eig,
            "condition": float(eig[-1] / eig[0]),
            "lr": float(lr),
            "steps": steps,
            "converged": converged,
            "w_star": w_star,
            "path": path - w_star,  # iterates relative to the optimum, as descent_paths draws
        }
    raw, std = numbers["raw"], numbers["standardized"]
    facts = {
        "condition_drops": std["condition"] < raw["condition"],
        "fewer_steps": std["converged"] and std["steps"] < raw["steps"],
    }
    config = {"n": n, "means": list(means), "scales": list(scales), "seed": seed}
    return Result("standardization", ("G-STD",), scale, numbers, facts, config)


@drawer("standardization")
@_styled_drawer
def _draw_standardization(result: Result) -> dict[str, tuple[Figure, str]]:
    num = result.numbers
    problems = {
        f"{key} inputs": (np.array(num[key]["hessian"]), np.array(num[key]["path"]))
        for key in ("raw", "standardized")
    }
    fig = descent_paths(problems)
    caption = (
        f"Gradient descent from w = 0, step 1/lambda_max: condition "
        f"{num['raw']['condition']:.0f} -> {num['standardized']['condition']:.2f}, steps "
        f"{num['raw']['steps']} -> {num['standardized']['steps']}."
    )
    return {"descent_paths": (fig, caption)}


# ---- G-BN1, G-BN3, G-AXES, G-LNPARAMS -----------------------------------------------------
def _reference_cases(c: int, h: int, w: int, f: int) -> dict[str, dict[str, Any]]:
    """Each choice with its torch reference: ``ours(fused)`` builds our layer, ``ref(x, p)``
    computes torch's output from the parameters ``p = (weight, bias)``; batch norms carry a
    torch module so that its running statistics can be compared too."""

    def ln_channel(x, p):  # layer norm over (C, H, W), then a per-channel affine map
        return F.layer_norm(x, [c, h, w]) * p[0].view(1, c, 1, 1) + p[1].view(1, c, 1, 1)

    return {
        "batch1d": {
            "shape": "NF",
            "ours": lambda fused: Norm(f, ("N", "H", "W"), fused=fused),
            "module": lambda: nn.BatchNorm1d(f),
            "torch": "nn.BatchNorm1d",
        },
        "batch2d": {
            "shape": "NCHW",
            "ours": lambda fused: Norm.batch(c, fused=fused),
            "module": lambda: nn.BatchNorm2d(c),
            "torch": "nn.BatchNorm2d",
        },
        "layer": {
            "shape": "NCHW",
            "ours": lambda fused: Norm(c, "CHW", affine="element", spatial=(h, w), fused=fused),
            "ref": lambda x, p: F.layer_norm(x, [c, h, w], p[0], p[1]),
            "torch": "F.layer_norm over [C, H, W]",
        },
        "layer_channel_affine": {
            "shape": "NCHW",
            "ours": lambda fused: Norm.layer(c, fused=fused),
            "ref": ln_channel,
            "torch": "F.layer_norm over [C, H, W] + per-channel affine",
        },
        "layer1d": {
            "shape": "NF",
            "ours": lambda fused: Norm(f, ("C",), fused=fused),
            "ref": lambda x, p: F.layer_norm(x, [f], p[0], p[1]),
            "torch": "F.layer_norm over [F]",
        },
        "instance": {
            "shape": "NCHW",
            "ours": lambda fused: Norm.instance(c, fused=fused),
            "ref": lambda x, p: F.instance_norm(x, weight=p[0], bias=p[1]),
            "torch": "F.instance_norm",
        },
        "group": {
            "shape": "NCHW",
            "ours": lambda fused: Norm.group(c, 3, fused=fused),
            "ref": lambda x, p: F.group_norm(x, 3, p[0], p[1]),
            "torch": "F.group_norm, 3 groups",
        },
    }


def _max_diff(a: torch.Tensor | None, b: torch.Tensor | None) -> float:
    if a is None or b is None:
        return float("nan")
    return float((a.detach() - b.detach()).abs().max())


def _compare(case: dict[str, Any], fused: bool, inputs: list[torch.Tensor], gen) -> dict:
    """Our layer vs the reference on the same inputs: outputs and gradients in training
    mode, running statistics after every batch, outputs in eval mode."""
    ours = case["ours"](fused)
    shape = ours.weight.shape
    weight = 1.0 + 0.5 * torch.randn(shape, generator=gen)
    bias = torch.randn(shape, generator=gen)
    with torch.no_grad():
        ours.weight.copy_(weight)
        ours.bias.copy_(bias)
    module = case.get("module", lambda: None)()
    if module is not None:
        with torch.no_grad():
            module.weight.copy_(weight)
            module.bias.copy_(bias)
    out = {"train": 0.0, "grad_x": 0.0, "grad_params": 0.0, "running": 0.0, "eval": 0.0}
    for x in inputs[:-1]:
        xa = x.clone().requires_grad_(True)
        xb = x.clone().requires_grad_(True)
        wb = weight.clone().requires_grad_(True)
        bb = bias.clone().requires_grad_(True)
        ya = ours(xa)
        if module is not None:
            yb = module(xb)
        else:
            yb = case["ref"](xb, (wb, bb))
        g = torch.randn(ya.shape, generator=gen)  # a random upstream gradient
        ours.zero_grad()
        (ya * g).sum().backward()
        (yb * g).sum().backward()
        ref_w = module.weight.grad if module is not None else wb.grad
        ref_b = module.bias.grad if module is not None else bb.grad
        if module is not None:
            module.zero_grad()
        out["train"] = max(out["train"], _max_diff(ya, yb))
        out["grad_x"] = max(out["grad_x"], _max_diff(xa.grad, xb.grad))
        out["grad_params"] = max(
            out["grad_params"], _max_diff(ours.weight.grad, ref_w), _max_diff(ours.bias.grad, ref_b)
        )
        if module is not None:
            out["running"] = max(
                out["running"],
                _max_diff(ours.running_mean, module.running_mean),
                _max_diff(ours.running_var, module.running_var),
            )
    ours.eval()
    x = inputs[-1]
    with torch.no_grad():
        if module is not None:
            module.eval()
            ref = module(x)
        else:
            ref = case["ref"](x, (weight, bias))
        out["eval"] = _max_diff(ours(x), ref)
    out["stat_shape"] = list(ours.last_mean.shape) if ours.last_mean is not None else None
    return out


@experiment(
    "norm_reference",
    ["G-BN1", "G-BN3", "G-AXES", "G-LNPARAMS"],
    "Every axes choice against torch's own norm layers; affine parameter counts",
)
def norm_reference(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    shape: tuple[int, int, int, int] = (8, 6, 5, 4),
    features: int = 10,
    batches: int = 3,
) -> Result:
    """``vizlab.nn.Norm`` for each axes choice vs torch's reference (G-BN1, G-BN3, G-AXES),
    and the affine parameter counts (G-LNPARAMS).

    On random float32 inputs with a non-zero mean (``shape = (N, C, H, W)``, and
    ``(2N, features)`` for the fully connected cases), with random affine parameters, for
    ``batches`` training batches then one eval batch, and with both of ``Norm``'s paths
    (torch's fused kernel and the plain definition): the largest absolute difference of the
    outputs (train and eval mode), of the gradients with respect to the input and to the
    affine parameters, and of the running statistics (batch norm: ``nn.BatchNorm1d`` per
    column of an ``(N, F)`` input, ``nn.BatchNorm2d`` per channel over ``(N, H, W)``).

    The parameter counts: ``Norm`` over ``(C, H, W)`` with ``affine`` ``None``,
    ``"channel"`` and ``"element"`` next to torch's ``nn.LayerNorm([C, H, W])``, for the
    small shape and for a 16-channel 32x32 map. Runs on the CPU (a numeric check; ``data``
    and ``device`` are not used); both scales are the same.
    """
    gen = torch.Generator().manual_seed(seed)
    n, c, h, w = shape
    cases = _reference_cases(c, h, w, features)
    inputs = {
        "NCHW": [2.0 + 3.0 * torch.randn(shape, generator=gen) for _ in range(batches + 1)],
        "NF": [
            2.0 + 3.0 * torch.randn((2 * n, features), generator=gen) for _ in range(batches + 1)
        ],
    }
    diffs: dict[str, Any] = {}
    for name, case in cases.items():
        if stopped(stop):
            break
        per_path = {
            path: _compare(case, fused, inputs[case["shape"]], gen)
            for path, fused in (("fused", True), ("plain", False))
        }
        keys = ("train", "eval", "grad_x", "grad_params", "running")
        row = {k: max(per_path["fused"][k], per_path["plain"][k]) for k in keys}
        row["max"] = max(row.values())
        row["torch"] = case["torch"]
        row["stat_shape"] = per_path["plain"]["stat_shape"]
        row["by_path"] = {p: {k: per_path[p][k] for k in keys} for p in per_path}
        diffs[name] = row

    params = {}
    for label, (pc, ph, pw) in (("small", (c, h, w)), ("conv16x32x32", (16, 32, 32))):
        counts = {
            str(affine): sum(
                p.numel() for p in Norm(pc, "CHW", affine=affine, spatial=(ph, pw)).parameters()
            )
            for affine in ("channel", "element", None)
        }
        counts["torch_layernorm"] = sum(p.numel() for p in nn.LayerNorm([pc, ph, pw]).parameters())
        counts["torch_layernorm_no_affine"] = sum(
            p.numel() for p in nn.LayerNorm([pc, ph, pw], elementwise_affine=False).parameters()
        )
        counts["2C"], counts["2CHW"] = 2 * pc, 2 * pc * ph * pw
        counts["shape"] = [pc, ph, pw]
        params[label] = counts

    tol = 1e-4
    facts = {
        "matches_batchnorm1d": diffs.get("batch1d", {}).get("max", 1.0) < tol,
        "matches_batchnorm2d": diffs.get("batch2d", {}).get("max", 1.0) < tol,
        "every_choice_matches_torch": len(diffs) == len(cases)
        and all(row["max"] < tol for row in diffs.values()),
        "layernorm_element_params_2CHW": all(
            p["element"] == p["2CHW"] == p["torch_layernorm"] for p in params.values()
        ),
    }
    numbers = {"diffs": diffs, "params": params, "tolerance": tol, "shape": list(shape)}
    config = {"shape": list(shape), "features": features, "batches": batches, "seed": seed}
    rows = ("G-BN1", "G-BN3", "G-AXES", "G-LNPARAMS")
    return Result("norm_reference", rows, scale, numbers, facts, config)


_CUBES = {
    "batch": (("N", "H", "W"), None),
    "layer": (("C", "H", "W"), None),
    "instance": (("H", "W"), None),
    "group": (("C", "H", "W"), 4),  # 4 groups of 2 channels, as in the net's first layer
}


@styled
def _cubes(choices: Sequence[str], shape=(4, 8, 3, 2), figsize=None) -> Figure:
    """One (N, C, H*W) cube per choice, the elements sharing one mean/var highlighted."""
    fig = new_figure(figsize, (4.2 * len(choices), 4.5))
    axes = fig.subplots(1, len(choices), squeeze=False)[0]
    for i, (ax, name) in enumerate(zip(axes, choices)):
        axes_, groups = _CUBES.get(name, (None, None))
        if axes_ is None:
            ax.set_axis_off()
            ax.set_title(f"{name}: no normalization")
            continue
        mask = shared_mask(axes_, groups=groups, shape=shape)
        draw_norm_axes_cube(ax, mask, color=layer_color(i))
        ax.set_title(f"{name}: {''.join(axes_)}" + (f", G={groups}" if groups else ""))
    return fig


@drawer("norm_reference")
@_styled_drawer
def _draw_norm_reference(result: Result) -> dict[str, tuple[Figure, str]]:
    num = result.numbers
    diffs = num["diffs"]
    fig = new_figure(None, (12.0, 5.5))
    ax = fig.add_subplot()
    names = list(diffs)
    kinds = ("train", "eval", "grad_x", "grad_params")
    width = 0.8 / len(kinds)
    for k, kind in enumerate(kinds):
        values = [max(diffs[nm][kind], 1e-12) for nm in names]
        ax.bar(np.arange(len(names)) + k * width, values, width, label=kind, color=layer_color(k))
    ax.axhline(num["tolerance"], color=MARK, linestyle=":", label="tolerance")
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names, rotation=20)
    ax.set_ylabel("max |ours - torch|")
    ax.legend(loc="upper left", ncols=3)
    ax.set_title("Norm vs torch's batch/layer/instance/group norm (float32)")
    small = num["params"]["small"]
    cube = _cubes(("batch", "layer", "instance", "group"))
    cube.suptitle(
        f"C, H, W = {small['shape']}: layer norm affine per channel 2C = {small['channel']}, "
        f"per element 2CHW = {small['element']} (torch LayerNorm: {small['torch_layernorm']})"
    )
    worst = max(row["max"] for row in diffs.values()) if diffs else float("nan")
    return {
        "reference_diffs": (fig, f"Largest difference from torch over all checks: {worst:.1e}."),
        "axes_cubes": (cube, "Which elements share one mean and variance, per choice of axes."),
    }


# ---- G-BN2 ------------------------------------------------------------------------------
def _layer_inputs(model: nn.Module, x: torch.Tensor, train: bool) -> dict[str, torch.Tensor]:
    """The input of every ``Norm`` of ``model`` for the batch ``x`` (no statistic updates)."""
    seen: dict[str, torch.Tensor] = {}
    handles = [
        m.register_forward_pre_hook(lambda mod, args, name=name: seen.__setitem__(name, args[0]))
        for name, m in _norms(model)
    ]
    saved = [(m, m.momentum) for _, m in _norms(model)]
    try:
        for m, _ in saved:
            m.momentum = 0.0  # train mode would otherwise move the running averages
        model.train(train)
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        for m, momentum in saved:
            m.momentum = momentum
        model.eval()
    return seen


def _channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and unbiased variance over (N, H, W) (or over N for (N, F))."""
    dims = [0] if x.dim() == 2 else [0, 2, 3]
    var, mean = torch.var_mean(x.double(), dim=dims, correction=1)
    return mean, var


def recompute_stats(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """A copy of ``model`` whose running statistics are those of the whole of ``x``.

    One training-mode forward of all of ``x`` as a single batch with momentum 1: every norm
    layer's running mean and (unbiased) variance become the statistics of exactly what
    reaches it, each layer seeing the inputs the layers before it produce with their own
    full-data statistics.
    """
    out = copy.deepcopy(model)
    saved = [(m, m.momentum) for _, m in _norms(out)]
    for m, _ in saved:
        m.momentum = 1.0
    out.train()
    with torch.no_grad():
        out(x)
    for m, momentum in saved:
        m.momentum = momentum
    return out.eval()


def batch_stat_accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int = 0
) -> float:
    """Accuracy when every batch of ``batch_size`` is normalized with its own statistics
    (training mode, running statistics left untouched), in a seeded random order."""
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)).to(y.device)
    saved = [(m, m.momentum) for _, m in _norms(model)]
    correct = 0
    try:
        for m, _ in saved:
            m.momentum = 0.0
        model.train()
        with torch.no_grad():
            for i in range(0, len(y) - 1, batch_size):
                idx = order[i : i + batch_size]
                if len(idx) < 2:
                    continue
                correct += int((model(x[idx]).argmax(1) == y[idx]).sum())
    finally:
        for m, momentum in saved:
            m.momentum = momentum
        model.eval()
    used = len(y) if (len(y) % batch_size) != 1 else len(y) - 1
    return correct / used


@experiment(
    "bn_inference",
    ["G-BN2"],
    "Batch norm at inference: running averages vs recomputed statistics",
)
def bn_inference(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    epochs: int | None = None,
    batch_size: int = 32,
    lr: float = 3e-3,
    every: int = 2,
) -> Result:
    """Train a batch-norm conv net, then compare its three ways to normalize at test time.

    - running: the exponential moving averages kept during training (``eval()``);
    - recomputed: the mean and unbiased variance of each norm layer's input over the whole
      training set (:func:`recompute_stats`);
    - batch: every test batch of ``batch_size`` normalized with its own statistics, as in
      training.

    Measured: for every norm layer, the gap between its stored statistics and the real
    per-channel mean/variance of what reaches it over the training set at inference
    (max over channels of ``|mean gap| / std`` and ``|log variance ratio|``); test accuracy
    with each choice; training-split accuracy in train vs eval mode (the train/eval gap);
    and the first layer's batch vs running statistics during training (a ``watch``).

    Quick: ``digits``, 3 epochs. The recomputed statistics equal the dataset's at any scale;
    how far the running averages lag depends on lr and momentum.
    """
    d = dataset(data, "digits", seed=seed)
    epochs = epochs or pick(scale, 3, 15)
    model = norm_net(d, "batch", seed=seed)
    first = _norms(model)[0][0]
    probe = watch(model, layers=first, every=every, what=("norms",))
    history = fit(
        model,
        d,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        device=device,
        seed=seed,
        watch=probe,
        stop=stop,
        callbacks=callbacks,
    )
    dev = next(model.parameters()).device
    d = d.to(dev)
    x_train, y_train = d.train.x, d.train.y
    recomputed = recompute_stats(model, x_train)
    layers: dict[str, Any] = {}
    for label, net in (("running", model), ("recomputed", recomputed)):
        inputs = _layer_inputs(net, x_train, train=False)  # what reaches each layer at test time
        for name, norm in _norms(net):
            mean, var = _channel_stats(inputs[name])
            rm, rv = norm.running_mean.double(), norm.running_var.double()
            layers.setdefault(name, {})[label] = {
                "mean_gap": float(((rm - mean).abs() / var.sqrt()).max()),
                "log_var_ratio": float((rv / var).log().abs().max()),
                "running_mean": rm,
                "running_var": rv,
                "data_mean": mean,
                "data_var": var,
            }
    acc = {
        "running": evaluate(model, d.test)[1],
        "recomputed": evaluate(recomputed, d.test)[1],
        "batch": batch_stat_accuracy(model, d.test.x, d.test.y, batch_size, seed),
    }
    train_gap = {
        "eval_mode": evaluate(model, d.train)[1],
        "train_mode": batch_stat_accuracy(model, x_train, y_train, batch_size, seed),
        "recomputed": evaluate(recomputed, d.train)[1],
    }
    records = [[int(r.step), r.layer, r.kind, r.stat, np.asarray(r.value)] for r in probe.records()]
    worst = {
        label: max(max(v[label]["mean_gap"], v[label]["log_var_ratio"]) for v in layers.values())
        for label in ("running", "recomputed")
    }
    numbers = {
        "layers": layers,
        "worst_gap": worst,
        "test_acc": acc,
        "train_acc": train_gap,
        "history": history.as_dict(),
        "records": records,
        "watched_layer": first,
        "stopped": history.stopped,
    }
    facts = {
        "recomputed_equal_dataset_stats": worst["recomputed"] < 1e-3,
        "running_stats_lag": worst["running"] > worst["recomputed"],
    }
    config = {
        "data": d.name,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "device": str(dev),
        "seed": seed,
    }
    return Result("bn_inference", ("G-BN2",), scale, numbers, facts, config)


@drawer("bn_inference")
@_styled_drawer
def _draw_bn_inference(result: Result) -> dict[str, tuple[Figure, str]]:
    num = result.numbers
    records = [tuple(r) for r in num["records"]]
    stats_fig = norm_stats(records, layer=num["watched_layer"])
    fig = new_figure(None, (13.0, 5.0))
    ax_acc, ax_mean = fig.subplots(1, 2)
    labels = list(num["test_acc"])
    values = [num["test_acc"][k] or 0.0 for k in labels]
    ax_acc.bar(labels, values, color=[layer_color(i) for i in range(len(labels))])
    for i, v in enumerate(values):
        ax_acc.text(i, v, f"{v:.3f}", ha="center", va="bottom")
    ax_acc.set_ylabel("test accuracy")
    ax_acc.set_title("normalize test batches with ...")
    layer = num["watched_layer"]
    for label, color, marker in (("running", TRAIN, "o"), ("recomputed", VAL, "x")):
        row = num["layers"][layer][label]
        ax_mean.plot(row["data_mean"], row["running_mean"], marker, color=color, label=label)
    lo = min(min(num["layers"][layer][k]["data_mean"]) for k in ("running", "recomputed"))
    hi = max(max(num["layers"][layer][k]["data_mean"]) for k in ("running", "recomputed"))
    ax_mean.plot([lo, hi], [lo, hi], ":", color=MARK)
    ax_mean.set_xlabel("dataset mean of the layer input")
    ax_mean.set_ylabel("stored mean")
    ax_mean.legend(loc="best")
    ax_mean.set_title(layer)
    gap = num["worst_gap"]
    return {
        "norm_stats": (stats_fig, f"Batch vs running statistics of {layer} during training."),
        "inference_choices": (
            fig,
            f"Stored vs dataset statistics: running gap {gap['running']:.3f}, "
            f"recomputed gap {gap['recomputed']:.1e} (in standard deviations).",
        ),
    }


# ---- G-BNSMALL ---------------------------------------------------------------------------
def _spread(
    features: torch.Tensor, sizes: Sequence[int], draws: int, gen: torch.Generator
) -> dict[str, Any]:
    """Batch estimates of every channel's mean from ``draws`` random batches per size."""
    n = features.shape[0]
    per_example = features.double().mean(dim=(2, 3))  # (N, C): each example's channel means
    truth = per_example.mean(0)  # == the dataset mean over (N, H, W): equal H*W per example
    estimates, spreads = {}, {}
    for size in sizes:
        rows = torch.stack([torch.randperm(n, generator=gen)[:size] for _ in range(draws)])
        est = per_example[rows].mean(1)  # (draws, C)
        estimates[size] = est
        spreads[size] = float(est.std(0).mean())  # mean over channels of the spread
    return {"truth": truth, "estimates": estimates, "spread": spreads}


def _dependence(
    model: nn.Module, x: torch.Tensor, sizes: Sequence[int], draws: int, gen: torch.Generator
) -> dict[int, float]:
    """How much example 0's logits move when only its batch companions change (train mode,
    running statistics untouched): the std over ``draws`` batches, averaged over classes."""
    saved = [(m, m.momentum) for _, m in _norms(model)]
    out = {}
    try:
        for m, _ in saved:
            m.momentum = 0.0
        model.train()
        with torch.no_grad():
            for size in sizes:
                logits = []
                for _ in range(draws):
                    others = 1 + torch.randperm(len(x) - 1, generator=gen)[: size - 1]
                    idx = torch.cat([torch.zeros(1, dtype=torch.long), others]).to(x.device)
                    logits.append(model(x[idx])[0])
                out[size] = float(torch.stack(logits).std(0).mean())
    finally:
        for m, momentum in saved:
            m.momentum = momentum
        model.eval()
    return out


@experiment(
    "batch_spread",
    ["G-BNSMALL"],
    "Small batches: noisy batch statistics, dependent examples, accuracy vs batch size",
)
def batch_spread(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    sizes: Sequence[int] = (2, 4, 8, 32, 128),
    draws: int = 300,
    fit_sizes: Sequence[int] | None = None,
    fit_examples: int | None = None,
    epochs: int | None = None,
    lr: float = 3e-3,
) -> Result:
    """What batch norm pays for small batches (G-BNSMALL).

    1. Spread: the first norm layer's input of the (seeded, untrained) batch-norm net on the
       whole training split; for each batch size, ``draws`` random batches each give an
       estimate of every channel's mean; the spread is the standard deviation of those
       estimates (mean over channels). It shrinks like ``1 / sqrt(batch size)``.
    2. Dependence: in training mode, the logits of one fixed example change with the other
       examples of its batch under batch norm (their std over 40 random batches); under
       group norm, which never mixes examples, they do not change at all.
    3. Accuracy: short real fits of the batch-norm and the group-norm net at each batch
       size of ``fit_sizes``, on the first ``fit_examples`` training examples (all when
       ``None``) for the same number of epochs, so small batches take more steps; test
       accuracy (batch norm: with its running statistics) at the end.

    Quick: ``digits``; fits of 1 epoch over 400 examples at batch sizes 2, 8, 32. The
    spread and dependence facts hold at any scale; the accuracy ranking is only reported
    (it mixes the noise of small batches with their larger number of steps).
    """
    d = dataset(data, "digits", seed=seed)
    dev = resolve_device(device)
    d_dev = d.to(dev)
    gen = torch.Generator().manual_seed(seed)
    sizes = sorted(int(s) for s in sizes)
    bn = norm_net(d, "batch", seed=seed).to(dev)
    first = _norms(bn)[0][0]
    features = _layer_inputs(bn, d_dev.train.x, train=False)[first].cpu()
    spread = _spread(features, sizes, draws, gen)
    gn = norm_net(d, AXES_CHOICES["group"][0], seed=seed).to(dev)
    dep_sizes = [s for s in sizes if s <= len(d.train)]
    dependence = {
        "batch": _dependence(bn, d_dev.train.x, dep_sizes, 40, gen),
        "group": _dependence(gn, d_dev.train.x, dep_sizes, 40, gen),
    }
    fit_sizes = list(fit_sizes or pick(scale, (2, 8, 32), (2, 4, 8, 16, 32, 64, 128)))
    epochs = epochs or pick(scale, 1, 10)
    fit_examples = fit_examples or pick(scale, 400, None)
    fit_data = d
    if fit_examples is not None and fit_examples < len(d.train):
        train = Split(d.train.x[:fit_examples], d.train.y[:fit_examples])
        fit_data = Dataset(d.name, d.classes, train, d.val, d.test)
    accuracy: dict[str, dict[int, float | None]] = {"batch": {}, "group": {}}
    for size in fit_sizes:
        for norm in ("batch", "group"):
            if stopped(stop):
                break
            model = norm_net(d, AXES_CHOICES[norm][0], seed=seed)
            hist = fit(
                model,
                fit_data,
                epochs=epochs,
                batch_size=size,
                lr=lr,
                device=device,
                seed=seed,
                stop=stop,
                callbacks=callbacks,
            )
            accuracy[norm][size] = None if hist.stopped else hist.test_acc
    spreads = [spread["spread"][s] for s in sizes]
    numbers = {
        "layer": first,
        "sizes": sizes,
        "spread": spread["spread"],
        "spread_times_sqrt_size": {s: spread["spread"][s] * s**0.5 for s in sizes},
        "estimates": {s: spread["estimates"][s][:, 0] for s in sizes},  # channel 0
        "truth": spread["truth"],
        "dependence": dependence,
        "test_acc": accuracy,
        "epochs": epochs,
        "fit_examples": len(fit_data.train),
    }
    facts = {
        "spread_grows_as_batch_shrinks": all(a > b for a, b in zip(spreads, spreads[1:])),
        "batch_norm_mixes_examples": dependence["batch"][dep_sizes[0]] > 1e-4,
        "group_norm_does_not": max(dependence["group"].values()) < 1e-5,
    }
    config = {"data": d.name, "draws": draws, "lr": lr, "device": str(dev), "seed": seed}
    return Result("batch_spread", ("G-BNSMALL",), scale, numbers, facts, config)


@drawer("batch_spread")
@_styled_drawer
def _draw_batch_spread(result: Result) -> dict[str, tuple[Figure, str]]:
    num = result.numbers
    estimates = _by_size(num["estimates"])
    spread_fig = batch_spread_figure(estimates, truth=float(num["truth"][0]))
    spread_fig.axes[0].set_title(f"channel 0 of {num['layer']}: one dot per batch")
    fig = new_figure(None, (13.0, 5.0))
    ax_dep, ax_acc = fig.subplots(1, 2)
    for i, (norm, values) in enumerate(num["dependence"].items()):
        pts = sorted(_by_size(values).items())
        ax_dep.plot(*zip(*pts), "o-", color=layer_color(i), label=f"{norm} norm")
    ax_dep.set_xscale("log", base=2)
    ax_dep.set_xlabel("batch size")
    ax_dep.set_ylabel("std of one example's logits")
    ax_dep.set_title("dependence on the rest of the batch")
    ax_dep.legend(loc="best")
    for i, (norm, values) in enumerate(num["test_acc"].items()):
        pts = sorted((k, v) for k, v in _by_size(values).items() if v is not None)
        if pts:
            ax_acc.plot(*zip(*pts), "o-", color=layer_color(i), label=f"{norm} norm")
    ax_acc.set_xscale("log", base=2)
    ax_acc.set_xlabel("batch size")
    ax_acc.set_ylabel("test accuracy")
    ax_acc.set_title(f"after {num['epochs']} epoch(s) of {num['fit_examples']} examples")
    if ax_acc.lines:
        ax_acc.legend(loc="best")
    spreads = _by_size(num["spread"])
    first, last = min(spreads), max(spreads)
    return {
        "batch_spread": (
            spread_fig,
            f"Spread of batch means: {spreads[first]:.3f} at batch {first}, "
            f"{spreads[last]:.3f} at batch {last}.",
        ),
        "batch_size_effects": (fig, "Batch-norm output depends on the batch; accuracy vs size."),
    }


# ---- G-AXES trained ----------------------------------------------------------------------
@experiment("norm_axes", ["G-AXES"], "Every choice of normalization axes, trained side by side")
def norm_axes(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    choices: Sequence[str] = tuple(AXES_CHOICES),
    epochs: int | None = None,
    batch_size: int = 32,
    lr: float = 3e-3,
) -> Result:
    """The same small conv net (:func:`norm_net`) trained with batch, layer, instance and
    group norm and without normalization, same seed, data and budget (G-AXES).

    Reported per choice: the axes of its norm layers, its parameter count, the epoch curves
    and the final validation and test accuracy. Quick: ``digits``, 3 epochs each; every
    choice learns well above chance there. Which choice wins depends on data and budget.
    """
    unknown = [name for name in choices if name not in AXES_CHOICES]
    if unknown:
        raise ValueError(f"unknown norm choice {unknown[0]!r}; choose from {list(AXES_CHOICES)}")
    d = dataset(data, "digits", seed=seed)
    epochs = epochs or pick(scale, 3, 20)
    runs: dict[str, Any] = {}
    for name in choices:
        if stopped(stop):
            break
        spec, _ = AXES_CHOICES[name]
        model = norm_net(d, spec, seed=seed)
        hist = fit(
            model,
            d,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            device=device,
            seed=seed,
            stop=stop,
            callbacks=callbacks,
        )
        runs[name] = {
            "axes": sorted({"".join(m.axes) for _, m in _norms(model)}),
            "groups": sorted({m.groups for _, m in _norms(model)}),
            "params": sum(p.numel() for p in model.parameters()),
            "history": hist.as_dict(),
            "val_acc": hist.val_acc[-1] if hist.val_acc else None,
            "test_acc": hist.test_acc,
            "stopped": hist.stopped,
        }
    chance = 1.0 / d.num_classes
    done = [r for r in runs.values() if not r["stopped"]]
    facts = {
        "axes_as_chosen": all(
            runs[n]["axes"] == (["".join(AXES_CHOICES[n][1])] if AXES_CHOICES[n][1] else [])
            for n in runs
        ),
        "every_choice_learns": len(done) == len(choices)
        and all((r["test_acc"] or 0.0) > 3 * chance for r in done),
    }
    numbers = {"runs": runs, "chance": chance, "epochs": epochs}
    config = {"data": d.name, "batch_size": batch_size, "lr": lr, "seed": seed}
    return Result("norm_axes", ("G-AXES",), scale, numbers, facts, config)


@drawer("norm_axes")
@_styled_drawer
def _draw_norm_axes(result: Result) -> dict[str, tuple[Figure, str]]:
    runs = result.numbers["runs"]
    fig = new_figure(None, (13.0, 5.0))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (name, run) in enumerate(runs.items()):
        h = run["history"]
        color = layer_color(i)
        ax_loss.plot(h["epochs"], h["train_loss"], "o-", color=color, label=name)
        ax_acc.plot(h["epochs"], h["val_acc"], "o-", color=color, label=name)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("train loss")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("validation accuracy")
    for ax in (ax_loss, ax_acc):
        if ax.lines:
            ax.legend(loc="best")
    cubes = _cubes(list(runs))
    summary = ", ".join(
        f"{n} {r['test_acc']:.2f}" for n, r in runs.items() if r["test_acc"] is not None
    )
    first = next(iter(runs), None)
    out = {
        "axes_curves": (fig, f"Same net, same budget; test accuracy: {summary}."),
        "axes_cubes": (cubes, "The statistics each choice shares, on the (N, C, H*W) cube."),
    }
    if first is not None:
        single = new_figure(None, (12.0, 4.5))
        ax_l, ax_a = single.subplots(1, 2)
        draw_curves(ax_l, runs[first]["history"], metric="loss")
        draw_curves(ax_a, runs[first]["history"], metric="acc")
        single.suptitle(f"{first} norm")
        out["first_curves"] = (single, f"Train vs validation curves with {first} norm.")
    return out


# ---- G-SMOOTH ----------------------------------------------------------------------------
class LandscapeProbe:
    """Callback: every ``every`` steps, look along the gradient from the current weights.

    On a fixed training batch ``(x, y)``, with ``g`` the gradient at the current weights
    ``w``, it evaluates the loss and the gradient at ``w - eta * g`` for each ``eta`` and
    records (Santurkar et al., 2018): ``loss_range``, the spread of those losses (how much
    the loss varies along the step); ``grad_change``, the largest ``||grad(w - eta g) - g||``
    (gradient predictiveness: small means the gradient stays a good guide); and
    ``beta``, the largest ``||grad(w - eta g) - g|| / ||eta g||`` (an effective smoothness
    constant). Weights and buffers (running statistics) are restored afterwards, so the
    training run itself is unchanged.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, etas: Sequence[float], every: int):
        self.x, self.y, self.etas, self.every = x, y, list(etas), every
        self.rows: list[dict[str, float]] = []

    def on_step(self, state: Any) -> None:
        if state.step % self.every:
            return
        model = state.model
        x, y = self.x.to(state.device), self.y.to(state.device)
        params = [p for p in model.parameters() if p.requires_grad]
        saved_buffers = {k: v.clone() for k, v in model.named_buffers()}
        saved = [p.detach().clone() for p in params]

        def loss_grad() -> tuple[float, list[torch.Tensor]]:
            loss = F.cross_entropy(model(x), y)
            grads = list(torch.autograd.grad(loss, params))
            return float(loss.detach()), grads

        try:
            loss0, g0 = loss_grad()
            gnorm = float(torch.sqrt(sum((g * g).sum() for g in g0)))
            losses, changes, betas = [loss0], [], []
            for eta in self.etas:
                with torch.no_grad():
                    for p, w, g in zip(params, saved, g0):
                        p.copy_(w - eta * g)
                loss, grads = loss_grad()
                change = float(torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(grads, g0))))
                losses.append(loss)
                changes.append(change)
                betas.append(change / max(eta * gnorm, 1e-12))
        finally:
            with torch.no_grad():
                for p, w in zip(params, saved):
                    p.copy_(w)
                for k, v in model.named_buffers():
                    v.copy_(saved_buffers[k])
        self.rows.append(
            {
                "step": state.step,
                "loss": loss0,
                "grad_norm": gnorm,
                "loss_range": max(losses) - min(losses),
                "grad_change": max(changes),
                "beta": max(betas),
            }
        )


@experiment(
    "smoothness",
    ["G-SMOOTH"],
    "Batch norm smooths the loss landscape along the training path (optional row)",
)
def smoothness(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    epochs: int | None = None,
    batch_size: int = 32,
    lr: float = 0.05,
    steps_along: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
    every: int = 4,
) -> Result:
    """Loss landscape along real training steps, with and without batch norm (G-SMOOTH).

    The section's conv net, with batch norm and without any normalization, trains with SGD
    (momentum 0.9, ``lr``) from the same seed; every ``every`` steps a
    :class:`LandscapeProbe` moves the weights along the current gradient by
    ``eta = lr * s`` for each ``s`` in ``steps_along`` and measures how much the loss and
    the gradient change (Santurkar et al., 2018, figure 4). Reported: those measures per
    sampled step and their medians. Santurkar et al. find smaller values with batch norm
    (a smoother landscape); here that is measured, not assumed: ``bn_smaller`` says, per
    measure, whether it held in this run. Quick: ``digits``, 3 epochs (there the gradient
    change and beta came out about half as large with batch norm; the loss variation was
    about equal).
    """
    d = dataset(data, "digits", seed=seed)
    epochs = epochs or pick(scale, 3, 15)
    gen = torch.Generator().manual_seed(seed)
    pick_idx = torch.randperm(len(d.train), generator=gen)[:batch_size]
    x, y = d.train.x[pick_idx], d.train.y[pick_idx]
    etas = [lr * s for s in steps_along]
    runs: dict[str, Any] = {}
    for name in ("batch", "none"):
        if stopped(stop):
            break
        model = norm_net(d, AXES_CHOICES[name][0], seed=seed)
        probe = LandscapeProbe(x, y, etas, every)
        hist = fit(
            model,
            d,
            epochs=epochs,
            batch_size=batch_size,
            optimizer="sgd",
            lr=lr,
            momentum=0.9,
            device=device,
            seed=seed,
            stop=stop,
            callbacks=[probe, *callbacks],
        )
        rows = probe.rows
        runs[name] = {
            "rows": rows,
            "median": {
                k: float(np.median([r[k] for r in rows])) if rows else None
                for k in ("loss_range", "grad_change", "beta")
            },
            "test_acc": hist.test_acc,
            "history": hist.as_dict(),
            "stopped": hist.stopped,
        }
    done = len(runs) == 2 and all(r["rows"] for r in runs.values())
    finite = done and all(
        np.isfinite(
            [r[k] for r in run["rows"] for k in ("loss_range", "grad_change", "beta")]
        ).all()
        for run in runs.values()
    )
    facts = {"computed_from_real_steps": bool(finite)}
    numbers = {"runs": runs, "etas": etas, "every": every, "epochs": epochs}
    if finite:  # which measures came out smaller with batch norm in this run
        numbers["bn_smaller"] = {
            k: runs["batch"]["median"][k] < runs["none"]["median"][k]
            for k in ("loss_range", "grad_change", "beta")
        }
    config = {"data": d.name, "lr": lr, "batch_size": batch_size, "seed": seed}
    return Result("smoothness", ("G-SMOOTH",), scale, numbers, facts, config)


@drawer("smoothness")
@_styled_drawer
def _draw_smoothness(result: Result) -> dict[str, tuple[Figure, str]]:
    runs = result.numbers["runs"]
    fig = new_figure(None, (15.0, 4.5))
    axes = fig.subplots(1, 3)
    labels = {
        "loss_range": "loss variation along the step",
        "grad_change": "gradient change ||g' - g||",
        "beta": "effective beta-smoothness",
    }
    for ax, (key, label) in zip(axes, labels.items()):
        for i, (name, run) in enumerate(runs.items()):
            steps = [r["step"] for r in run["rows"]]
            ax.plot(steps, [r[key] for r in run["rows"]], color=layer_color(i), label=name)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_title(label, fontsize="medium")
        if ax.lines:
            ax.legend(loc="best")
    med = {n: r["median"] for n, r in runs.items()}
    text = "; ".join(
        f"{n}: loss range {m['loss_range']:.3g}, beta {m['beta']:.3g}"
        for n, m in med.items()
        if m["loss_range"] is not None
    )
    return {"landscape": (fig, f"Medians along training, batch norm vs none: {text}.")}
