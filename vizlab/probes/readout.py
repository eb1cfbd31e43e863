"""Reading what a watch recorded: records, series, the latest snapshot and ranges.

Everything here reads the host-side store only, so it may run on any thread (a notebook
panel refreshing while training goes on) and never touches the model or a device.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from vizlab.probes.store import Record, Store, Thinning, Value

__all__ = ["Readout"]


class Readout:
    """The reading half of a :class:`~vizlab.probes.watch.Watch`.

    Needs ``_store`` (the host store), ``_probes`` (the layer probes, each with ``name``,
    ``stats``, ``hist_range`` and ``weight_range``), ``layers`` (the watched names), and
    for the ``repr`` the watch's settings and state.
    """

    _store: Store
    _probes: list
    layers: list[str]
    model: nn.Module
    every: int
    what: tuple[str, ...]
    step: int
    attached: bool

    def records(self, since: int | None = None) -> list[Record]:
        """Every recorded row ``(step, layer, kind, stat, value)``, sorted by step.

        Includes the fixed histogram ranges (stats ``hist_range`` and
        ``weight_hist_range``) and meta rows ``(step, "", "meta", "thinned", factor)``.
        ``since=step`` gives only the rows of later steps (what a live view has not seen).
        """
        return self._store.records(since)

    def series(
        self, layer: str, stat: str, kind: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Steps and values of one statistic of one layer, oldest first.

        Raises:
            KeyError: when the layer is not watched or does not record ``stat`` (the message
                lists what it does record).
        """
        kinds = self.stats().get(layer)
        if kinds is None:
            raise KeyError(f"layer {layer!r} is not watched; watched layers: {self.layers[:8]}")
        if stat not in kinds or (kind is not None and kinds[stat] != kind):
            raise KeyError(f"layer {layer!r} records no {stat!r}; it records {sorted(kinds)}")
        return self._store.series(layer, kinds[stat], stat)

    def latest(self) -> dict[str, dict[str, Value]]:
        """The newest snapshot, ``{layer: {stat: value}}``: every statistic recorded at the
        newest step copied to the host (``latest_step``), plus the fixed histogram ranges."""
        return self._store.latest()[1]

    @property
    def latest_step(self) -> int | None:
        """The step of ``latest()`` (``None`` before anything was copied to the host)."""
        return self._store.latest()[0]

    @property
    def thinning(self) -> list[Thinning]:
        """Thinning events ``(step, factor)`` so far (see ``store.py``)."""
        return self._store.thinning

    def stats(self) -> dict[str, dict[str, str]]:
        """What each layer records: ``{layer: {stat: kind}}``."""
        return {p.name: dict(p.stats) for p in self._probes}

    def hist_range(self, layer: str, stat: str = "hist") -> tuple[float, float] | None:
        """The fixed ``(lo, hi)`` range of a layer's ``"hist"`` or ``"weight_hist"``."""
        probe = next((p for p in self._probes if p.name == layer), None)
        if probe is None:
            raise KeyError(f"layer {layer!r} is not watched; watched layers: {self.layers[:8]}")
        return probe.weight_range if stat == "weight_hist" else probe.hist_range

    def __repr__(self) -> str:
        state = "attached" if self.attached else "detached"
        return (
            f"Watch({type(self.model).__name__}, {len(self.layers)} layers, every={self.every}, "
            f"what={self.what}, step={self.step}, {state})"
        )
