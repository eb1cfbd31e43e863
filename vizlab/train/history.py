"""``History``: the record a training run leaves behind.

A widget draws curves from a ``History`` while another thread is still filling it, so the
record is built for that: its lists only ever grow, the training thread appends under a
lock, and readers who want several series that line up call :meth:`History.snapshot` (or
:meth:`History.as_dict`), which copies them under the same lock. Reading one list directly
is also safe; it may just be one flush behind its neighbour.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["History"]

_EPOCH_SERIES = ("epochs", "train_loss", "train_acc", "val_loss", "val_acc", "lr")
_SCALARS = (
    "best_epoch",
    "stopped_early",
    "stop_epoch",
    "restored_epoch",
    "stopped",
    "diverged",
    "diverged_step",
    "test_loss",
    "test_acc",
    "seconds",
    "images_per_s",
    "device",
)


def _json_float(value: Any) -> Any:
    """NaN and infinities are not JSON; a missing measurement becomes ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class History:
    """Everything one ``fit`` measured, step by step and epoch by epoch.

    Steps and epochs count from 1: step ``s`` is the ``s``-th optimizer update and its loss
    is the training loss of the batch it was computed on (before the update). Epoch ``e``
    rows hold the training metrics averaged over that epoch's batches and a real evaluation
    of the validation split after it. A missing measurement (no validation split) is NaN.

    Attributes:
        steps, loss: per-step training cross-entropy (penalties not included, so runs with
            different ``l1``/``l2`` share one scale).
        epochs, train_loss, train_acc, val_loss, val_acc, lr: one entry per finished epoch.
        best_epoch: epoch with the lowest validation loss (``None`` without validation).
        stopped_early: early stopping ended the run; ``stop_epoch`` is the last epoch run.
        restored_epoch: the epoch whose weights the model holds at the end when early
            stopping restored the best weights, else ``None``.
        stopped: a stop event ended the run (a person pressed Stop).
        diverged, diverged_step: the loss became NaN or infinite at that step.
        test_loss, test_acc: evaluation of the test split at the end, if there is one.
        seconds: wall time of the whole fit; images_per_s: training images per second of
            training-loop time (evaluation excluded).
        device: where it ran; config: the arguments of the fit, JSON-friendly.
    """

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    stop_epoch: int | None = None
    restored_epoch: int | None = None
    stopped: bool = False
    diverged: bool = False
    diverged_step: int | None = None
    test_loss: float | None = None
    test_acc: float | None = None
    seconds: float = 0.0
    images_per_s: float = 0.0
    device: str = ""
    config: dict = field(default_factory=dict)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    # -- writing (the training thread) -------------------------------------------------
    def add_steps(self, steps: list[int], losses: list[float]) -> None:
        """Append a flushed block of per-step losses."""
        with self._lock:
            self.steps.extend(steps)
            self.loss.extend(losses)

    def add_epoch(self, epoch: int, **metrics: float) -> None:
        """Append one epoch row (``train_loss, train_acc, val_loss, val_acc, lr``)."""
        with self._lock:
            self.epochs.append(epoch)
            for name in _EPOCH_SERIES[1:]:
                getattr(self, name).append(float(metrics.get(name, math.nan)))

    # -- reading (any thread) ----------------------------------------------------------
    def snapshot(self) -> dict[str, list]:
        """Copies of the step and epoch series taken together, so their lengths agree."""
        with self._lock:
            out = {"steps": list(self.steps), "loss": list(self.loss)}
            for name in _EPOCH_SERIES:
                out[name] = list(getattr(self, name))
        return out

    def epoch_rows(self) -> list[dict[str, float]]:
        """Tidy rows, one per epoch: ``epoch, train_loss, train_acc, val_loss, val_acc, lr``."""
        snap = self.snapshot()
        names = _EPOCH_SERIES[1:]
        return [
            {"epoch": epoch, **{name: snap[name][i] for name in names}}
            for i, epoch in enumerate(snap["epochs"])
        ]

    @property
    def final_epoch(self) -> int | None:
        """The epoch whose weights the model ends with: the restored one, else the last."""
        if self.restored_epoch is not None:
            return self.restored_epoch
        return self.epochs[-1] if self.epochs else None

    def final(self) -> dict[str, float | None]:
        """Metrics of the model as ``fit`` returned it (after any restore of best weights)."""
        rows = {row["epoch"]: row for row in self.epoch_rows()}
        row = rows.get(self.final_epoch, {})
        names = ("train_loss", "train_acc", "val_loss", "val_acc")
        out: dict[str, float | None] = {name: row.get(name) for name in names}
        out["test_loss"], out["test_acc"] = self.test_loss, self.test_acc
        return out

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (NaN and infinities become ``None``)."""
        out: dict[str, Any] = {
            name: [_json_float(v) for v in values] for name, values in self.snapshot().items()
        }
        for name in _SCALARS:
            out[name] = _json_float(getattr(self, name))
        out["config"] = dict(self.config)
        return out

    def __len__(self) -> int:
        return len(self.epochs)

    # A lock cannot be pickled or deep-copied; copies get a fresh one.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
