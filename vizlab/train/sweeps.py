"""``sweep``: train one model per grid cell, several times, and tabulate the results.

The lecture's depth experiment is a grid (blocks x convs per block) where every cell is
trained a few times with different seeds, because one run per cell mistakes luck for a
trend. ``sweep`` does exactly that: each (cell, repetition) gets its own seed, used both to
initialise the model and to drive its ``fit``, and the results come back as tidy rows.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from vizlab.data.dataset import Dataset
from vizlab.device import resolve_device
from vizlab.train.callbacks import as_callbacks, notify
from vizlab.train.checks import resolve_data
from vizlab.train.history import History
from vizlab.train.loop import fit

__all__ = ["sweep", "Sweep", "SweepProgress"]

_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
_COLUMNS = ("config", "cell", "rep", "seed", "params", *_METRICS, "best_epoch", "diverged",
            "stopped", "error", "seconds")  # fmt: skip
_OWN_ARGS = ("model", "data", "seed", "callbacks", "stop")


@dataclass
class SweepProgress:
    """Where a sweep is, passed to ``on_cell_start(info)`` / ``on_cell_end(info)`` callbacks.

    ``index`` counts runs from 0 up to ``total - 1``; ``row`` is filled at the end of a run.
    """

    index: int
    total: int
    cell: dict[str, Any]
    rep: int
    seed: int
    row: dict[str, Any] | None = None


@dataclass
class Sweep:
    """The result of :func:`sweep`: one row and one ``History`` per run, in run order.

    A run whose ``build`` or ``fit`` raised ``ValueError`` has its message in the row's
    ``error`` column and ``None`` as history; the other runs are unaffected.
    """

    grid: dict[str, list]
    reps: int
    seed: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    histories: list[History | None] = field(default_factory=list)
    stopped: bool = False

    def table(self) -> list[dict[str, Any]]:
        """Rows (copies): grid values as columns, then ``config, cell, rep, seed, params``,
        the final train/val/test metrics, ``best_epoch, diverged, stopped, error, seconds``."""
        return [dict(row) for row in self.rows]

    def failed(self) -> list[dict[str, Any]]:
        """The rows of runs that raised."""
        return [dict(row) for row in self.rows if row["error"] is not None]

    def mean(self, metric: str, by: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Mean, standard deviation and count of ``metric`` per group of runs.

        Args:
            metric: a column of :meth:`table`, e.g. ``"test_acc"`` or ``"params"``.
            by: grid names to group by (default: all of them, i.e. one group per cell).
                Failed runs and missing values are left out of the statistics.
        """
        by = list(self.grid) if by is None else list(by)
        unknown = [name for name in by if name not in self.grid]
        if unknown:
            raise ValueError(f"cannot group by {unknown}: the grid has {list(self.grid)}")
        groups: dict[tuple, list[float]] = {}
        for row in self.rows:
            values = groups.setdefault(tuple(row[name] for name in by), [])
            value = row.get(metric)
            if row["error"] is None and value is not None and math.isfinite(value):
                values.append(float(value))
        out = []
        for key, values in groups.items():
            arr = np.asarray(values, dtype=float)
            out.append(
                {
                    **dict(zip(by, key)),
                    "mean": float(arr.mean()) if arr.size else math.nan,
                    "std": float(arr.std()) if arr.size else math.nan,
                    "n": int(arr.size),
                }
            )
        return out

    def pivot(self, metric: str, rows: str, cols: str) -> tuple[list, list, np.ndarray]:
        """A 2-D table of the mean ``metric`` for a heatmap (NaN where nothing finished).

        Returns:
            ``(row_values, col_values, means)`` with ``means[i, j]`` for
            ``rows == row_values[i]`` and ``cols == col_values[j]``.
        """
        row_values, col_values = list(self.grid[rows]), list(self.grid[cols])
        means = np.full((len(row_values), len(col_values)), math.nan)
        for group in self.mean(metric, by=[rows, cols]):
            i, j = row_values.index(group[rows]), col_values.index(group[cols])
            means[i, j] = group["mean"]
        return row_values, col_values, means


def sweep(
    build: Callable[..., nn.Module],
    grid: dict[str, Iterable[Any]],
    *,
    reps: int = 3,
    data: Dataset | str,
    seed: int = 0,
    callbacks: Iterable[Any] = (),
    stop: Any = None,
    **fit_kwargs: Any,
) -> Sweep:
    """Fit ``build(**cell)`` for every cell of ``grid``, ``reps`` times each.

    Cells are the cartesian product of the grid's lists, in order. Run ``k`` (counting
    cells x repetitions from 0) uses seed ``seed + k``: distinct for every (cell, rep), and
    the same seed initialises the model (``torch.manual_seed`` before ``build``) and drives
    its ``fit``, so any single run can be reproduced alone.

    Args:
        build: makes a fresh model from one cell's values, e.g. ``lambda blocks, convs:
            vgg(blocks=blocks, convs=convs)``.
        grid: name -> list of values, e.g. ``{"blocks": [1, 2, 3], "convs": [1, 2]}``.
        reps: repetitions per cell.
        data: a ``Dataset`` or name; loaded and moved to the device once for all runs.
        callbacks: passed to every ``fit``; they may also define ``on_cell_start(info)``
            and ``on_cell_end(info)`` with a ``SweepProgress``.
        stop: a ``threading.Event`` that ends the current fit and the sweep.
        **fit_kwargs: any other ``fit`` argument (``epochs``, ``lr``, ``device``...).
    """
    if not callable(build):
        raise TypeError(f"build must be a callable returning a model, got {build!r}")
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise ValueError(f"reps must be a positive int, got {reps!r}")
    grid = _check_grid(grid)
    allowed = set(inspect.signature(fit).parameters) - set(_OWN_ARGS)
    unknown = sorted(set(fit_kwargs) - allowed)
    if unknown:
        raise TypeError(f"unknown fit arguments {unknown}; fit accepts {sorted(allowed)}")
    data = resolve_data(data).to(resolve_device(fit_kwargs.get("device", "auto")))
    callbacks = as_callbacks(callbacks)

    names = list(grid)
    cells = [dict(zip(names, values)) for values in itertools.product(*grid.values())]
    result = Sweep(grid=grid, reps=reps, seed=seed)
    total = len(cells) * reps
    for index, (cell_index, rep) in enumerate(itertools.product(range(len(cells)), range(reps))):
        if stop is not None and stop.is_set():
            result.stopped = True
            break
        cell, run_seed = cells[cell_index], seed + index
        info = SweepProgress(index, total, dict(cell), rep, run_seed)
        notify(callbacks, "on_cell_start", info)
        row: dict[str, Any] = {**cell, **dict.fromkeys(_COLUMNS)}
        row.update(config=dict(cell), cell=cell_index, rep=rep, seed=run_seed)
        row.update(diverged=False, stopped=False)
        history = None
        try:
            torch.manual_seed(run_seed)  # the model's initial weights
            model = build(**cell)
            row["params"] = sum(p.numel() for p in model.parameters())
            history = fit(model, data, seed=run_seed, callbacks=callbacks, stop=stop, **fit_kwargs)
        except ValueError as err:
            row["error"] = f"{type(err).__name__}: {err}"
        if history is not None:
            row.update(history.final())
            row.update(
                best_epoch=history.best_epoch,
                diverged=history.diverged,
                stopped=history.stopped,
                seconds=history.seconds,
            )
        result.rows.append(row)
        result.histories.append(history)
        info.row = row
        notify(callbacks, "on_cell_end", info)
        if history is not None and history.stopped:
            result.stopped = True
            break
    return result


def _check_grid(grid: Any) -> dict[str, list]:
    if not isinstance(grid, dict):
        raise TypeError(f"grid must be a dict name -> list of values, got {type(grid).__name__}")
    out: dict[str, list] = {}
    for name, values in grid.items():
        if not isinstance(name, str):
            raise TypeError(f"grid names must be strings (build's keyword names), got {name!r}")
        if name in _COLUMNS:
            raise ValueError(f"grid name {name!r} clashes with a result column; rename it")
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise TypeError(f"grid[{name!r}] must be a list of values, got {values!r}")
        out[name] = list(values)
        if not out[name]:
            raise ValueError(f"grid[{name!r}] is empty: give at least one value")
    return out
