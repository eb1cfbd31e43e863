"""One sweep run as a self-contained work item, so grid cells can train in other processes.

``sweep`` runs its cells one after the other by default. Given a
``concurrent.futures.Executor`` (a local process pool, one process per GPU, or a dask cluster
through ``Client.get_executor()``) it sends each (cell, repetition) away as a
:class:`CellTask` and :func:`run_cell` trains it wherever it lands. Everything a task holds
must pickle: the model builder is sent by reference (a module-level function), the data as a
dataset name with load arguments or as a small ``Dataset`` of CPU tensors.

The seed rule is the serial one (``torch.manual_seed(seed)`` before ``build``, then
``fit(seed=seed)``), so on a CPU a run gives the same numbers wherever it executes.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from vizlab.data.dataset import Dataset
from vizlab.device import configure_threads
from vizlab.train.history import History
from vizlab.train.loop import fit

__all__ = ["CellTask", "CellResult", "run_cell", "init_worker", "check_importable", "as_spec"]

_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")
COLUMNS = ("config", "cell", "rep", "seed", "params", *_METRICS, "best_epoch", "diverged",
           "stopped", "error", "seconds")  # fmt: skip

_loaded: dict[str, Dataset] = {}  # per worker process: datasets loaded from a spec


@dataclass
class CellTask:
    """Everything needed to train one (cell, repetition) of a sweep, picklable.

    ``data`` is a ``Dataset`` or a ``vizlab.data.load`` spec such as ``{"name": "shapes",
    "n": 2000}``; ``watch_factory`` (optional) makes a probe from the fresh model.
    """

    build: Callable[..., Any]
    cell: dict[str, Any]
    cell_index: int
    rep: int
    seed: int
    data: Dataset | dict[str, Any]
    fit_kwargs: dict[str, Any] = field(default_factory=dict)
    watch_factory: Callable[[Any], Any] | None = None


@dataclass
class CellResult:
    """What one run sends back: its table row, its ``History`` and its probe records."""

    row: dict[str, Any]
    history: History | None
    records: list[Any] | None = None


def empty_row(task: CellTask) -> dict[str, Any]:
    """The row of a run before it trains: grid values, then every column, mostly ``None``."""
    row: dict[str, Any] = {**task.cell, **dict.fromkeys(COLUMNS)}
    row.update(config=dict(task.cell), cell=task.cell_index, rep=task.rep, seed=task.seed)
    row.update(diverged=False, stopped=False)
    return row


def run_cell(task: CellTask, *, callbacks: list[Any] | None = None, stop: Any = None) -> CellResult:
    """Build and fit one run; a ``ValueError`` becomes the row's ``error``, not an exception.

    ``callbacks`` and ``stop`` exist only in the serial sweep (they cannot cross processes).
    """
    row = empty_row(task)
    history, records = None, None
    try:
        data = _resolve(task.data)
        torch.manual_seed(task.seed)  # the model's initial weights
        model = task.build(**task.cell)
        row["params"] = sum(p.numel() for p in model.parameters())
        probe = task.watch_factory(model) if task.watch_factory is not None else None
        kwargs = dict(task.fit_kwargs)
        if probe is not None:
            kwargs["watch"] = probe
        history = fit(model, data, seed=task.seed, callbacks=callbacks or (), stop=stop, **kwargs)
        if probe is not None:
            records = list(probe.records())
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
    return CellResult(row, history, records)


def as_spec(data: Any) -> Dataset | dict[str, Any]:
    """What a worker needs to get the data: a CPU ``Dataset`` or a ``load`` spec dict."""
    if isinstance(data, str):
        return {"name": data}
    if isinstance(data, dict):
        if not isinstance(data.get("name"), str):
            raise ValueError(
                f"a data spec needs a dataset 'name' plus load arguments, e.g. "
                f"{{'name': 'shapes', 'n': 2000}}; got {data!r}"
            )
        return dict(data)
    if isinstance(data, Dataset):
        return data.to("cpu")
    raise TypeError(
        f"data must be a Dataset, a dataset name or a load spec dict, got {type(data).__name__}"
    )


def _resolve(data: Dataset | dict[str, Any]) -> Dataset:
    if isinstance(data, Dataset):
        return data
    key = repr(sorted(data.items()))
    if key not in _loaded:  # load once per worker process, reuse for its later runs
        from vizlab.data import load

        _loaded[key] = load(**data)
    return _loaded[key]


def check_importable(name: str, fn: Any) -> None:
    """Fail early when ``fn`` cannot be sent to a worker process by reference.

    Raises:
        TypeError: ``fn`` is a lambda, a function defined inside another function, or does
            not pickle for another reason.
    """
    qualname = getattr(fn, "__qualname__", "") or ""
    why = None
    if "<lambda>" in qualname or "<locals>" in qualname:
        why = f"{qualname} is a lambda or a local function"
    else:
        try:
            pickle.dumps(fn)
        except (pickle.PicklingError, TypeError, AttributeError) as err:
            why = str(err)
    if why is not None:
        raise TypeError(
            f"{name} must be importable by worker processes: define it at module level "
            f"({why}); functools.partial of a module-level function also works"
        )


def init_worker(threads: int = 1) -> None:
    """Executor initializer: give each worker ``threads`` torch threads and keep it so.

    With one process per core, each worker using every core would oversubscribe the
    machine. ``fit`` sets the thread count once per process; this runs that first and then
    narrows it, so later fits leave it alone.
    """
    configure_threads()
    torch.set_num_threads(threads)
