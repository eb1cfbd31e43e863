"""When values cross from the device to the host, and how they become records.

A watch queues every sampled value in a :class:`~vizlab.probes.buffer.DeviceBuffer`. This
module decides when the queue crosses to the host: once ``FLUSH_STEPS`` sampled steps are
waiting or ``FLUSH_SECONDS`` have passed, checked at the start of a training forward (on the
training thread, between steps), and whenever the watch is flushed or closed. On CUDA the
copy is asynchronous: it is decoded at a later step once it has arrived, so training never
waits for it.

Decoding turns the raw numbers of a copy into finished series pieces, decoding the slots
that repeat from step to step together (see ``decode``).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from vizlab.probes.buffer import DeviceBuffer, HostCopy, Slot
from vizlab.probes.store import Piece, Store

__all__ = ["FLUSH_STEPS", "FLUSH_SECONDS", "Staging", "decode"]

FLUSH_STEPS = 32  # sampled steps queued on the device before they are copied to the host
FLUSH_SECONDS = 0.5  # ... or this long since the last copy, whichever comes first


class Staging:
    """The device buffer of one watch, its pending host copy and its flush policy."""

    def __init__(self, device: torch.device, store: Store) -> None:
        self.buffer = DeviceBuffer(device)
        self.store = store
        self._copy: HostCopy | None = None
        self._queued_steps = 0
        self._last_flush = time.monotonic()

    def sampled(self) -> None:
        """Note that one more sampled step is being queued."""
        self._queued_steps += 1

    def poll(self) -> None:
        """Decode a pending copy if it has arrived (never waits)."""
        if self._copy is not None and self._copy.ready():
            copy, self._copy = self._copy, None
            self.store.extend(decode(copy))

    def due(self) -> bool:
        """Whether enough sampled steps, or enough time, have piled up for a copy."""
        return bool(self._queued_steps) and (
            self._queued_steps >= FLUSH_STEPS or time.monotonic() - self._last_flush > FLUSH_SECONDS
        )

    def flush(self, wait: bool) -> None:
        """Start copying the queued values to the host; with ``wait``, decode them now."""
        copy = self.buffer.take()
        if self._copy is not None:  # an older copy still in flight went first: decode it
            older, self._copy = self._copy, None
            self.store.extend(decode(older))
        if copy is not None:
            if wait or copy.ready():
                self.store.extend(decode(copy))
            else:
                self._copy = copy
        self._queued_steps = 0
        self._last_flush = time.monotonic()

    def move_to(self, device: torch.device) -> None:
        """Flush everything, then queue on ``device`` (the model moved)."""
        self.flush(wait=True)
        self.buffer = DeviceBuffer(device)


def decode(copy: HostCopy) -> list[Piece]:
    """The series pieces held by a finished copy: ``(steps, layer, kind, stat, column)``.

    Slots that share a layout (the same layer, kind, size, decoder and info: the same probe
    at different steps) are stacked into one ``(S, size)`` array and decoded together, so
    the cost per copy depends on the number of distinct slots, not on the number of steps.
    """
    raw = copy.values()
    groups: dict[tuple, list[Slot]] = {}
    for slot in copy.slots:
        key = (slot.layer, slot.kind, slot.size, slot.decode, slot.info)
        groups.setdefault(key, []).append(slot)
    pieces: list[Piece] = []
    for (layer, kind, size, decoder, info), slots in groups.items():
        starts = np.fromiter((s.offset for s in slots), dtype=np.int64, count=len(slots))
        values = raw[starts[:, None] + np.arange(size)]  # (S, size)
        steps = [s.step for s in slots]
        for name, stat, column in decoder(values, info):
            pieces.append((steps, name or layer, kind, stat, column))
    return pieces
