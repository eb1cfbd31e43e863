"""G-AXES trained: the same small net with every choice of normalization axes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.experiments.normalization.drawing import axes_cubes, styled_drawer
from vizlab.experiments.normalization.nets import AXES_CHOICES, norm_layers, norm_net
from vizlab.plots import draw_curves, layer_color
from vizlab.plots.style import new_figure
from vizlab.train import fit


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
            "axes": sorted({"".join(m.axes) for _, m in norm_layers(model)}),
            "groups": sorted({m.groups for _, m in norm_layers(model)}),
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
@styled_drawer
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
    cubes = axes_cubes(list(runs))
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
