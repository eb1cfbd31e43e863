"""When values cross from the device to the host, and how they become records.

A watch queues every sampled value in a :class:`~vizlab.probes.buffer.DeviceBuffer`. This
module decides when the queue crosses to the host: once ``FLUSH_STEPS`` sampled steps are
waiting or ``FLUSH_SECONDS`` have passed, checked at the start of a training forward (on the
training thread, between steps), and whenever the watch is flushed or closed. On CUDA the
copy is asynchronous: it is decoded at a later step once it has arrived, so training never
waits for it.

Decoding turns each slot's raw numbers into finished records and merges the per-parameter
gradient norms of a layer into one norm, ``sqrt(sum of squares)``.
"""

from __future__ import annotations

import time

import torch

from vizlab.probes.buffer import DeviceBuffer, HostCopy
from vizlab.probes.store import Record, Store

__all__ = ["FLUSH_STEPS", "FLUSH_SECONDS", "Staging", "decode"]

FLUSH_STEPS = 8  # sampled steps queued on the device before they are copied to the host
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
            self.store.add(decode(copy))

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
            self.store.add(decode(older))
        if copy is not None:
            if wait or copy.ready():
                self.store.add(decode(copy))
            else:
                self._copy = copy
        self._queued_steps = 0
        self._last_flush = time.monotonic()

    def move_to(self, device: torch.device) -> None:
        """Flush everything, then queue on ``device`` (the model moved)."""
        self.flush(wait=True)
        self.buffer = DeviceBuffer(device)


def decode(copy: HostCopy) -> list[Record]:
    """The records held by a finished copy, in step order."""
    raw = copy.values()
    rows: list[Record] = []
    grad_sq: dict[tuple[int, str], float] = {}  # parts of a layer's parameter-gradient norm
    for slot in copy.slots:
        values = raw[slot.offset : slot.offset + slot.size]
        found = slot.decode(values, slot.info)
        if slot.layer:  # a one-layer slot: its decoder gives (stat, value) pairs
            found = [(slot.layer, stat, value) for stat, value in found]
        for layer, stat, value in found:
            if stat == "param_grad_norm":
                key = (slot.step, layer)
                grad_sq[key] = grad_sq.get(key, 0.0) + value * value
            else:
                rows.append(Record(slot.step, layer, slot.kind, stat, value))
    for (step, layer), sq in grad_sq.items():
        rows.append(Record(step, layer, "gradients", "param_grad_norm", sq**0.5))
    rows.sort(key=lambda r: r.step)
    return rows
