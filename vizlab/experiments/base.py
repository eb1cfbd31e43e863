"""What every lecture experiment shares: scales, the ``Result`` record and the registry.

An experiment is a function that trains or evaluates real models and returns a
:class:`Result`: plain numbers (JSON-ready) and named facts. Plots, panels, notebooks and
``vizlab figures`` all consume the same ``Result``, so a figure in the gallery, a number in a
test and a curve in a panel come from one computation.

Every experiment has the signature::

    fn(*, scale="quick", data=None, device="auto", seed=0, stop=None, callbacks=()) -> Result

``scale="quick"`` is sized for tests and CPU demos (seconds); ``"full"`` for a GPU or a
patient user. ``stop`` and ``callbacks`` are passed on to every ``fit`` the experiment runs,
so a ``vizlab.Run`` can run an experiment in the background and stop it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from vizlab.data import Dataset, load

__all__ = [
    "SCALES",
    "Result",
    "Topic",
    "TOPICS",
    "experiment",
    "drawer",
    "check_scale",
    "pick",
    "dataset",
    "jsonable",
    "stopped",
]

SCALES = ("quick", "full")


@dataclass
class Result:
    """What one experiment found.

    Attributes:
        topic: the registry name, e.g. ``"random_labels"``.
        rows: the curriculum IDs it covers, e.g. ``("C-RAND",)``.
        scale: ``"quick"`` or ``"full"``.
        numbers: JSON-ready measurements (lists, floats, ints, strings, nested dicts).
        facts: the curriculum's checkable facts, by a short name, as measured on ``numbers``
            (``True`` when the fact held in this run). Tests assert on ``numbers`` directly;
            ``facts`` is what the gallery and the notebooks report.
        config: the settings that produced it (data name, device, seed, sizes).
        seconds: wall time of the run.
    """

    topic: str
    rows: tuple[str, ...]
    scale: str
    numbers: dict[str, Any]
    facts: dict[str, bool] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready copy (NaN and infinities become ``None``, arrays become lists)."""
        return {
            "topic": self.topic,
            "rows": list(self.rows),
            "scale": self.scale,
            "numbers": jsonable(self.numbers),
            "facts": {k: bool(v) for k, v in self.facts.items()},
            "config": jsonable(self.config),
            "seconds": round(float(self.seconds), 3),
        }

    def figures(self) -> dict[str, tuple[Any, str]]:
        """The topic's figures: ``{name: (matplotlib Figure, one-line caption)}``."""
        return TOPICS[self.topic].draw(self)


@dataclass
class Topic:
    """One registered experiment: its function, its figures and what it is about."""

    name: str
    rows: tuple[str, ...]
    title: str
    run: Callable[..., Result]
    draw: Callable[[Result], dict[str, tuple[Any, str]]] = lambda result: {}


TOPICS: dict[str, Topic] = {}


def experiment(
    name: str, rows: Iterable[str], title: str
) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Register ``fn`` as topic ``name``; the wrapper checks ``scale`` and times the run."""

    def register(fn: Callable[..., Result]) -> Callable[..., Result]:
        def run(*, scale: str = "quick", **kwargs: Any) -> Result:
            check_scale(scale)
            start = time.perf_counter()
            result = fn(scale=scale, **kwargs)
            result.seconds = time.perf_counter() - start
            return result

        run.__name__, run.__qualname__ = fn.__name__, fn.__qualname__
        run.__doc__, run.__module__ = fn.__doc__, fn.__module__
        run.__wrapped__ = fn  # type: ignore[attr-defined]
        if name in TOPICS:
            raise ValueError(f"experiment topic {name!r} is registered twice")
        TOPICS[name] = Topic(name=name, rows=tuple(rows), title=title, run=run)
        return run

    return register


def drawer(
    name: str,
) -> Callable[[Callable[[Result], dict[str, tuple[Any, str]]]], Callable]:
    """Register the figure builder of topic ``name`` (register the experiment first)."""

    def register(fn: Callable[[Result], dict[str, tuple[Any, str]]]) -> Callable:
        if name not in TOPICS:
            raise ValueError(f"no experiment {name!r} to draw; register it with @experiment")
        TOPICS[name].draw = fn
        return fn

    return register


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    return scale


def pick(scale: str, quick: Any, full: Any) -> Any:
    """``quick`` or ``full`` by scale: ``epochs = pick(scale, 4, 20)``."""
    return quick if check_scale(scale) == "quick" else full


def dataset(data: Dataset | str | None, default: str, *, seed: int = 0, **load_kwargs) -> Dataset:
    """The experiment's data: a ``Dataset`` as given, a name loaded, or ``default``."""
    if isinstance(data, Dataset):
        return data
    return load(data or default, seed=seed, **load_kwargs)


def stopped(stop: Any) -> bool:
    """True when a ``threading.Event``-like ``stop`` is set (experiments check it between fits)."""
    return stop is not None and stop.is_set()


def jsonable(value: Any) -> Any:
    """Plain Python for JSON: tensors and arrays to lists, NaN/inf to ``None``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
