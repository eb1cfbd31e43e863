"""Section E: optimization strategies and regularization, reproduced by real runs.

Five curriculum rows, four topics:

- ``early_stopping`` (E-ES): a small training set that a wide MLP overfits; with a patience
  the run stops exactly ``patience`` epochs after its best validation epoch, and the model it
  returns holds the best epoch's weights (re-evaluated here on the validation split).
- ``l2_sweep`` (E-L2): the same run with ``lambda * ||w||^2`` for lambda from 0 to too large;
  the final weight norm shrinks monotonically with lambda, and a too-large lambda costs
  accuracy.
- ``weight_decay`` (E-WD, Loshchilov & Hutter 2019): with one coefficient ``lam``, an L2
  penalty ``lam/2 * ||w||^2`` and decoupled decay ``w <- w * (1 - lr * lam)`` are the same
  update for plain SGD and different ones for Adam (Adam rescales the penalty's gradient).
- ``sparsity`` (E-L1, E-REPARAM, Ziyin & Wang 2022): L1 drives many more weights to about
  zero than L2 at the same accuracy; writing ``w = a * b`` and putting L2 on ``a`` and ``b``
  gives the same objective as L1 on ``w`` but, with plain SGD, reaches weights that are
  zero to numerical precision, which the L1 subgradient (it flips sign around zero forever)
  does not.

The penalties and the decay live in ``vizlab.train.optim`` and act on the weights of
linear and conv layers (not biases). :class:`ReparamLinear` is the only new module here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from vizlab.data import Dataset
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.models import mlp
from vizlab.plots import constrained_optimum, curves, lasso_ridge
from vizlab.plots.style import MARK, PALETTE, new_figure, styled
from vizlab.train import evaluate, fit

__all__ = [
    "NEAR_ZERO",
    "EXACT_ZERO",
    "ReparamLinear",
    "reparameterize",
    "layer_weights",
    "weight_norms",
    "WeightRecorder",
    "mlp_for",
    "early_stopping",
    "l2_sweep",
    "weight_decay",
    "sparsity",
]

#: ``|w| <`` this counts as near zero (the ``watch`` default): invisible in a histogram.
NEAR_ZERO = 1e-3
#: ``|w| <`` this counts as exactly zero: six orders below a typical weight (~0.1), beyond
#: anything the L1 subgradient reaches with these learning rates (it oscillates at ~lr*l1).
EXACT_ZERO = 1e-6


# ---- the reparameterization w = a * b ---------------------------------------------------
class ReparamLinear(nn.Module):
    """A linear layer whose weight is the elementwise product ``w = a * b`` (E-REPARAM).

    ``a`` and ``b`` are 2-D parameters, so ``fit(l2=c)`` penalises ``c (||a||^2 + ||b||^2)``.
    For a fixed ``w`` that sum is smallest when ``|a| = |b| = sqrt|w|``, where it equals
    ``2c |w|``: the penalty is L1 on ``w`` with coefficient ``2c`` (Ziyin & Wang, "Sparsity by
    Redundancy: Solving L1 with a Simple Reparametrization", 2022). Unlike ``|w|`` it is
    smooth, so gradient descent shrinks an unused ``a`` and ``b`` geometrically to zero
    instead of stepping back and forth across it.

    Shape:
        x: (B, in_features) -> (B, out_features); a, b, weight: (out_features, in_features)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.a = nn.Parameter(torch.empty(out_features, in_features))
        self.b = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.set_weight(nn.Linear(in_features, out_features).weight.detach())

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> ReparamLinear:
        """The same function as ``linear``: ``a * b`` equals its weight (to float rounding)."""
        layer = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        layer.set_weight(linear.weight.detach())
        if linear.bias is not None:
            with torch.no_grad():
                layer.bias.copy_(linear.bias)
        return layer

    @torch.no_grad()
    def set_weight(self, w: torch.Tensor) -> None:
        """Balanced split ``a = sign(w) sqrt|w|``, ``b = sqrt|w|`` (where the penalty is L1)."""
        root = w.abs().sqrt()
        self.a.copy_(torch.where(w < 0, -root, root))
        self.b.copy_(root)

    @property
    def weight(self) -> torch.Tensor:
        return self.a * self.b  # (out, in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, w=a*b"


def reparameterize(model: nn.Module) -> nn.Module:
    """Replace every ``nn.Linear`` of ``model`` in place by an equal :class:`ReparamLinear`."""
    for name, child in list(model.named_children()):
        if type(child) is nn.Linear:
            setattr(model, name, ReparamLinear.from_linear(child))
        else:
            reparameterize(child)
    return model


def layer_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The effective weight of every linear, conv and reparameterized layer, by layer name.

    The biases are left out: penalties and decay do not touch them (``decay_parameters``).
    """
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, ReparamLinear)
    return {
        name: module.weight.detach()
        for name, module in model.named_modules()
        if isinstance(module, kinds)
    }


def weight_norms(model: nn.Module) -> dict[str, float]:
    """``||w||_2`` of every layer plus ``"total"``, the norm of all of them together."""
    norms = {name: float(w.norm()) for name, w in layer_weights(model).items()}
    norms["total"] = math.sqrt(sum(v * v for v in norms.values()))
    return norms


def _flat_weights(model: nn.Module) -> torch.Tensor:
    return torch.cat([w.reshape(-1) for w in layer_weights(model).values()]).float().cpu()


def _fractions(w: torch.Tensor) -> dict[str, float]:
    mag = w.abs()
    return {
        "near_zero": float((mag < NEAR_ZERO).float().mean()),
        "exact_zero": float((mag < EXACT_ZERO).float().mean()),
    }


class WeightRecorder:
    """A ``fit`` callback that records the effective weights of every layer.

    Works for any model, reparameterized ones included (a ``watch`` sees ``a`` and ``b``,
    this sees ``w = a * b``). Every ``every`` steps (and at step 0 and at the end of the
    fit) it appends records
    ``(step, layer, "weights", stat, value)`` with ``weight_norm``, ``near_zero``,
    ``exact_zero``, ``weight_hist`` (counts over ``[-max|w|, max|w|]`` of that step) and
    ``weight_hist_range``, the format ``vizlab.plots.weight_hist`` and ``LiveWeightNorms``
    draw.
    """

    def __init__(self, every: int = 10, bins: int = 40) -> None:
        self.every, self.bins = every, bins
        self._records: list[tuple] = []

    def records(self) -> list[tuple]:
        """A copy of the records so far (safe to call from another thread)."""
        return list(self._records)

    def on_fit_start(self, state: Any) -> None:
        self._record(0, state.model)

    def on_step(self, state: Any) -> None:
        if state.step % self.every == 0:
            self._record(state.step, state.model)

    def on_fit_end(self, state: Any) -> None:
        # the weights fit returns (after any restore of the best epoch's weights)
        if not self._records or self._records[-1][0] != state.step:
            self._record(state.step, state.model)

    def _record(self, step: int, model: nn.Module) -> None:
        rows = []
        for layer, w in layer_weights(model).items():
            w = w.float().reshape(-1).cpu()
            top = max(float(w.abs().max()), 1e-6)  # the range follows the weights as they grow
            hist = torch.histc(w, bins=self.bins, min=-top, max=top)
            fractions = _fractions(w)
            rows += [
                (step, layer, "weights", "weight_norm", float(w.norm())),
                (step, layer, "weights", "near_zero", fractions["near_zero"]),
                (step, layer, "weights", "exact_zero", fractions["exact_zero"]),
                (step, layer, "weights", "weight_hist", hist.numpy()),
                (step, layer, "weights", "weight_hist_range", (-top, top)),
            ]
        self._records.extend(rows)  # one extend: a reader never sees half a step


class _EpochNorms:
    """Callback: per-layer weight norms after every epoch (and before the first)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_fit_start(self, state: Any) -> None:
        self.rows.append({"epoch": 0, **weight_norms(state.model)})

    def on_epoch_end(self, state: Any) -> None:
        self.rows.append({"epoch": state.epoch, **weight_norms(state.model)})


def mlp_for(data: Dataset, hidden: Sequence[int], seed: int, activation: str = "relu") -> nn.Module:
    """An MLP sized for ``data``, initialised from ``seed`` (same seed, same weights)."""
    c, h, w = data.shape
    torch.manual_seed(seed)
    return mlp([c * h * w, *hidden, data.num_classes], activation=activation)


# ---- E-ES: early stopping ---------------------------------------------------------------
@experiment("early_stopping", ["E-ES"], "Early stopping with a validation split and patience")
def early_stopping(
    *,
    scale: str = "quick",
    data: Dataset | str | None = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Iterable[Any] = (),
    patience: int = 4,
) -> Result:
    """Overfit a small training set, stop with ``patience``, check the restored weights.

    A wide MLP trained with Adam at a high learning rate on a few hundred digits overfits
    within a few epochs: the validation loss falls, bottoms out and climbs while the training
    loss keeps falling. Holds at both scales (``full`` uses more data and a longer budget).

    Numbers: ``history`` (as_dict), ``best_epoch``, ``stop_epoch``, ``patience``,
    ``best_val_loss`` (the history's minimum), ``last_val_loss`` (at the stop epoch),
    ``restored_val_loss`` / ``restored_val_acc`` (the returned model re-evaluated on the
    validation split) and ``best_val_acc`` (the history's val accuracy at the best epoch).
    """
    data = dataset(data, "digits", seed=seed, n=pick(scale, 240, 600), val_fraction=0.5)
    model = mlp_for(data, [256], seed)
    history = fit(
        model, data, epochs=pick(scale, 40, 100), batch_size=32, optimizer="adam", lr=1e-2,
        early_stopping=patience, device=device, seed=seed, stop=stop, callbacks=callbacks,
    )  # fmt: skip
    where = next(model.parameters()).device  # fit leaves the model on its device
    val_loss, val_acc = evaluate(model, data.val.to(where))  # the model as fit returned it
    best = history.best_epoch
    index = history.epochs.index(best) if best in history.epochs else None
    numbers = {
        "history": history.as_dict(),
        "patience": patience,
        "best_epoch": best,
        "stop_epoch": history.stop_epoch,
        "stopped_early": history.stopped_early,
        "restored_epoch": history.restored_epoch,
        "best_val_loss": min(history.val_loss) if history.val_loss else math.nan,
        "best_val_acc": history.val_acc[index] if index is not None else math.nan,
        "last_val_loss": history.val_loss[-1] if history.val_loss else math.nan,
        "restored_val_loss": val_loss,
        "restored_val_acc": val_acc,
    }
    facts = {
        "stops_patience_after_best": bool(
            history.stopped_early and history.stop_epoch - best == patience
        ),
        "restored_is_best": abs(val_loss - numbers["best_val_loss"]) <= 1e-5
        and val_acc == numbers["best_val_acc"],
    }
    config = {"data": data.name, "train": len(data.train), "val": len(data.val), "seed": seed}
    return Result("early_stopping", ("E-ES",), scale, numbers, facts, config)


@drawer("early_stopping")
def _draw_early_stopping(result: Result) -> dict[str, tuple[Figure, str]]:
    n = result.numbers
    fig = curves(n["history"])
    caption = (
        f"best epoch {n['best_epoch']}, stopped at {n['stop_epoch']} "
        f"(patience {n['patience']}); restored val loss {n['restored_val_loss']:.4f} "
        f"= best {n['best_val_loss']:.4f}"
    )
    return {"early_stopping": (fig, caption)}


# ---- E-L2: the L2 penalty from 0 to too large -------------------------------------------
@experiment("l2_sweep", ["E-L2"], "L2 penalty lambda * ||w||^2: from 0 to too large")
def l2_sweep(
    *,
    scale: str = "quick",
    data: Dataset | str | None = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Iterable[Any] = (),
    lambdas: Sequence[float] = (0.0, 1e-4, 1e-3, 1e-2, 1e-1),
) -> Result:
    """Train the same MLP (same seed, same batches) with ``l2 = lambda`` for each lambda.

    The weight norm of every layer is measured after each epoch. The penalty's gradient
    ``2 lambda w`` pulls every weight toward zero, so the final norm falls as lambda grows;
    at the largest lambda the pull wins over the data and accuracy drops. Holds at both
    scales.

    Numbers: ``lambdas``; ``norms`` (per lambda, rows ``{epoch, <layer>..., total}``);
    ``final_norm``, ``test_acc``, ``val_acc`` (per lambda, in the order of ``lambdas``).
    """
    data = dataset(data, "digits", seed=seed)
    lambdas = [float(v) for v in lambdas]
    if sorted(lambdas) != lambdas or len(set(lambdas)) != len(lambdas):
        raise ValueError(f"lambdas must be increasing and distinct, got {lambdas}")
    norms, final_norm, test_acc, val_acc = [], [], [], []
    for lam in lambdas:
        if stopped(stop):
            break
        model = mlp_for(data, [64], seed)
        trace = _EpochNorms()
        history = fit(
            model, data, epochs=pick(scale, 12, 40), batch_size=64, optimizer="sgd", lr=0.05,
            momentum=0.9, l2=lam, device=device, seed=seed, stop=stop,
            callbacks=[trace, *callbacks],
        )  # fmt: skip
        norms.append(trace.rows)
        final_norm.append(trace.rows[-1]["total"])
        test_acc.append(history.test_acc)
        val_acc.append(history.val_acc[-1] if history.val_acc else math.nan)
    numbers = {
        "lambdas": lambdas[: len(norms)],
        "norms": norms,
        "final_norm": final_norm,
        "test_acc": test_acc,
        "val_acc": val_acc,
    }
    done = len(final_norm) == len(lambdas) and len(lambdas) > 1
    facts = {
        "norm_shrinks_with_lambda": done and all(a > b for a, b in zip(final_norm, final_norm[1:])),
        "too_large_hurts": done and test_acc[-1] < max(test_acc) - 0.05,
    }
    config = {"data": data.name, "train": len(data.train), "seed": seed, "optimizer": "sgd"}
    return Result("l2_sweep", ("E-L2",), scale, numbers, facts, config)


@drawer("l2_sweep")
@styled
def _draw_l2_sweep(result: Result) -> dict[str, tuple[Figure, str]]:
    n = result.numbers
    fig = new_figure(None, (13.0, 4.8))
    ax_norm, ax_final = fig.subplots(1, 2)
    for i, (lam, rows) in enumerate(zip(n["lambdas"], n["norms"])):
        ax_norm.plot(
            [r["epoch"] for r in rows], [r["total"] for r in rows],
            color=PALETTE[i % 7], marker="o", label=f"lambda={lam:g}",
        )  # fmt: skip
    ax_norm.set_xlabel("epoch")
    ax_norm.set_ylabel("||w|| (all layers)")
    ax_norm.legend(loc="best", fontsize="small")
    x = np.arange(len(n["final_norm"]))
    ax_final.bar(x, n["final_norm"], color=PALETTE[0], label="final ||w||")
    ax_final.set_xticks(x, [f"{lam:g}" for lam in n["lambdas"]])
    ax_final.set_xlabel("lambda")
    ax_final.set_ylabel("final ||w||")
    ax_acc = ax_final.twinx()
    ax_acc.plot(x, n["test_acc"], color=PALETTE[1], marker="o", label="test accuracy")
    ax_acc.set_ylim(0, 1)
    ax_acc.set_ylabel("test accuracy")
    ax_acc.legend(loc="upper right", fontsize="small")
    caption = "final weight norm " + " > ".join(f"{v:.2f}" for v in n["final_norm"])
    return {"l2_sweep": (fig, caption)}


# ---- E-WD: weight decay vs L2, inside Adam and inside SGD ---------------------------------
_WD_RUNS = (
    # name, optimizer, how the coefficient lam enters (l2 penalty or decoupled decay)
    ("adam + L2", "adam", "l2"),
    ("adamw", "adamw", "decay"),
    ("sgd + L2", "sgd", "l2"),
    ("sgd + decay", "sgd", "decay"),
)


@experiment("weight_decay", ["E-WD"], "Weight decay vs L2 inside Adam and SGD")
def weight_decay(
    *,
    scale: str = "quick",
    data: Dataset | str | None = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Iterable[Any] = (),
    lam: float = 0.01,
) -> Result:
    """Adam + L2 vs AdamW, and SGD + L2 vs SGD + decay, all with one coefficient ``lam``.

    The L2 runs minimise ``loss + lam/2 ||w||^2`` (``fit(l2=lam / 2)``), whose gradient adds
    ``lam * w``; the decay runs shrink ``w <- w (1 - lr lam)`` next to the step
    (``fit(weight_decay=lam)``). Every run starts from the same weights and sees the same
    batches. Plain SGD (momentum 0) makes the two the same update, so its weights agree to
    float rounding; Adam divides ``lam * w`` by the running gradient scale, so Adam + L2 and
    AdamW end with different weights (Loshchilov & Hutter, "Decoupled Weight Decay
    Regularization", 2019). Holds at both scales. The runs are float32 throughout
    (``amp=None``): the comparison is about the update rule, not about bf16 rounding.

    Numbers: ``runs`` (names), ``layer_norms`` (per run ``{layer: ||w||}``), ``test_acc``,
    ``adam_diff`` / ``sgd_diff``: ``max |w1 - w2|`` over all weights of each pair, and
    ``adam_rel_diff`` / ``sgd_rel_diff``: ``||w1 - w2|| / ||w1||``.
    """
    data = dataset(data, "digits", seed=seed)
    weights, layer_norms, test_acc, names = [], [], [], []
    for name, optimizer, rule in _WD_RUNS:
        if stopped(stop):
            break
        model = mlp_for(data, [64], seed)
        penalty = {"l2": lam / 2} if rule == "l2" else {"weight_decay": lam}
        history = fit(
            model, data, epochs=pick(scale, 10, 30), batch_size=64, optimizer=optimizer,
            lr=1e-3 if optimizer.startswith("adam") else 0.2, momentum=0.0, device=device,
            seed=seed, stop=stop, callbacks=callbacks, amp=None, **penalty,
        )  # fmt: skip
        names.append(name)
        weights.append(_flat_weights(model).double())
        layer_norms.append({k: v for k, v in weight_norms(model).items()})
        test_acc.append(history.test_acc)

    def diffs(i: int, j: int) -> tuple[float, float]:
        if len(weights) <= max(i, j):
            return math.nan, math.nan
        d = weights[i] - weights[j]
        return float(d.abs().max()), float(d.norm() / weights[i].norm())

    adam_diff, adam_rel = diffs(0, 1)
    sgd_diff, sgd_rel = diffs(2, 3)
    numbers = {
        "lam": lam,
        "runs": names,
        "layer_norms": layer_norms,
        "test_acc": test_acc,
        "adam_diff": adam_diff,
        "adam_rel_diff": adam_rel,
        "sgd_diff": sgd_diff,
        "sgd_rel_diff": sgd_rel,
    }
    facts = {
        "adam_l2_differs_from_adamw": adam_rel > 0.05,
        "sgd_l2_equals_decay": sgd_diff < 1e-4,
    }
    config = {"data": data.name, "train": len(data.train), "seed": seed, "momentum": 0.0}
    return Result("weight_decay", ("E-WD",), scale, numbers, facts, config)


@drawer("weight_decay")
@styled
def _draw_weight_decay(result: Result) -> dict[str, tuple[Figure, str]]:
    n = result.numbers
    fig = new_figure(None, (13.0, 4.8))
    ax_norm, ax_acc = fig.subplots(1, 2, width_ratios=(2, 1))
    layers = [k for k in (n["layer_norms"][0] if n["layer_norms"] else {}) if k != "total"]
    width = 0.8 / max(len(n["runs"]), 1)
    x = np.arange(len(layers))
    for i, (name, norms) in enumerate(zip(n["runs"], n["layer_norms"])):
        ax_norm.bar(x + i * width, [norms[k] for k in layers], width, color=PALETTE[i], label=name)
    ax_norm.set_xticks(x + width * (len(n["runs"]) - 1) / 2, layers)
    ax_norm.set_ylabel("||w|| per layer")
    ax_norm.set_title(f"same coefficient lam={n['lam']:g}")
    ax_norm.legend(loc="best", fontsize="small")
    ax_acc.bar(np.arange(len(n["runs"])), n["test_acc"], color=PALETTE[: len(n["runs"])])
    ax_acc.set_xticks(np.arange(len(n["runs"])), n["runs"], rotation=30, ha="right")
    ax_acc.set_ylim(0, 1)
    ax_acc.set_ylabel("test accuracy")
    caption = (
        f"Adam+L2 vs AdamW: weights differ by {n['adam_rel_diff']:.1%}; "
        f"SGD+L2 vs SGD+decay: max |dw| = {n['sgd_diff']:.1e}"
    )
    return {"weight_decay": (fig, caption)}


# ---- E-L1 and E-REPARAM: sparsity ---------------------------------------------------------
_THRESHOLDS = (1e-2, 1e-3, 1e-4, 1e-6, 1e-8)
_LOG_EDGES = np.linspace(-12.0, 1.0, 53)  # log10 |w| bins; |w| < 1e-12 counts in the first


def _log_hist(w: torch.Tensor) -> list[int]:
    logs = np.log10(np.maximum(w.abs().double().numpy(), 10.0**-12))
    counts, _ = np.histogram(np.clip(logs, _LOG_EDGES[0], _LOG_EDGES[-1]), bins=_LOG_EDGES)
    return counts.tolist()


def _lasso_ridge_data(
    center: Sequence[float] = (1.2, 0.5), a: Any = ((1.0, 0.4), (0.4, 0.6)), radius: float = 1.0
) -> dict[str, Any]:
    """The 2-D picture: where a quadratic loss first touches the L1 diamond and the L2 disc."""
    l1 = constrained_optimum(center, a, norm=1, radius=radius)
    l2 = constrained_optimum(center, a, norm=2, radius=radius)
    return {
        "center": list(center),
        "a": [list(row) for row in a],
        "radius": radius,
        "l1_optimum": l1.tolist(),
        "l2_optimum": l2.tolist(),
    }


@experiment("sparsity", ["E-L1", "E-REPARAM"], "L1 gives sparse weights; w = a*b gets exact zeros")
def sparsity(
    *,
    scale: str = "quick",
    data: Dataset | str | None = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Iterable[Any] = (),
    c: float = 5e-3,
    l2_factors: Sequence[float] = (1.0, 2.0),
    epochs: int | None = None,
) -> Result:
    """L1 vs L2 vs ``w = a * b`` with L2 on ``a, b``, all with plain SGD (momentum 0).

    Every run starts from the same initial function and sees the same batches:

    - ``fit(l1=c)``;
    - a :func:`reparameterize`-d copy with ``fit(l2=c/2)``: the same objective as L1 with
      coefficient ``c`` (see :class:`ReparamLinear`);
    - ``fit(l2=f*c)`` for each ``f`` of ``l2_factors``. The L2 run whose test accuracy is
      closest to the L1 run's is the *matched* one: L2 keeps more accuracy than L1 at the
      same coefficient, so matching accuracy needs a larger L2 coefficient.

    Facts:

    - E-L1: at matched test accuracy (within 0.02), L1 leaves a larger fraction of weights
      near zero (``|w| < NEAR_ZERO``) than L2, which shrinks weights without zeroing them.
    - E-REPARAM: the L1 subgradient ``c * sign(w)`` overshoots zero at every step, so L1
      weights hover around zero at about ``lr * c`` and almost none get below
      ``EXACT_ZERO``; in the reparameterization an unused ``a`` and ``b`` shrink
      geometrically, so several percent of the weights become zero to numerical precision
      (the gap grows with the number of steps; ``full`` trains longer).

    Numbers: ``runs`` (``L2`` matched, ``L1``, ``a*b + L2``), ``test_acc``, ``near_zero``,
    ``exact_zero``, ``fractions`` (``|w| <`` each of ``thresholds``), ``log_hist`` /
    ``log_edges`` (histograms of log10 |w|) and ``layer_exact_zero``, all per run;
    ``l2_runs`` (every L2 coefficient with its accuracy and near-zero fraction),
    ``matched_l2`` and ``lasso_ridge`` (the 2-D picture: each constrained optimum).
    """
    data = dataset(data, "digits", seed=seed)
    plan = [("L1", {"l1": c}, False), ("a*b + L2", {"l2": c / 2}, True)]
    plan += [(f"L2 {f * c:g}", {"l2": f * c}, False) for f in l2_factors]
    runs: list[dict[str, Any]] = []
    for name, penalty, reparam in plan:
        if stopped(stop):
            break
        model = mlp_for(data, [32], seed, activation="tanh")
        if reparam:
            reparameterize(model)
        history = fit(
            model, data, epochs=epochs or pick(scale, 40, 150), batch_size=32, optimizer="sgd",
            lr=0.3, momentum=0.0, device=device, seed=seed, stop=stop, callbacks=callbacks,
            **penalty,
        )  # fmt: skip
        w = _flat_weights(model)
        runs.append({
            "name": name, "penalty": penalty, "test_acc": history.test_acc, "weights": w,
            **_fractions(w),
            "layer_exact_zero": {
                k: _fractions(v.float().cpu())["exact_zero"]
                for k, v in layer_weights(model).items()
            },
        })  # fmt: skip
    l2_runs = [
        {"l2": r["penalty"]["l2"], "test_acc": r["test_acc"], "near_zero": r["near_zero"]}
        for r in runs[2:]
    ]
    facts: dict[str, bool] = {}
    if len(runs) == len(plan):
        l1_run = runs[0]
        matched = min(runs[2:], key=lambda r: abs(r["test_acc"] - l1_run["test_acc"]))
        runs = [{**matched, "name": "L2"}, *runs[:2]]
    shown = runs if len(runs) == 3 and runs[0]["name"] == "L2" else []
    lasso = _lasso_ridge_data()
    numbers = {
        "c": c,
        "runs": [r["name"] for r in shown],
        "matched_l2": shown[0]["penalty"]["l2"] if shown else None,
        "l2_runs": l2_runs,
        "test_acc": [r["test_acc"] for r in shown],
        "near_zero": [r["near_zero"] for r in shown],
        "exact_zero": [r["exact_zero"] for r in shown],
        "thresholds": list(_THRESHOLDS),
        "fractions": [
            {f"{t:g}": float((r["weights"].abs() < t).float().mean()) for t in _THRESHOLDS}
            for r in shown
        ],
        "layer_exact_zero": [r["layer_exact_zero"] for r in shown],
        "log_edges": _LOG_EDGES.tolist(),
        "log_hist": [_log_hist(r["weights"]) for r in shown],
        "lasso_ridge": lasso,
    }
    if shown:
        acc, near, exact = numbers["test_acc"], numbers["near_zero"], numbers["exact_zero"]
        facts = {
            "l1_sparser_than_l2": abs(acc[1] - acc[0]) <= 0.02 and near[1] > near[0],
            "reparam_exactly_sparser": exact[2] > exact[1],
        }
    facts["lasso_corner"] = (
        min(abs(v) for v in lasso["l1_optimum"]) < 1e-9
        and min(abs(v) for v in lasso["l2_optimum"]) > 1e-3
    )
    config = {"data": data.name, "train": len(data.train), "seed": seed, "optimizer": "sgd"}
    return Result("sparsity", ("E-L1", "E-REPARAM"), scale, numbers, facts, config)


@drawer("sparsity")
@styled
def _draw_sparsity(result: Result) -> dict[str, tuple[Figure, str]]:
    n = result.numbers
    fig = new_figure(None, (13.0, 4.8))
    ax_hist, ax_frac = fig.subplots(1, 2)
    edges = np.asarray(n["log_edges"])
    for i, (name, counts) in enumerate(zip(n["runs"], n["log_hist"])):
        ax_hist.stairs(counts, edges, color=PALETTE[i], linewidth=2, label=name)
    for t, style in ((NEAR_ZERO, "--"), (EXACT_ZERO, ":")):
        ax_hist.axvline(math.log10(t), color=MARK, linestyle=style)
    ax_hist.set_yscale("symlog")
    ax_hist.set_xlabel("log10 |w|  (first bin: |w| < 1e-12)")
    ax_hist.set_ylabel("weights")
    ax_hist.legend(loc="upper left", fontsize="small")
    x = np.arange(len(n["thresholds"]))
    width = 0.8 / max(len(n["runs"]), 1)
    for i, (name, fr) in enumerate(zip(n["runs"], n["fractions"])):
        acc = n["test_acc"][i]
        label = f"{name} (test acc {acc:.2f})"
        ax_frac.bar(x + i * width, list(fr.values()), width, color=PALETTE[i], label=label)
    ax_frac.set_xticks(x + width * (len(n["runs"]) - 1) / 2, [f"<{t:g}" for t in n["thresholds"]])
    ax_frac.set_xlabel("|w| below")
    ax_frac.set_ylabel("fraction of weights")
    ax_frac.legend(loc="upper right", fontsize="small")
    near, exact = n["near_zero"], n["exact_zero"]
    caption = "near zero: " + ", ".join(f"{r} {v:.0%}" for r, v in zip(n["runs"], near))
    caption += "; exactly zero: " + ", ".join(f"{r} {v:.2%}" for r, v in zip(n["runs"], exact))
    lr = n["lasso_ridge"]
    picture = lasso_ridge(lr["center"], lr["a"], radius=lr["radius"])
    return {
        "sparsity": (fig, caption),
        "lasso_ridge": (
            picture,
            "the loss ellipses touch the L1 diamond at a corner (w1 or w2 = 0)",
        ),
    }
