"""Headless figures for ``vizlab figures``: train, then write PNG and JSON atomically.

For now this is the training-curves topic only: the lecture VGG trained on the chosen data,
with per-epoch train and validation loss and accuracy. The lecture experiments add their own
topics later; they share the writing and the progress reporting here.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

from vizlab.io import atomic_write_bytes, atomic_write_json
from vizlab.plots import curves

__all__ = ["write_figures"]

Progress = Callable[[float, str], None]


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def write_figures(
    out: str | Path,
    *,
    data: str = "digits",
    device: str = "auto",
    epochs: int = 5,
    batch_size: int = 32,
    seed: int = 0,
    progress: Progress | None = None,
) -> list[Path]:
    """Train the lecture VGG on ``data`` and write ``curves.png`` and ``curves.json``.

    The batch is small by default because the embedded digits hold only about 1,300 training
    images: at 128 per batch an epoch would be ten steps, too few to see anything learn.
    """
    from vizlab import models
    from vizlab.data import load
    from vizlab.train import fit

    dataset = load(data, seed=seed)
    c, h, w = dataset.shape
    model = models.vgg(
        blocks=min(3, _max_blocks(min(h, w))),
        in_channels=c,
        num_classes=dataset.num_classes,
        input_size=(h, w),
        norm="batch",
    )
    callbacks = [_ProgressCallback(progress)] if progress else []
    history = fit(
        model,
        dataset,
        epochs=epochs,
        batch_size=batch_size,
        device=device,
        seed=seed,
        callbacks=callbacks,
    )
    record = history.as_dict()
    record.update(model="VGG (batch norm)", data=dataset.name)
    out = Path(out)
    paths = [
        atomic_write_bytes(out / "curves.png", _png(curves(record))),
        atomic_write_json(out / "curves.json", record),
    ]
    return paths


def _max_blocks(size: int) -> int:
    """How many 2x2 poolings an input side survives (8 -> 3, 32 -> 5)."""
    blocks = 0
    while size >= 2:
        size //= 2
        blocks += 1
    return max(1, blocks)


class _ProgressCallback:
    """Reports training progress as (fraction done, short text), at most 10 times a second."""

    def __init__(self, report: Progress) -> None:
        self.report = report
        self._last = 0.0

    def on_step(self, state) -> None:
        now = time.monotonic()
        if state.total_steps and now - self._last >= 0.1:
            self._last = now
            done = state.step / state.total_steps
            self.report(done, f"epoch {state.epoch}  step {state.step}/{state.total_steps}")

    def on_fit_end(self, state) -> None:
        self.report(1.0, "done")
