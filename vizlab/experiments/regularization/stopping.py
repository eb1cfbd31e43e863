"""E-ES: early stopping with a validation split and a patience.

A small training set that a wide MLP overfits; with a patience the run stops exactly
``patience`` epochs after its best validation epoch, and the model it returns holds the best
epoch's weights (re-evaluated here on the validation split).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from matplotlib.figure import Figure

from vizlab.data import Dataset
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick
from vizlab.experiments.regularization.models import mlp_for
from vizlab.plots import curves
from vizlab.train import evaluate, fit

__all__ = ["early_stopping"]


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
