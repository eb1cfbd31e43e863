"""``sweep``: train one model per grid cell, several times, and tabulate the results.

The lecture's depth experiment is a grid (blocks x convs per block) where every cell is
trained a few times with different seeds, because one run per cell mistakes luck for a
trend. ``sweep`` does exactly that: each (cell, repetition) gets its own seed, used both to
initialise the model and to drive its ``fit``, and the results come back as tidy rows.
Runs happen one after the other, or on any ``concurrent.futures.Executor`` (process pool,
dask cluster); either way the rows come back in grid order with the same seeds.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from vizlab.data.dataset import Dataset
from vizlab.device import resolve_device
from vizlab.train.callbacks import EarlyStopping, as_callbacks, notify
from vizlab.train.checks import check_arguments, resolve_data
from vizlab.train.executor import (
    COLUMNS,
    CellResult,
    CellTask,
    as_spec,
    check_importable,
    empty_row,
    run_cell,
)
from vizlab.train.history import History
from vizlab.train.loop import fit

__all__ = ["sweep", "Sweep", "SweepProgress"]

_COLUMNS = COLUMNS
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
    ``error`` column and ``None`` as history; the other runs are unaffected (with an
    executor, any exception of a run, a crashed worker included, is reported that way).
    ``records`` holds one list of probe records per run when the sweep had a
    ``watch_factory``, and stays empty otherwise.
    """

    grid: dict[str, list]
    reps: int
    seed: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    histories: list[History | None] = field(default_factory=list)
    records: list[list[Any] | None] = field(default_factory=list)
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
    data: Dataset | str | dict[str, Any],
    seed: int = 0,
    callbacks: Iterable[Any] = (),
    stop: Any = None,
    executor: concurrent.futures.Executor | None = None,
    watch_factory: Callable[[nn.Module], Any] | None = None,
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
        data: a ``Dataset``, a name, or a load spec such as ``{"name": "shapes", "n": 2000}``;
            serially it is loaded and moved to the device once for all runs; with an
            executor each worker loads a spec once (a ``Dataset`` is sent as CPU tensors).
        callbacks: passed to every ``fit``; they may also define ``on_cell_start(info)``
            and ``on_cell_end(info)`` with a ``SweepProgress``. With an executor only these
            two are called (in the calling process, in grid order).
        stop: a ``threading.Event`` that ends the current fit and the sweep. With an
            executor it cancels the runs not yet started; running ones finish first.
        executor: a ``concurrent.futures.Executor`` to run the cells on, e.g.
            ``ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"),
            initializer=vizlab.train.init_worker)`` or dask's ``client.get_executor()``.
            ``build`` (and ``watch_factory``) must then be module-level functions.
        watch_factory: ``model -> probe``, e.g. ``functools.partial(vizlab.watch,
            every=10)``; each run gets a fresh probe and its records land in
            ``Sweep.records``.
        **fit_kwargs: any other ``fit`` argument (``epochs``, ``lr``, ``device``...).

    Raises:
        TypeError: a lambda or local ``build`` with an executor ("define it at module
            level"), ``watch=`` with an executor (use ``watch_factory``), unknown arguments.
    """
    if not callable(build):
        raise TypeError(f"build must be a callable returning a model, got {build!r}")
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise ValueError(f"reps must be a positive int, got {reps!r}")
    grid = _check_grid(grid)
    _check_build_takes(build, grid)
    allowed = set(inspect.signature(fit).parameters) - set(_OWN_ARGS)
    unknown = sorted(set(fit_kwargs) - allowed)
    if unknown:
        raise TypeError(f"unknown fit arguments {unknown}; fit accepts {sorted(allowed)}")
    _check_fit_kwargs(fit_kwargs, seed)
    if watch_factory is not None and not callable(watch_factory):
        raise TypeError(f"watch_factory must be a callable model -> probe, got {watch_factory!r}")
    if executor is not None:
        if not isinstance(executor, concurrent.futures.Executor):
            raise TypeError(
                f"executor must be a concurrent.futures.Executor (a process pool, or dask's "
                f"client.get_executor()), got {type(executor).__name__}"
            )
        if "watch" in fit_kwargs:
            raise TypeError(
                "a probe object cannot be shared by runs in other processes: pass "
                "watch_factory=functools.partial(vizlab.watch, ...) instead of watch="
            )
        check_importable("build", build)
        if watch_factory is not None:
            check_importable("watch_factory", watch_factory)
        data = as_spec(data)
    else:
        if isinstance(data, dict):
            from vizlab.data import load

            data = load(**as_spec(data))
        data = resolve_data(data).to(resolve_device(fit_kwargs.get("device", "auto")))
    callbacks = as_callbacks(callbacks)

    names = list(grid)
    cells = [dict(zip(names, values)) for values in itertools.product(*grid.values())]
    runs = itertools.product(range(len(cells)), range(reps))
    tasks = [
        CellTask(build, dict(cells[c]), c, rep, seed + k, data, dict(fit_kwargs), watch_factory)
        for k, (c, rep) in enumerate(runs)
    ]  # run k uses seed + k, wherever it executes
    result = Sweep(grid=grid, reps=reps, seed=seed)
    if executor is None:
        _run_serial(tasks, result, callbacks, stop)
    else:
        _run_on(executor, tasks, result, callbacks, stop)
    return result


def _record(
    result: Sweep, task: CellTask, out: CellResult, info: SweepProgress, callbacks: list
) -> None:
    result.rows.append(out.row)
    result.histories.append(out.history)
    if task.watch_factory is not None:
        result.records.append(out.records)
    info.row = out.row
    notify(callbacks, "on_cell_end", info)


def _info(task: CellTask, index: int, total: int) -> SweepProgress:
    return SweepProgress(index, total, dict(task.cell), task.rep, task.seed)


def _run_serial(tasks: list[CellTask], result: Sweep, callbacks: list, stop: Any) -> None:
    for index, task in enumerate(tasks):
        if stop is not None and stop.is_set():
            result.stopped = True
            return
        info = _info(task, index, len(tasks))
        notify(callbacks, "on_cell_start", info)
        out = run_cell(task, callbacks=callbacks, stop=stop)
        _record(result, task, out, info, callbacks)
        if out.history is not None and out.history.stopped:
            result.stopped = True
            return


def _run_on(
    executor: concurrent.futures.Executor,
    tasks: list[CellTask],
    result: Sweep,
    callbacks: list,
    stop: Any,
) -> None:
    """Submit every run, then collect the results in grid order (not completion order)."""
    futures = [executor.submit(run_cell, task) for task in tasks]
    try:
        for index, (task, future) in enumerate(zip(tasks, futures)):
            info = _info(task, index, len(tasks))
            notify(callbacks, "on_cell_start", info)
            while not future.done():  # poll, so a stop event is seen within 0.1 s
                if stop is not None and stop.is_set():
                    result.stopped = True
                    return
                concurrent.futures.wait([future], timeout=0.1)
            try:
                out = future.result()
            except Exception as err:  # a crashed worker or an unpicklable task: report it
                row = empty_row(task)
                row["error"] = f"{type(err).__name__}: {err}"
                out = CellResult(row, None, None)
            _record(result, task, out, info, callbacks)
    finally:
        for future in futures:
            future.cancel()  # no-op for finished ones; drops queued runs after a stop


def _check_fit_kwargs(fit_kwargs: dict[str, Any], seed: Any) -> None:
    """Check the fit arguments shared by every run once, before the first run.

    They do not depend on the cell, so a bad one (``lr=0``) would fail every run alike;
    better one clear error now than a table of identical failed rows.
    """
    args = {
        name: p.default
        for name, p in inspect.signature(fit).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    args.update(fit_kwargs)
    check_arguments(
        model=nn.Module(), epochs=args["epochs"], batch_size=args["batch_size"],
        optimizer=args["optimizer"], lr=args["lr"], weight_decay=args["weight_decay"],
        l2=args["l2"], l1=args["l1"], momentum=args["momentum"], augment=args["augment"],
        stop=None, eval_batch_size=args["eval_batch_size"], log_every=args["log_every"],
        seed=seed,
    )  # fmt: skip
    EarlyStopping.coerce(args["early_stopping"])


def _check_build_takes(build: Callable[..., Any], grid: dict[str, list]) -> None:
    """Every grid name must be a keyword of ``build``, and ``build``'s required
    parameters must all come from the grid (checked before the first run)."""
    try:
        params = inspect.signature(build).parameters
    except (TypeError, ValueError):  # no signature (some builtins): trust the caller
        return
    kinds = inspect.Parameter
    takes = [
        n for n, p in params.items() if p.kind in (kinds.POSITIONAL_OR_KEYWORD, kinds.KEYWORD_ONLY)
    ]
    if not any(p.kind is kinds.VAR_KEYWORD for p in params.values()):
        unknown = [name for name in grid if name not in takes]
        if unknown:
            raise TypeError(
                f"grid names {unknown} are not parameters of build, which takes "
                f"{takes or 'no keyword arguments'}; rename the grid keys to build's parameters"
            )
    missing = [n for n in takes if params[n].default is kinds.empty and n not in grid]
    if missing:
        raise TypeError(
            f"build needs {missing} but the grid does not give them; add them to the grid, "
            f"e.g. {{{missing[0]!r}: [...]}}, or give build a default"
        )


def _check_grid(grid: Any) -> dict[str, list]:
    if not isinstance(grid, dict):
        raise TypeError(f"grid must be a dict name -> list of values, got {type(grid).__name__}")
    if not grid:
        raise ValueError(
            "grid is empty: give at least one build argument and its values, e.g. "
            "{'width': [8, 16]}; to repeat one configuration, use a one-value list such as "
            "{'width': [16]} with reps=..."
        )
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
