"""The host side of a probe: tidy records, one bounded series per statistic.

Records are plain data, so plots, tables and tests never need the model: a ``Record`` is a
row ``(step, layer, kind, stat, value)`` where ``value`` is a float, or a numpy array for
histograms, per-channel vectors and mask samples.

Memory stays bounded however long a run lasts. When any series grows past ``max_points``,
every series is thinned at once by keeping every other point (the newest point is always
kept), so all layers keep sharing the same steps and a long run ends up with dense recent
history and sparser early history. Thinning never happens silently: each event adds a meta
row ``(step, "", "meta", "thinned", factor)`` and an entry in ``Store.thinning``, where
``factor`` is how many sampled steps one kept point now stands for in the oldest part.

Readers may run on another thread (a notebook panel refreshing while training goes on);
every access goes through one lock, and nothing here touches a device.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

__all__ = ["Record", "Piece", "Thinning", "Store"]

Value = float | np.ndarray
# A piece of one series from several steps: (steps, layer, kind, stat, column), the column
# holding one value per step, shape (S,) for numbers and (S, *shape) for arrays.
Piece = tuple[list[int], str, str, str, np.ndarray]


class Record(NamedTuple):
    """One recorded value. A named tuple rather than a dataclass: records are created by the
    hundred thousand and are meant to be unpacked or fed to a table as plain rows."""

    step: int
    layer: str
    kind: str
    stat: str
    value: Value


class Thinning(NamedTuple):
    """A thinning event: at ``step`` the stored history was halved; ``factor`` is the
    cumulative thinning of the oldest points."""

    step: int
    factor: int


class _Series:
    __slots__ = ("steps", "values")

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.values: list[Value] = []

    def halve(self) -> None:
        n = len(self.steps)
        if n < 3:
            return
        keep = list(range(0, n, 2))
        if keep[-1] != n - 1:
            keep.append(n - 1)
        self.steps = [self.steps[i] for i in keep]
        values = [self.values[i] for i in keep]
        if values and isinstance(values[0], np.ndarray):
            values = _compact(values)
        self.values = values


def _compact(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """The same arrays, no longer holding on to the decoded blocks they are rows of.

    A kept array may be a row of a block whose other rows were just dropped (see
    ``Store.extend``); the kept rows are stacked into one new block of their own (one copy
    per series, not per point), or copied one by one where their shapes differ.
    """
    if len({a.shape for a in arrays}) == 1 and len({a.dtype for a in arrays}) == 1:
        return list(np.stack(arrays))
    return [a.copy() for a in arrays]


def _step(pair: tuple[int, Value]) -> int:
    return pair[0]


class Store:
    """Thread-safe series of records keyed by ``(layer, kind, stat)``."""

    def __init__(self, max_points: int) -> None:
        self.max_points = max_points
        self._series: dict[tuple[str, str, str], _Series] = {}
        self._meta: list[Record] = []
        self._thinning: list[Thinning] = []
        self._factor = 1
        self._newest: int | None = None
        self._lock = threading.Lock()

    def add(self, rows: Iterable[Record]) -> None:
        """Append rows (in step order per series) and thin if a series grew too long.

        For the few values known on the host (histogram ranges); what a watch copies
        from the device arrives through :meth:`extend`."""
        pieces = []
        for step, layer, kind, stat, value in rows:
            column = value[None] if isinstance(value, np.ndarray) else np.array([value])
            pieces.append(([step], layer, kind, stat, column))
        self.extend(pieces)

    def extend(self, pieces: Iterable[Piece]) -> None:
        """Append series pieces (see ``Piece``; steps in order within each) and thin if a
        series grew too long. This is how decoded copies arrive: a whole column at a time."""
        with self._lock:
            longest, last_steps = 0, None
            for steps, layer, kind, stat, column in pieces:
                series = self._series.get((layer, kind, stat))
                if series is None:
                    series = self._series[(layer, kind, stat)] = _Series()
                # Numbers become Python floats. Arrays stay rows of the decoded column
                # (no copy per step): no row of a block is dropped before the store thins,
                # and thinning copies the rows it keeps (_Series.halve), so every block is
                # freed by then and memory stays that of the kept points.
                values = column.tolist() if column.ndim == 1 else list(column)
                if series.steps and steps[0] < series.steps[-1]:
                    # the layout changed within one copy, so its slots were decoded in
                    # groups: merge by step (a stable sort keeps the order within a step)
                    pairs = sorted(zip(series.steps + steps, series.values + values), key=_step)
                    series.steps, series.values = [p[0] for p in pairs], [p[1] for p in pairs]
                else:
                    series.steps += steps
                    series.values += values
                longest = max(longest, len(series.steps))
                if steps is not last_steps:  # pieces of one decoded group share their steps
                    last_steps = steps
                    newest = max(steps)
                    if self._newest is None or newest > self._newest:
                        self._newest = newest
            if longest > self.max_points:
                self._thin()

    def _thin(self) -> None:
        for series in self._series.values():
            series.halve()
        self._factor *= 2
        step = self._newest if self._newest is not None else 0
        self._thinning.append(Thinning(step, self._factor))
        self._meta.append(Record(step, "", "meta", "thinned", float(self._factor)))

    @property
    def thinning(self) -> list[Thinning]:
        """Every thinning event so far, oldest first."""
        with self._lock:
            return list(self._thinning)

    def records(self, since: int | None = None) -> list[Record]:
        """All rows, meta rows included, sorted by step (stable within a step).

        With ``since``, only rows of later steps: a live view refreshing twice a second
        reads what is new instead of the whole run again (each series is sorted by step,
        so finding where the new part starts is a bisection, not a scan).
        """
        with self._lock:
            rows = []
            for (layer, kind, stat), series in self._series.items():
                start = 0 if since is None else bisect.bisect_right(series.steps, since)
                steps, values = series.steps[start:], series.values[start:]
                rows += [Record(t, layer, kind, stat, v) for t, v in zip(steps, values)]
            rows += [r for r in self._meta if since is None or r.step > since]
        rows.sort(key=lambda r: r.step)
        return rows

    def keys(self) -> list[tuple[str, str, str]]:
        """The ``(layer, kind, stat)`` of every series that has at least one point."""
        with self._lock:
            return list(self._series)

    def series(self, layer: str, kind: str, stat: str) -> tuple[np.ndarray, np.ndarray]:
        """Steps and values of one series (empty arrays when nothing is recorded yet).

        Values are stacked into one array (``(T,)`` for scalars, ``(T, *shape)`` for
        arrays); arrays of differing shapes (mask samples of a short last batch) come back
        as an object array.
        """
        with self._lock:
            found = self._series.get((layer, kind, stat))
            steps = list(found.steps) if found else []
            values = list(found.values) if found else []
        steps_arr = np.asarray(steps, dtype=np.int64)
        if not values:
            return steps_arr, np.zeros(0)
        if not isinstance(values[0], np.ndarray):
            return steps_arr, np.asarray(values, dtype=np.float64)
        if len({v.shape for v in values}) == 1:
            return steps_arr, np.stack(values)
        ragged = np.empty(len(values), dtype=object)
        ragged[:] = values
        return steps_arr, ragged

    def latest(self) -> tuple[int | None, dict[str, dict[str, Value]]]:
        """The snapshot at the newest step: ``(step, {layer: {stat: value}})``.

        Holds the statistics recorded at that step, plus the fixed histogram ranges.
        """
        with self._lock:
            ends = {key: series.steps[-1] for key, series in self._series.items() if series.steps}
            timed = [step for (_, _, stat), step in ends.items() if not stat.endswith("range")]
            newest = max(timed, default=None)
            out: dict[str, dict[str, Value]] = {}
            for key, step in ends.items():
                layer, _, stat = key
                if step == newest or stat.endswith("range"):
                    out.setdefault(layer, {})[stat] = self._series[key].values[-1]
            return newest, out
