"""Section C: what deep networks do that a textbook model would not (C-OVER, C-RAND).

Two topics, each a handful of real training runs on the embedded digits:

- ``overfitting`` (C-OVER): a wide MLP on a small training subset. Train and validation
  loss are both measured by evaluating the model on the whole split after every epoch (eval
  mode, no augmentation, no running average over the epoch's batches). The validation loss
  reaches its minimum and then climbs while the training loss keeps falling.
- ``random_labels`` (C-RAND): Zhang et al. (2017), "Understanding deep learning requires
  rethinking generalization". The same network is trained on labels of which a fraction has
  been replaced by uniformly random classes. It fits them anyway: with every label random,
  training accuracy climbs far above the 10% of chance while test accuracy stays at chance,
  because there is nothing to generalize. Fitting takes longer the more labels are random.

Both use :class:`EpochEval`, a callback that evaluates chosen splits of the running fit at
the end of every epoch, so every point of every curve is a real evaluation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from vizlab.data.dataset import Dataset, Split
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.models import mlp
from vizlab.plots import curves
from vizlab.plots.style import MARK, PALETTE, new_figure, styled
from vizlab.train import evaluate, fit

__all__ = [
    "EpochEval",
    "corrupt_labels",
    "train_subset",
    "overfitting",
    "random_labels",
    "double_descent",
]


class EpochEval:
    """Callback: evaluate the running model on named splits after every epoch.

    ``fit`` reports the training loss as a mean over the epoch's batches, taken in train mode
    while the weights move (and on augmented batches when there is augmentation). For a clean
    train-versus-validation comparison this callback re-evaluates the *whole* split in eval
    mode, exactly as the validation split is evaluated.

    Args:
        splits: names of the fit's splits to evaluate (``"train"``, ``"val"``, ``"test"``).

    Attributes:
        loss, acc: ``{split: [value per finished epoch]}``.
    """

    def __init__(self, splits: tuple[str, ...] = ("train",)) -> None:
        self.splits = tuple(splits)
        self.loss: dict[str, list[float]] = {s: [] for s in self.splits}
        self.acc: dict[str, list[float]] = {s: [] for s in self.splits}

    def on_epoch_end(self, state: Any) -> None:
        for name in self.splits:
            out = evaluate(state.model, getattr(state.data, name))  # the fit's device copy
            if out is None:  # pragma: no cover - evaluate only returns None with a stop
                return
            self.loss[name].append(out[0])
            self.acc[name].append(out[1])


def corrupt_labels(
    y: torch.Tensor, fraction: float, num_classes: int, *, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace each label, with probability ``fraction``, by a uniformly random class.

    As in Zhang et al.: a corrupted label may land on the true class by chance, so about
    ``fraction * (1 - 1/K)`` of the labels end up wrong.

    Returns:
        ``(new_y, corrupted)`` where ``corrupted`` (N,) bool marks the redrawn labels.

    Shape:
        y: (N,) int64 -> (N,) int64, (N,) bool
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction of corrupted labels must lie in [0, 1], got {fraction!r}")
    g = torch.Generator().manual_seed(seed)
    corrupted = torch.rand(len(y), generator=g) < fraction
    new_y = y.clone()
    new_y[corrupted] = torch.randint(0, num_classes, (int(corrupted.sum()),), generator=g)
    return new_y, corrupted


def train_subset(data: Dataset, n: int, y: torch.Tensor | None = None) -> Dataset:
    """``data`` with its training split cut to the first ``n`` images (labels ``y`` if given)."""
    if not 1 <= n <= len(data.train):
        raise ValueError(f"train_size must lie in 1..{len(data.train)}, got {n}")
    train = data.train.subset(n)
    if y is not None:
        train = Split(train.x, y)
    return Dataset(data.name, list(data.classes), train, data.val, data.test, dict(data.info))


def _wide_mlp(data: Dataset, width: int) -> torch.nn.Module:
    c, h, w = data.shape
    return mlp([c * h * w, width, width, data.num_classes])


# ---- C-OVER ------------------------------------------------------------------------------


@experiment("overfitting", ["C-OVER"], "Overfitting: train improves while validation worsens")
def overfitting(
    *,
    scale: str = "quick",
    data: Dataset | str | None = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Any = (),
    train_size: int | None = None,
    label_noise: float = 0.2,
    width: int = 512,
    epochs: int | None = None,
) -> Result:
    """Train a wide MLP on a small subset; evaluate train and validation every epoch.

    Setting: digits, the first 200 training images (quick; 400 full), 20% of their labels
    redrawn at random, a 64-512-512-10 MLP, Adam at 1e-3, batch 20, 40 epochs (80 full).
    The label noise sharpens the effect at this small scale: the network first learns the
    digits (validation loss falls), then memorizes the wrong labels (validation loss rises
    by well over 10% from its minimum) while its training loss keeps falling. Without noise
    the same net on 100 clean digits shows a weaker, noisier rise.

    numbers: per-epoch ``train_loss``/``val_loss``/``train_acc``/``val_acc`` (all from
    evaluating the whole split), ``best_epoch`` (lowest val loss), ``val_rise`` (last / min
    val loss), and ``recheck_error``: the largest difference between the last recorded
    train/val numbers and a fresh evaluation of the returned model (0 when the curves are
    real evaluations of that model).
    """
    train_size = train_size or pick(scale, 200, 400)
    epochs = epochs or pick(scale, 40, 80)
    full = dataset(data, "digits", seed=seed)
    y, corrupted = corrupt_labels(
        full.train.y[:train_size], label_noise, full.num_classes, seed=seed + 1
    )
    subset = train_subset(full, train_size, y)
    torch.manual_seed(seed)
    model = _wide_mlp(subset, width)
    probe = EpochEval(("train",))
    history = fit(
        model, subset, epochs=epochs, batch_size=20, lr=1e-3, device=device, seed=seed,
        callbacks=[probe, *callbacks], stop=stop,
    )  # fmt: skip
    train_loss, train_acc = probe.loss["train"], probe.acc["train"]
    n = min(len(train_loss), len(history.val_loss))
    val_loss, val_acc = history.val_loss[:n], history.val_acc[:n]
    numbers: dict[str, Any] = {
        "epochs": history.epochs[:n],
        "train_loss": train_loss[:n],
        "train_acc": train_acc[:n],
        "val_loss": val_loss,
        "val_acc": val_acc,
        "fit_train_loss": history.train_loss[:n],  # the epoch's batch average, for contrast
        "corrupted": int(corrupted.sum()),
        "stopped": history.stopped,
    }
    facts: dict[str, bool] = {}
    if n >= 2:
        best = int(np.argmin(val_loss))
        numbers["best_epoch"] = best + 1
        numbers["val_rise"] = val_loss[-1] / val_loss[best]
        numbers["train_loss_at_best"] = train_loss[best]
        numbers["train_loss_last"] = train_loss[-1]
        facts["val_rises_after_min"] = best < n - 1 and numbers["val_rise"] > 1.1
        facts["train_keeps_falling"] = train_loss[-1] < train_loss[best]
    if not history.stopped:
        split = subset.to(history.device)
        again = [evaluate(model, split.train), evaluate(model, split.val)]
        recorded = [(train_loss[-1], train_acc[-1]), (val_loss[-1], val_acc[-1])]
        numbers["recheck_error"] = max(
            abs(a - b) for fresh, old in zip(again, recorded) for a, b in zip(fresh, old)
        )
        facts["curves_are_evaluations"] = numbers["recheck_error"] < 1e-5
    config = {
        "data": subset.name, "train_size": train_size, "label_noise": label_noise,
        "width": width, "epochs": epochs, "batch_size": 20, "lr": 1e-3, "optimizer": "adam",
        "device": history.device, "seed": seed,
    }  # fmt: skip
    return Result("overfitting", ("C-OVER",), scale, numbers, facts, config)


@drawer("overfitting")
def _draw_overfitting(result: Result) -> dict[str, tuple[Figure, str]]:
    nums = result.numbers
    history = {k: nums[k] for k in ("epochs", "train_loss", "val_loss", "train_acc", "val_acc")}
    history["best_epoch"] = nums.get("best_epoch")
    fig = curves(history)
    fig.suptitle(
        f"{result.config['train_size']} training images, "
        f"{result.config['label_noise']:.0%} label noise, width {result.config['width']}"
    )
    caption = (
        f"Validation loss is lowest at epoch {nums.get('best_epoch')} and then rises "
        f"x{nums.get('val_rise', float('nan')):.2f} while the training loss keeps falling."
    )
    return {"overfitting_curves": (fig, caption)}


# ---- C-RAND ------------------------------------------------------------------------------


def _first_at_least(values: list[float], threshold: float) -> int | None:
    """1-based index of the first value >= threshold, or None."""
    for i, v in enumerate(values):
        if v >= threshold:
            return i + 1
    return None


@experiment("random_labels", ["C-RAND"], "Random labels can be memorized (Zhang et al. 2017)")
def random_labels(
    *,
    scale: str = "quick",
    data: Dataset | str | None = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Any = (),
    fractions: tuple[float, ...] = (0.0, 0.5, 1.0),
    train_size: int | None = None,
    width: int = 512,
    epochs: int | None = None,
    fit_threshold: float = 0.9,
) -> Result:
    """Train one wide MLP per fraction of random labels; measure train and test accuracy.

    Setting: digits, 256 training images (quick; 512 full), a 64-512-512-10 MLP, Adam at
    1e-3, batch 32, 50 epochs (120 full). Train and test accuracy are evaluated on the whole
    split after every epoch. At 256 images this MLP has ~300k parameters, enough to memorize
    any labelling: with 100% random labels it reaches over 90% training accuracy while
    test accuracy stays near the 10% of chance (a few hundred test images: within a few
    points of 0.1). Memorizing takes more epochs the more labels are random.

    numbers: per fraction (key ``"0.5"``...): ``train_loss``, ``train_acc``, ``test_acc``
    per epoch, ``final_train_acc``, ``final_test_acc``, ``epochs_to_fit`` and
    ``steps_to_fit`` (first epoch with train accuracy >= ``fit_threshold``, None if never),
    ``wrong_labels`` (labels that differ from the truth); and ``chance`` (1/K).
    """
    train_size = train_size or pick(scale, 256, 512)
    epochs = epochs or pick(scale, 50, 120)
    full = dataset(data, "digits", seed=seed)
    batch_size = 32
    runs: dict[str, Any] = {}
    for fraction in fractions:
        if stopped(stop):
            break
        truth = full.train.y[:train_size]
        y, _ = corrupt_labels(truth, fraction, full.num_classes, seed=seed + 1)
        subset = train_subset(full, train_size, y)
        torch.manual_seed(seed)
        model = _wide_mlp(subset, width)
        probe = EpochEval(("train", "test"))
        history = fit(
            model, subset, epochs=epochs, batch_size=batch_size, lr=1e-3, device=device,
            seed=seed, callbacks=[probe, *callbacks], stop=stop,
        )  # fmt: skip
        if history.stopped:
            break
        steps_per_epoch = -(-train_size // batch_size)
        fit_epoch = _first_at_least(probe.acc["train"], fit_threshold)
        runs[f"{fraction:g}"] = {
            "fraction": fraction,
            "wrong_labels": int((y != truth).sum()),
            "epochs": history.epochs,
            "train_loss": probe.loss["train"],
            "train_acc": probe.acc["train"],
            "test_acc": probe.acc["test"],
            "final_train_acc": probe.acc["train"][-1],
            "final_test_acc": probe.acc["test"][-1],
            "epochs_to_fit": fit_epoch,
            "steps_to_fit": None if fit_epoch is None else fit_epoch * steps_per_epoch,
        }
    chance = 1.0 / full.num_classes
    numbers: dict[str, Any] = {"runs": runs, "chance": chance, "fit_threshold": fit_threshold}
    facts: dict[str, bool] = {}
    if "1" in runs:
        rand = runs["1"]
        facts["random_labels_memorized"] = rand["final_train_acc"] > 5 * chance
        facts["random_test_at_chance"] = abs(rand["final_test_acc"] - chance) < 0.1
    done = [r for r in runs.values() if r["epochs_to_fit"] is not None]
    if len(done) == len(fractions) >= 2:
        order = [r["epochs_to_fit"] for r in sorted(done, key=lambda r: r["fraction"])]
        facts["more_noise_slower_fit"] = all(a <= b for a, b in zip(order, order[1:]))
    config = {
        "data": full.name, "train_size": train_size, "width": width, "epochs": epochs,
        "batch_size": batch_size, "lr": 1e-3, "optimizer": "adam",
        "fractions": list(fractions), "device": device, "seed": seed,
    }  # fmt: skip
    return Result("random_labels", ("C-RAND",), scale, numbers, facts, config)


@drawer("random_labels")
@styled
def _draw_random_labels(result: Result) -> dict[str, tuple[Figure, str]]:
    runs = result.numbers["runs"]
    chance = result.numbers["chance"]
    fig = new_figure(None, (13.0, 4.8))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (key, run) in enumerate(runs.items()):
        color = PALETTE[i % len(PALETTE)]
        label = f"{float(key):.0%} random"
        ax_loss.plot(run["epochs"], run["train_loss"], color=color, label=label)
        ax_acc.plot(run["epochs"], run["train_acc"], color=color, label=f"{label}: train")
        ax_acc.plot(run["epochs"], run["test_acc"], color=color, ls="--", label="test")
        if run["epochs_to_fit"] is not None:
            ax_loss.axvline(run["epochs_to_fit"], color=color, ls=":", lw=1.5)
    ax_acc.axhline(chance, color=MARK, ls=":", label="chance")
    ax_loss.set(xlabel="epoch", ylabel="train loss", yscale="log", title="training loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02), title="train (—) vs test (--)")
    ax_loss.legend(loc="best")
    ax_acc.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    rand = runs.get("1")
    caption = "Fraction of random labels vs training loss and accuracy."
    if rand is not None:
        caption = (
            f"With all labels random the net still reaches {rand['final_train_acc']:.0%} "
            f"training accuracy; test accuracy stays at {rand['final_test_acc']:.0%} "
            f"(chance {chance:.0%}). Dotted lines: epoch where train accuracy first "
            f"reaches {result.numbers['fit_threshold']:.0%}."
        )
    return {"random_labels_curves": (fig, caption)}


# ---- C-DD (optional) -----------------------------------------------------------------------


@experiment("double_descent", ["C-DD"], "Double descent: test error against width")
def double_descent(
    *,
    scale: str = "quick",
    data: Dataset | str | None = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Any = (),
    widths: tuple[int, ...] | None = None,
    label_noise: float = 0.2,
    train_size: int = 200,
    epochs: int | None = None,
) -> Result:
    """Sweep the hidden width of a one-hidden-layer MLP on noisy labels; test error per width.

    Setting: digits, 200 training images with 20% of the labels redrawn at random, a
    64-w-10 MLP for w in 4..512 (quick: 7 widths; full: 12), Adam at 3e-3, batch 50,
    200 epochs (1000 full), no early stopping. Each point is one real run: the test error
    of the trained model and its accuracy on its own (noisy) training labels.

    What this shows at quick scale: small nets underfit; from the *interpolation threshold*
    on (the smallest width that fits every noisy label, w = 64 here) the training error is
    zero. The test error is nearly flat past w = 8 at this size, with at most a bump of a few
    points near the threshold: the pronounced peak and second descent of Nakkiran et al.
    (2019) need far more epochs and data (try ``scale="full"`` on a GPU) and are not
    asserted. The curriculum's check is only that the curve comes from real runs.

    numbers: ``widths``, ``params``, ``train_acc``, ``test_error``, ``interpolation_width``
    (smallest width with train accuracy >= 0.99, None if none), ``peak_width`` (width of
    the highest test error at or after the best smaller net), ``recheck_error`` (a fresh
    evaluation of the last model against its recorded test error).
    """
    widths = widths or pick(scale, (4, 8, 16, 32, 64, 128, 512),
                            (2, 4, 8, 12, 16, 24, 32, 48, 64, 128, 256, 1024))  # fmt: skip
    epochs = epochs or pick(scale, 200, 1000)
    full = dataset(data, "digits", seed=seed)
    y, _ = corrupt_labels(full.train.y[:train_size], label_noise, full.num_classes, seed=seed + 1)
    subset = train_subset(full, train_size, y)
    c, h, w = subset.shape
    rows: dict[str, list] = {"widths": [], "params": [], "train_acc": [], "test_error": []}
    model, history = None, None
    for width in widths:
        if stopped(stop):
            break
        torch.manual_seed(seed)
        model = mlp([c * h * w, width, subset.num_classes])
        history = fit(
            model, subset, epochs=epochs, batch_size=50, lr=3e-3, device=device, seed=seed,
            callbacks=callbacks, stop=stop,
        )  # fmt: skip
        if history.stopped:
            break
        split = subset.to(history.device)
        rows["widths"].append(width)
        rows["params"].append(sum(p.numel() for p in model.parameters()))
        rows["train_acc"].append(evaluate(model, split.train)[1])
        rows["test_error"].append(1.0 - history.test_acc)
    numbers: dict[str, Any] = dict(rows)
    facts: dict[str, bool] = {}
    if rows["widths"]:
        fitted = [wd for wd, acc in zip(rows["widths"], rows["train_acc"]) if acc >= 0.99]
        numbers["interpolation_width"] = fitted[0] if fitted else None
        errors = rows["test_error"]
        best_small = int(np.argmin(errors[: max(1, len(errors) // 2)]))
        peak = best_small + int(np.argmax(errors[best_small:]))
        numbers["peak_width"] = rows["widths"][peak]
        split = subset.to(history.device)
        fresh = 1.0 - evaluate(model, split.test)[1]
        numbers["recheck_error"] = abs(fresh - errors[-1])
        facts["curve_from_runs"] = len(errors) == len(widths) and numbers["recheck_error"] < 1e-6
        facts["wide_nets_interpolate"] = rows["train_acc"][-1] >= 0.99
    config = {
        "data": subset.name, "train_size": train_size, "label_noise": label_noise,
        "epochs": epochs, "batch_size": 50, "lr": 3e-3, "optimizer": "adam",
        "device": device, "seed": seed,
    }  # fmt: skip
    return Result("double_descent", ("C-DD",), scale, numbers, facts, config)


@drawer("double_descent")
@styled
def _draw_double_descent(result: Result) -> dict[str, tuple[Figure, str]]:
    n = result.numbers
    fig = new_figure(None, (8.0, 4.8))
    ax = fig.add_subplot()
    ax.plot(n["widths"], n["test_error"], color=PALETTE[1], marker="o", label="test error")
    ax.plot(n["widths"], [1 - a for a in n["train_acc"]], color=PALETTE[0], marker="o",
            label="train error (noisy labels)")  # fmt: skip
    if n.get("interpolation_width") is not None:
        ax.axvline(n["interpolation_width"], color=MARK, ls="--", label="interpolation threshold")
    ax.set_xscale("log", base=2)
    ax.set(xlabel="hidden width", ylabel="error", ylim=(0, 1),
           title=f"{result.config['label_noise']:.0%} label noise, "
                 f"{result.config['train_size']} training images")  # fmt: skip
    ax.legend(loc="best")
    caption = (
        f"Test error against width from {len(n['widths'])} real runs; every width from "
        f"{n.get('interpolation_width')} on fits all noisy training labels."
    )
    return {"double_descent": (fig, caption)}
