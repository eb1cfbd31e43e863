"""Section F, dropout: masks and their variants, inverted scaling, MC dropout, schedules.

Topics:
    - ``dropout_masks`` (F-MASK, F-VAR): a small CNN with channel dropout, cutout,
      DropConnect and element dropout trains under a watch; every recorded mask is checked
      against the zeros of the layer's real output in the same step.
    - ``inverted_dropout`` (F-INV): the mean of many training passes equals the input within
      a tolerance set by the standard error; in eval mode the layer is the identity.
    - ``mc_dropout`` (F-MC, Gal & Ghahramani 2016): N masked passes of a trained MLP give a
      predictive mean and spread; wrong predictions are the uncertain ones; with the rate set
      to 0 the spread is exactly zero.
    - ``dropout_schedule`` (F-SCHED, Liu et al. 2023): no, standard, early and late dropout;
      the rate used at every step of a real fit is read from the masks drawn.

The helpers ``mask_net``, ``mc_passes``, ``predictive_entropy`` and ``set_rate`` are shared
with the dropout panel.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from vizlab import plots
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.models import mlp
from vizlab.nn import DropConnectLinear, Dropout
from vizlab.nn.schedule import Schedule
from vizlab.plots.style import MARK, PALETTE, new_figure, styled
from vizlab.probes import watch
from vizlab.train import fit

__all__ = [
    "dropout_masks",
    "inverted_dropout",
    "mc_dropout",
    "dropout_schedule",
    "mask_net",
    "mc_passes",
    "predictive_entropy",
    "set_rate",
    "variant_net",
    "RateLog",
    "MASK_LAYERS",
    "VARIANTS",
]

#: The dropout layers of ``mask_net``, one per variant.
MASK_LAYERS = ("channel", "cutout", "dropconnect", "element")

#: The variants ``variant_net`` builds.
VARIANTS = ("element", "channel", "cutout", "dropconnect")


# ---- shared helpers ---------------------------------------------------------------------------
def mask_net(
    shape: tuple[int, int, int], num_classes: int, p: float = 0.25, width: int = 8, hidden: int = 64
) -> nn.Sequential:
    """A small CNN with one dropout layer of each variant.

    Tanh activations keep the inputs of the dropout layers free of exact zeros, so every zero
    of a dropout layer's output comes from its mask.

    Layers ``channel`` (spatial dropout), ``cutout``, ``dropconnect`` (a
    ``DropConnectLinear``) and ``element`` are named after their variant.

    Shape:
        - Input: ``(B, C, H, W)`` = ``(B, *shape)``; output: ``(B, num_classes)``.
    """
    c, h, w = shape
    layers = OrderedDict(
        conv1=nn.Conv2d(c, width, 3, padding=1),
        act1=nn.Tanh(),
        channel=Dropout(p, "channel"),  # (B, width, H, W), whole maps dropped
        conv2=nn.Conv2d(width, width, 3, padding=1),
        act2=nn.Tanh(),
        cutout=Dropout(p, "cutout"),  # (B, width, H, W), one square patch per example
        flatten=nn.Flatten(),
        dropconnect=DropConnectLinear(width * h * w, hidden, p),  # mask (hidden, width*H*W)
        act3=nn.Tanh(),
        element=Dropout(p, "element"),  # (B, hidden)
        head=nn.Linear(hidden, num_classes),
    )
    return nn.Sequential(layers)


def variant_net(
    variant: str,
    p: float,
    shape: tuple[int, int, int],
    num_classes: int,
    *,
    schedule: Any = None,
    hidden: int = 128,
    width: int = 16,
) -> nn.Sequential:
    """A small net whose two dropout layers (``drop1``, ``drop2``) are of one variant.

    ``element`` and ``dropconnect`` build an MLP with two hidden layers of ``hidden`` units
    (DropConnect replaces the hidden ``nn.Linear`` layers ``fc1``, ``fc2``; their masks have
    the weight's shape); ``channel`` and ``cutout`` build two 3x3 conv layers of ``width``
    maps, each followed by the dropout. ``schedule`` is passed to every dropout layer.

    Shape:
        - Input: ``(B, *shape)``; output: ``(B, num_classes)``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"dropout variant must be one of {VARIANTS}, got {variant!r}")
    c, h, w = shape
    if variant in ("channel", "cutout"):
        layers = OrderedDict(
            conv1=nn.Conv2d(c, width, 3, padding=1),
            act1=nn.ReLU(),
            drop1=Dropout(p, variant, schedule),  # (B, width, H, W)
            conv2=nn.Conv2d(width, width, 3, padding=1),
            act2=nn.ReLU(),
            drop2=Dropout(p, variant, schedule),
            flatten=nn.Flatten(),
            head=nn.Linear(width * h * w, num_classes),
        )
    elif variant == "element":
        layers = OrderedDict(
            flatten=nn.Flatten(),
            fc1=nn.Linear(c * h * w, hidden),
            act1=nn.ReLU(),
            drop1=Dropout(p, "element", schedule),  # (B, hidden)
            fc2=nn.Linear(hidden, hidden),
            act2=nn.ReLU(),
            drop2=Dropout(p, "element", schedule),
            head=nn.Linear(hidden, num_classes),
        )
    else:
        layers = OrderedDict(
            flatten=nn.Flatten(),
            fc1=DropConnectLinear(c * h * w, hidden, p, schedule=schedule),  # mask (hidden, in)
            act1=nn.ReLU(),
            fc2=DropConnectLinear(hidden, hidden, p, schedule=schedule),
            act2=nn.ReLU(),
            head=nn.Linear(hidden, num_classes),
        )
    return nn.Sequential(layers)


def set_rate(model: nn.Module, p: float) -> int:
    """Set the rate ``p`` of every vizlab dropout layer in ``model``; returns how many."""
    count = 0
    for module in model.modules():
        if isinstance(module, (Dropout, DropConnectLinear)):
            module.p = float(p)
            count += 1
    return count


@torch.no_grad()
def mc_passes(model: nn.Module, x: torch.Tensor, n: int, *, batch_size: int = 1024) -> torch.Tensor:
    """Softmax outputs of ``n`` forward passes with dropout on (Monte-Carlo dropout).

    Only the dropout layers are put in training mode (batch norm, if any, stays in eval),
    and the model's modes are restored afterwards.

    Shape:
        - x: ``(B, C, H, W)`` on the model's device; returns ``(n, B, K)`` on the same device.
    """
    modes = {m: m.training for m in model.modules()}
    model.eval()
    for m in model.modules():
        if isinstance(m, (Dropout, DropConnectLinear, nn.Dropout)):
            m.train()
    try:
        out = []
        for _ in range(n):
            chunks = [model(xb).softmax(dim=1) for xb in x.split(batch_size)]
            out.append(torch.cat(chunks))
        return torch.stack(out)  # (n, B, K)
    finally:
        for m, mode in modes.items():
            m.train(mode)


def predictive_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the mean prediction: ``probs (n, B, K) -> (B,)``."""
    mean = probs.mean(dim=0)
    return -(mean * mean.clamp_min(1e-12).log()).sum(dim=1)


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _stopped_result(topic: str, rows: tuple[str, ...], scale: str, done: dict) -> Result:
    return Result(topic, rows, scale, {"stopped": True, **done}, {}, {})


# ---- F-MASK, F-VAR: masks recorded during training ----------------------------------------------
class _Capture:
    """Keeps the real input, output and mask of one dropout layer on sampled training steps."""

    def __init__(self, module: nn.Module, every: int) -> None:
        self.module, self.every, self.count = module, every, 0
        self.steps: dict[int, dict[str, torch.Tensor]] = {}
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        if not module.training:
            return
        step, self.count = self.count, self.count + 1
        if step % self.every:
            return
        keep = {"x": args[0], "out": out, "mask": module.last_mask}
        if isinstance(module, DropConnectLinear):
            keep |= {"weight": module.weight, "bias": module.bias}
        self.steps[step] = {k: v.detach().float().cpu().clone() for k, v in keep.items()}


def _check_step(name: str, cap: dict[str, torch.Tensor], recorded: np.ndarray, p: float) -> dict:
    """Compare one recorded mask sample with the layer's real output in that step."""
    out, mask = cap["out"], cap["mask"].bool()
    rows, units = recorded.shape
    row = {"input_zeros": int((cap["x"] == 0).sum())}
    if name == "dropconnect":
        w = cap["weight"] * mask / (1.0 - p)
        row["shape_ok"] = tuple(mask.shape) == tuple(cap["weight"].shape)
        row["oracle_err"] = float((F.linear(cap["x"], w, cap["bias"]) - out).abs().max())
        truth = mask.reshape(mask.shape[0], -1)
    else:
        nz = out != 0  # (B, ...) what the next layer sees
        row["mask_is_zeros"] = bool(torch.equal(mask, nz))
        if name == "channel":
            # per (example, map): all pixels kept or all dropped
            row["constant_hw"] = bool((nz.all(dim=(2, 3)) | (~nz).all(dim=(2, 3))).all())
            truth = nz.any(dim=(2, 3))  # (B, C), the compact mask the watch records
        elif name == "cutout":
            cut = ~nz  # (B, C, H, W)
            row["same_channels"] = bool((cut == cut[:, :1]).all())
            areas, squares = [], []
            for c in cut[:, 0]:  # (H, W) per example
                r, k = c.any(dim=1).nonzero(), c.any(dim=0).nonzero()
                side_r, side_c = int(r.max() - r.min() + 1), int(k.max() - k.min() + 1)
                squares.append(side_r == side_c and int(c.sum()) == side_r * side_c)
                areas.append(int(c.sum()))
            row["square_patch"] = all(squares)
            row["patch_area"] = sorted(set(areas))
            truth = nz[:, 0].reshape(nz.shape[0], -1)  # (B, H*W)
        else:
            truth = nz.reshape(nz.shape[0], -1)
    row["recorded_ok"] = bool(np.array_equal(recorded, truth[:rows, :units].numpy()))
    row["draws"] = int(cap["mask"].numel()) if name == "element" else int(truth.numel())
    return row


@experiment("dropout_masks", ("F-MASK", "F-VAR"), "Dropout masks, recorded while training")
def dropout_masks(
    *,
    scale: str = "quick",
    data=None,
    device: str = "auto",
    seed: int = 0,
    stop=None,
    callbacks=(),
    p: float = 0.25,
    every: int = 5,
) -> Result:
    """Train ``mask_net`` (one dropout layer per variant) under a watch and check its masks.

    For every sampled step, the mask the watch recorded is compared with the zeros of the
    layer's real output in that same step (the inputs have no zeros, thanks to tanh), the
    channel masks with constancy over (H, W), the cutout zeros with one square patch shared
    by all channels, and the DropConnect mask with the weight's shape and with an oracle
    ``F.linear(x, W * M / (1 - p), b)``. The kept fractions are compared with ``1 - p``
    within 4 binomial standard errors. Holds at any scale (a few sampled steps suffice).
    """
    torch.manual_seed(seed)
    data = dataset(data, "digits", seed=seed)
    model = mask_net(data.shape, data.num_classes, p)
    epochs = pick(scale, 2, 10)
    caps = {name: _Capture(model.get_submodule(name), every) for name in MASK_LAYERS}
    w = watch(
        model, layers=list(MASK_LAYERS), every=every, what=("dropout",), mask_sample=(16, 512)
    )
    try:
        history = fit(
            model, data, epochs=epochs, batch_size=64, lr=2e-3, device=device, seed=seed,
            watch=w, stop=stop, callbacks=callbacks, amp=None,  # float32: exact zeros only
        )  # fmt: skip
    finally:
        for cap in caps.values():
            cap.handle.remove()
    if stopped(stop):
        return _stopped_result("dropout_masks", ("F-MASK", "F-VAR"), scale, {})

    layers: dict[str, Any] = {}
    for name in MASK_LAYERS:
        steps, masks = w.series(name, "mask")
        kept_steps, kept = w.series(name, "kept")
        checks = [
            _check_step(name, caps[name].steps[int(s)], np.asarray(m), p)
            for s, m in zip(steps, masks)
            if int(s) in caps[name].steps
        ]
        kept_mean = float(np.mean(kept))
        if name == "cutout":  # one patch of side round(sqrt(p H W)) per example: no chance
            h, w_ = data.shape[1:]
            side = min(round(math.sqrt(p * h * w_)), h, w_)
            expected, se = 1.0 - side * side / (h * w_), 0.0
        else:  # the mean of K per-step fractions, each of d_i Bernoulli draws
            variance = sum(p * (1 - p) / c["draws"] for c in checks)
            expected, se = 1.0 - p, math.sqrt(variance) / max(len(checks), 1)
        layers[name] = {
            "steps": [int(s) for s in steps],
            "checked_steps": len(checks),
            "kept_steps": [int(s) for s in kept_steps],
            "kept": [float(k) for k in kept],
            "kept_mean": kept_mean,
            "kept_expected": expected,
            "kept_se": se,
            "input_zeros": sum(c["input_zeros"] for c in checks),
            "recorded_ok": all(c["recorded_ok"] for c in checks),
            "mask_sample": np.asarray(masks[-1]).astype(int).tolist(),
            "mask_shape": list(caps[name].steps[int(steps[-1])]["mask"].shape),
        }
        for key in ("mask_is_zeros", "constant_hw", "same_channels", "square_patch", "shape_ok"):
            if key in checks[0]:  # each variant's own checks, over every sampled step
                layers[name][key] = all(c[key] for c in checks)
        if name == "dropconnect":
            layers[name]["oracle_err"] = max(c["oracle_err"] for c in checks)
            layers[name]["weight_shape"] = list(model.dropconnect.weight.shape)
        if name == "cutout":
            layers[name]["patch_area"] = sorted({a for c in checks for a in c["patch_area"]})
            layers[name]["patch_side"] = side

    def kept_close(name: str) -> bool:
        d = layers[name]
        return abs(d["kept_mean"] - d["kept_expected"]) <= 4 * d["kept_se"] + 1e-9

    facts = {
        "recorded_mask_equals_output_zeros": all(
            layers[n]["recorded_ok"] and layers[n].get("mask_is_zeros", True)
            for n in ("channel", "cutout", "element")
        ),
        "kept_fraction_near_1_minus_p": all(kept_close(n) for n in MASK_LAYERS),
        "channel_mask_constant_over_hw": bool(layers["channel"]["constant_hw"]),
        "cutout_is_one_square_patch": bool(
            layers["cutout"]["square_patch"] and layers["cutout"]["same_channels"]
        ),
        "dropconnect_mask_has_weight_shape": bool(
            layers["dropconnect"]["shape_ok"] and layers["dropconnect"]["recorded_ok"]
        ),
    }
    numbers = {"p": p, "every": every, "layers": layers, "history": history.as_dict()}
    config = {"data": data.name, "device": history.device, "seed": seed, "epochs": epochs}
    return Result("dropout_masks", ("F-MASK", "F-VAR"), scale, numbers, facts, config)


@drawer("dropout_masks")
def _draw_masks(result: Result) -> dict[str, tuple[Figure, str]]:
    layers = result.numbers["layers"]
    masks = {
        f"{name} {tuple(layers[name]['mask_shape'])}": layers[name]["mask_sample"]
        for name in MASK_LAYERS
    }
    fig_masks = plots.dropout_mask(masks, figsize=(20, 4.5))
    return {
        "masks": (fig_masks, "Masks recorded in training (white = kept), one per variant."),
        "kept": (_kept_figure(layers, result.numbers["p"]), "Kept fraction per step vs 1 - p."),
    }


@styled
def _kept_figure(layers: dict, p: float) -> Figure:
    fig = new_figure(None, (9.0, 4.5))
    ax = fig.add_subplot()
    for i, (name, d) in enumerate(layers.items()):
        ax.plot(d["kept_steps"], d["kept"], marker="o", color=PALETTE[i], label=name)
    ax.axhline(1 - p, color=MARK, linestyle="--", label=f"1 - p = {1 - p:.2f}")
    ax.set_xlabel("step")
    ax.set_ylabel("kept fraction")
    ax.legend(loc="best")
    return fig


# ---- F-INV: inverted dropout keeps the expectation ---------------------------------------------
@torch.no_grad()
def _mean_of_passes(layer: nn.Module, x: torch.Tensor, samples: int) -> torch.Tensor:
    total = torch.zeros_like(layer(x), dtype=torch.float64)
    for _ in range(samples):
        total += layer(x).double()
    return total / samples


@experiment(
    "inverted_dropout", ("F-INV",), "Inverted dropout: same mean in training, identity after"
)
def inverted_dropout(
    *,
    scale: str = "quick",
    data=None,
    device: str = "auto",
    seed: int = 0,
    stop=None,
    callbacks=(),
    rates: Sequence[float] = (0.2, 0.5, 0.8),
    samples: int | None = None,
) -> Result:
    """Average many training passes of each dropout layer and compare with the input.

    The input ``H`` is the tanh feature maps of a seeded conv layer on 32 real images (no
    zeros). For a kept probability ``1 - p`` an inverted-dropout output is ``H / (1 - p)``
    or 0, so each element has standard deviation ``|H| sqrt(p / (1 - p))`` and the mean of
    ``S`` passes has standard error ``|H| sqrt(p / (1 - p)) / sqrt(S)``. Every element's mean
    must lie within 6 standard errors of ``H`` (for ~16k elements a correct layer fails this
    with probability below 1e-4); the z-scores of element dropout must have a standard
    deviation of 1 +- 0.1, which checks the error model itself. Plain (non-inverted) dropout
    would be off by ``p |H|``, many standard errors. In eval mode every variant returns
    exactly its input (DropConnect: the plain linear layer). Holds at any scale.
    """
    gen = torch.Generator().manual_seed(seed)
    data = dataset(data, "digits", seed=seed)
    dev = torch.device("cpu")  # tiny tensors: the device would only add transfers
    samples = samples or pick(scale, 1000, 20000)
    x = data.test.x[:32].to(dev)
    conv = nn.Conv2d(data.shape[0], 8, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.5)
        conv.bias.copy_(torch.rand(conv.bias.shape, generator=gen) * 0.2 + 0.05)
        h = torch.tanh(conv(x))  # (32, 8, H, W)
    torch.manual_seed(seed)

    cases: dict[str, dict[str, Any]] = {}
    for kind in ("element", "channel"):
        for p in rates:
            if stopped(stop):
                return _stopped_result("inverted_dropout", ("F-INV",), scale, {"cases": cases})
            layer = Dropout(p, kind).train()
            mean = _mean_of_passes(layer, h, samples).float()
            se = h.abs() * math.sqrt(p / (1 - p)) / math.sqrt(samples)
            z = (mean - h) / se
            cases[f"{kind} p={p}"] = {
                "kind": kind,
                "p": p,
                "max_abs_z": float(z.abs().max()),
                "z_std": float(z.std()),
                "z_mean": float(z.mean()),
                "max_rel_err": float(((mean - h) / h).abs().max()),
                "plain_dropout_z": float((p * h.abs() / se).median()),  # bias if not rescaled
                "input": h.flatten()[:400].tolist(),
                "mean": mean.flatten()[:400].tolist(),
            }

    # DropConnect: E[x (W * M)^T / (1 - p)] = x W^T, per output with its own standard error
    p_dc = 0.5
    flat = h.flatten(1)  # (32, 8*H*W)
    dc = DropConnectLinear(flat.shape[1], 16, p_dc).train()
    with torch.no_grad():
        exact = F.linear(flat, dc.weight, dc.bias)
        var = (flat**2) @ (dc.weight**2).T * (p_dc / (1 - p_dc))  # (32, 16)
        mean = _mean_of_passes(dc, flat, samples).float()
        z = (mean - exact) / (var.sqrt() / math.sqrt(samples))
    cases[f"dropconnect p={p_dc}"] = {
        "kind": "dropconnect",
        "p": p_dc,
        "max_abs_z": float(z.abs().max()),
        "z_std": float(z.std()),
        "z_mean": float(z.mean()),
        "input": exact.flatten()[:400].tolist(),
        "mean": mean.flatten()[:400].tolist(),
    }

    eval_exact = {}
    with torch.no_grad():
        for kind in ("element", "channel", "cutout"):
            eval_exact[kind] = bool(torch.equal(Dropout(0.5, kind).eval()(h), h))
        eval_exact["dropconnect"] = bool(torch.equal(dc.eval()(flat), exact))

    tolerance = 6.0
    facts = {
        "training_mean_equals_input": all(c["max_abs_z"] < tolerance for c in cases.values()),
        "standard_error_model_fits": all(
            abs(c["z_std"] - 1) < 0.1 for c in cases.values() if c["kind"] == "element"
        ),
        "eval_output_equals_input": all(eval_exact.values()),
    }
    numbers = {
        "samples": samples,
        "tolerance_se": tolerance,
        "elements": int(h.numel()),
        "cases": cases,
        "eval_exact": eval_exact,
    }
    config = {"data": data.name, "device": str(dev), "seed": seed, "input_shape": list(h.shape)}
    return Result("inverted_dropout", ("F-INV",), scale, numbers, facts, config)


@drawer("inverted_dropout")
@styled
def _draw_inverted(result: Result) -> dict[str, tuple[Figure, str]]:
    cases = result.numbers["cases"]
    fig = new_figure(None, (15.0, 4.8))
    ax_mean, ax_z = fig.subplots(1, 2)
    for i, (name, c) in enumerate(cases.items()):
        if c["kind"] == "element" or c["kind"] == "dropconnect":
            ax_mean.scatter(c["input"], c["mean"], s=8, color=PALETTE[i % 7], label=name)
    lo = min(min(c["input"]) for c in cases.values())
    hi = max(max(c["input"]) for c in cases.values())
    ax_mean.plot([lo, hi], [lo, hi], color=MARK, linestyle="--", label="mean = input")
    ax_mean.set_xlabel("input (or x W^T for DropConnect)")
    ax_mean.set_ylabel(f"mean of {result.numbers['samples']} training passes")
    ax_mean.legend(loc="best", fontsize="small")
    names = list(cases)
    ax_z.bar(range(len(names)), [cases[n]["max_abs_z"] for n in names], color=PALETTE[0])
    ax_z.axhline(result.numbers["tolerance_se"], color=MARK, linestyle="--", label="tolerance")
    ax_z.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax_z.set_ylabel("max |mean - input| / SE")
    ax_z.legend(loc="best")
    caption = "Training-mode mean equals the input within the standard error; eval is identity."
    return {"expectation": (fig, caption)}


# ---- F-MC: Monte-Carlo dropout -----------------------------------------------------------------
@experiment("mc_dropout", ("F-MC",), "Monte-Carlo dropout: predictive mean and uncertainty")
def mc_dropout(
    *,
    scale: str = "quick",
    data=None,
    device: str = "auto",
    seed: int = 0,
    stop=None,
    callbacks=(),
    p: float = 0.5,
    passes: int = 50,
    images: Sequence[int] | None = None,
) -> Result:
    """Train an MLP with dropout, then run ``passes`` masked forward passes on the test set.

    Reports, per chosen test image, the per-class mean and standard deviation of the softmax
    over passes; over the whole test set, the accuracy of the MC mean and the predictive
    entropy of right vs wrong predictions (wrong ones must be more uncertain on average).
    Then the same trained model with its rate set to 0 is run the same way: the passes are
    identical, the spread (max - min over passes) is exactly zero. Holds at quick scale
    (digits, a few epochs); the entropy gap needs a model that makes some errors (at least 3
    on the test split).

    Args:
        p: dropout rate of the hidden layers.
        passes: N, the number of masked passes.
        images: test indices to show; default: the most confident right prediction, the most
            uncertain prediction and the most confident wrong one.
    """
    torch.manual_seed(seed)
    data = dataset(data, "digits", seed=seed)
    c, h, w = data.shape
    model = mlp([c * h * w, 256, 256, data.num_classes], dropout=p)
    epochs = pick(scale, 6, 30)
    history = fit(
        model, data, epochs=epochs, batch_size=64, lr=1e-3, device=device, seed=seed,
        stop=stop, callbacks=callbacks,
    )  # fmt: skip
    if stopped(stop):
        return _stopped_result("mc_dropout", ("F-MC",), scale, {})
    dev = _device_of(model)
    x, y = data.test.x.to(dev), data.test.y.to(dev)
    torch.manual_seed(seed)
    probs = mc_passes(model, x, passes)  # (N, B, K)
    mean = probs.mean(dim=0)  # (B, K)
    pred = mean.argmax(dim=1)
    right = pred == y
    entropy = predictive_entropy(probs)
    spread = probs.std(dim=0)  # (B, K)
    with torch.no_grad():
        eval_acc = float((model.eval()(x).argmax(dim=1) == y).float().mean())
    ent_right, ent_wrong = entropy[right], entropy[~right]
    # AUROC of "entropy flags an error": P(entropy of a wrong one > entropy of a right one)
    auroc = float(
        (ent_wrong[:, None] > ent_right[None, :]).float().mean()
        + 0.5 * (ent_wrong[:, None] == ent_right[None, :]).float().mean()
    )

    if images is None:
        conf = mean.max(dim=1).values
        chosen = [int(torch.where(right, conf, -1.0).argmax()), int(entropy.argmax())]
        if (~right).any():
            chosen.append(int(torch.where(~right, conf, -1.0).argmax()))
    else:
        chosen = [int(i) for i in images]
    shown = {
        str(i): {
            "label": int(y[i]),
            "pred": int(pred[i]),
            "probs": probs[:, i].cpu().tolist(),  # (N, K)
            "mean": mean[i].cpu().tolist(),
            "std": spread[i].cpu().tolist(),
            "entropy": float(entropy[i]),
        }
        for i in chosen
    }

    set_rate(model, 0.0)
    off = mc_passes(model, x, passes)
    set_rate(model, p)
    # range (max - min over passes) rather than std: exactly 0 for identical passes
    spread_off = float((off.amax(dim=0) - off.amin(dim=0)).max())
    identical_off = bool((off == off[:1]).all())

    n_wrong = int((~right).sum())
    facts = {
        "wrong_predictions_more_uncertain": n_wrong >= 3
        and float(ent_wrong.mean()) > float(ent_right.mean()),
        "spread_zero_without_dropout": spread_off == 0.0 and identical_off,
    }
    numbers = {
        "p": p,
        "passes": passes,
        "mc_acc": float(right.float().mean()),
        "eval_acc": eval_acc,
        "n_test": len(y),
        "n_wrong": n_wrong,
        "entropy_right": float(ent_right.mean()),
        "entropy_wrong": float(ent_wrong.mean()) if n_wrong else None,
        "entropy_auroc": auroc,
        "mean_spread": float(spread.max(dim=1).values.mean()),
        "spread_off": spread_off,
        "identical_off": identical_off,
        "entropies_right": ent_right.cpu().tolist(),
        "entropies_wrong": ent_wrong.cpu().tolist(),
        "images": shown,
        "classes": list(data.classes),
        "history": history.as_dict(),
    }
    config = {"data": data.name, "device": history.device, "seed": seed, "epochs": epochs}
    return Result("mc_dropout", ("F-MC",), scale, numbers, facts, config)


@drawer("mc_dropout")
@styled
def _draw_mc(result: Result) -> dict[str, tuple[Figure, str]]:
    n = result.numbers
    out: dict[str, tuple[Figure, str]] = {}
    for i, (index, img) in enumerate(n["images"].items()):
        fig = plots.mc_dropout(img["probs"], classes=n["classes"], label=img["label"])
        verdict = "right" if img["pred"] == img["label"] else "wrong"
        caption = (
            f"Test image {index}: label {n['classes'][img['label']]}, MC prediction "
            f"{n['classes'][img['pred']]} ({verdict}), entropy {img['entropy']:.2f} nats."
        )
        out[f"image{i}"] = (fig, caption)
    fig = new_figure(None, (9.0, 4.5))
    ax = fig.add_subplot()
    right, wrong = n["entropies_right"], n["entropies_wrong"]
    top = max(right + wrong + [1e-3])
    bins = np.linspace(0, top, 25)
    ax.hist(right, bins=bins, density=True, alpha=0.6, color=PALETTE[0], label="right")
    if wrong:
        ax.hist(wrong, bins=bins, density=True, alpha=0.6, color=PALETTE[3], label="wrong")
    ax.set_xlabel("predictive entropy (nats)")
    ax.set_ylabel("density")
    ax.set_title(f"{n['passes']} passes, AUROC {n['entropy_auroc']:.2f}")
    ax.legend(loc="best")
    out["entropy"] = (fig, "Wrong predictions carry more predictive entropy than right ones.")
    return out


# ---- F-SCHED: early and late dropout ----------------------------------------------------------
class RateLog:
    """A ``fit`` callback: per step, the progress and rate one dropout layer used and the
    fraction of its mask that was dropped (read from ``last_mask``, i.e. measured)."""

    def __init__(self, module: Dropout) -> None:
        self.module = module
        self.steps: list[int] = []
        self.progress: list[float] = []
        self.rate: list[float] = []
        self.dropped: list[float] = []
        self.draws: list[int] = []

    def on_step(self, state: Any) -> None:
        m = self.module  # progress and rate are still those of this step's forward
        mask = m.last_mask
        self.steps.append(state.step)
        self.progress.append(m.progress)
        self.rate.append(m.rate)
        self.dropped.append(1.0 - float(mask.float().mean()))
        self.draws.append(mask.numel())


def _expected_rate(kind: str, p: float, switch: float, progress: float) -> float:
    if kind == "none":
        return 0.0
    if kind == "early":
        return p if progress < switch else 0.0
    if kind == "late":
        return p if progress >= switch else 0.0
    return p


@experiment("dropout_schedule", ("F-SCHED",), "Early and late dropout (Liu et al. 2023)")
def dropout_schedule(
    *,
    scale: str = "quick",
    data=None,
    device: str = "auto",
    seed: int = 0,
    stop=None,
    callbacks=(),
    p: float = 0.5,
    switch: float = 0.25,
    n: int | None = 600,
) -> Result:
    """Train the same MLP with no, standard, early and late dropout and log the rate per step.

    At every step a callback reads the progress the layer was given, its rate, and the
    fraction of units its mask actually dropped. The rate must equal the schedule's formula
    at every step; the dropped fraction must be exactly 0 where the rate is 0 and within 5
    binomial standard errors of ``p`` where it is ``p``. Validation curves of the four runs
    are drawn side by side (Liu et al. find early dropout helps underfitting models and late
    dropout overfitting ones; ``n`` limits the training pool so the MLP overfits). The rate
    fact holds at any scale.
    """
    data = dataset(data, "digits", seed=seed, n=n)
    c, h, w = data.shape
    epochs = pick(scale, 8, 40)
    runs: dict[str, Any] = {}
    for kind in ("none", "standard", "early", "late"):
        if stopped(stop):
            return _stopped_result("dropout_schedule", ("F-SCHED",), scale, {"runs": runs})
        torch.manual_seed(seed)
        model = mlp([c * h * w, 256, 256, data.num_classes], dropout=p)
        drops = [m for m in model.modules() if isinstance(m, Dropout)]
        for m in drops:
            m.p = 0.0 if kind == "none" else p
            m.schedule = Schedule(kind if kind in ("early", "late") else "constant", switch)
        log = RateLog(drops[0])
        history = fit(
            model, data, epochs=epochs, batch_size=64, lr=1e-3, device=device, seed=seed,
            stop=stop, callbacks=[log, *callbacks],
        )  # fmt: skip
        expected = [_expected_rate(kind, p, switch, g) for g in log.progress]
        se = [math.sqrt(r * (1 - r) / d) for r, d in zip(expected, log.draws)]
        runs[kind] = {
            "steps": log.steps,
            "progress": log.progress,
            "rate": log.rate,
            "expected": expected,
            "dropped": log.dropped,
            "rate_matches": log.rate == expected,
            "off_exact": all(d == 0.0 for d, e in zip(log.dropped, expected) if e == 0.0),
            "on_max_z": max(
                [abs(d - e) / s for d, e, s in zip(log.dropped, expected, se) if e > 0] or [0.0]
            ),
            "history": history.as_dict(),
            "final": history.final(),
        }
    if stopped(stop):
        return _stopped_result("dropout_schedule", ("F-SCHED",), scale, {"runs": runs})
    facts = {
        "rate_follows_schedule": all(r["rate_matches"] for r in runs.values()),
        "masks_follow_rate": all(r["off_exact"] and r["on_max_z"] < 5 for r in runs.values()),
    }
    numbers = {"p": p, "switch": switch, "runs": runs}
    config = {"data": data.name, "n": n, "device": device, "seed": seed, "epochs": epochs}
    return Result("dropout_schedule", ("F-SCHED",), scale, numbers, facts, config)


@drawer("dropout_schedule")
@styled
def _draw_schedule(result: Result) -> dict[str, tuple[Figure, str]]:
    runs = result.numbers["runs"]
    rates = plots.dropout_schedule({k: (r["progress"], r["dropped"]) for k, r in runs.items()})
    fig = new_figure(None, (13.0, 4.5))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (kind, r) in enumerate(runs.items()):
        h = r["history"]
        ax_loss.plot(h["epochs"], h["val_loss"], marker="o", color=PALETTE[i], label=kind)
        ax_acc.plot(h["epochs"], h["val_acc"], marker="o", color=PALETTE[i], label=kind)
    for ax, label in ((ax_loss, "validation loss"), (ax_acc, "validation accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.legend(loc="best")
    return {
        "rates": (rates, "Fraction of units each mask dropped, per step (the schedule)."),
        "curves": (fig, "Validation curves with no, standard, early and late dropout."),
    }
