"""A staging buffer on the model's device, copied to the host in one transfer.

Reading one statistic back to the host (``.item()``) makes the host wait for the device to
finish everything queued so far; doing it for every layer at every step would serialize a
GPU run. Probes therefore never read values as they compute them: each result is copied
into the next free slice of one flat float32 tensor that lives on the model's device, and a
host-side list remembers what each slice means. Every few sampled steps the used part of the
buffer crosses to the host in a single copy (asynchronous into pinned memory on CUDA), and
only then are the numbers decoded.

Writing is only bookkeeping: the small result tensors are kept in a list until the flush,
where one ``torch.cat`` lays them all into the buffer. The buffer grows by doubling when a
flush interval produces more values than it holds, so after the first flushes it stops
allocating.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

__all__ = ["Slot", "DeviceBuffer", "HostCopy"]

Decoder = Callable[[np.ndarray, Any], list]


class Slot(NamedTuple):
    """What one slice of the buffer holds (a named tuple: one is made per value written).

    Attributes:
        step: training step the values describe.
        layer: dotted layer name; empty for a slot that holds several layers, whose
            decoder names them.
        kind: record kind (``"activations"``, ``"gradients"``, ...).
        offset, size: where the values are in the buffer.
        decode: ``decode(values, info)`` turns the raw values into finished statistics on
            the host: ``[(stat, value), ...]``, or ``[(layer, stat, value), ...]`` for a slot
            without a layer name.
        info: whatever the decoder needs that is known on the host (element counts, shapes).
    """

    step: int
    layer: str
    kind: str
    offset: int
    size: int
    decode: Decoder
    info: Any = None


class HostCopy:
    """A transfer of the buffer to the host that may still be in flight (CUDA)."""

    def __init__(self, host: torch.Tensor, slots: list[Slot], event: Any = None) -> None:
        self._host, self.slots, self._event = host, slots, event

    def ready(self) -> bool:
        """Whether the values have arrived (never blocks)."""
        return self._event is None or self._event.query()

    def values(self) -> np.ndarray:
        """The copied values, waiting for the transfer if it is still in flight."""
        if self._event is not None:
            self._event.synchronize()
        return self._host.numpy()


class DeviceBuffer:
    """Flat float32 tensor on ``device`` plus the host-side layout of what it holds.

    ``write`` only queues a reference to the (small, freshly computed) result tensor: no
    device work at all. ``take`` then lays everything queued into the preallocated buffer
    with a single ``torch.cat(..., out=...)`` and starts the one copy to the host. Compared
    with one slice-and-copy per value, this saves two device operations per write, which
    is most of what a probe costs on a small net.

    ``write`` may be called from autograd's worker thread (gradient hooks on CUDA), so the
    queue is guarded by a lock; ``take`` is called on the training thread between steps.
    """

    def __init__(self, device: torch.device, capacity: int = 1 << 14) -> None:
        self.device = torch.device(device)
        self._data = torch.empty(capacity, dtype=torch.float32, device=self.device)
        self._used = 0
        self._queued: list[torch.Tensor] = []
        self._slots: list[Slot] = []
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        """Number of float32 values the buffer holds before it grows."""
        return self._data.numel()

    def __len__(self) -> int:
        return len(self._slots)

    def write(
        self,
        step: int,
        layer: str,
        kind: str,
        values: torch.Tensor | Sequence[torch.Tensor],
        decode: Decoder,
        info: Any = None,
    ) -> None:
        """Queue ``values`` for decoding: a tensor, or several laid end to end in one slot.

        Any shape, real dtype and device; the tensors must not be modified afterwards. They
        become float32 when the queue is laid into the buffer.
        """
        parts = (values,) if isinstance(values, torch.Tensor) else values
        size = 0
        with self._lock:
            for t in parts:
                self._queued.append(t if t.dim() == 1 else t.reshape(-1))
                size += t.numel()
            self._slots.append(Slot(step, layer, kind, self._used, size, decode, info))
            self._used += size

    def take(self) -> HostCopy | None:
        """Lay the queued values into the buffer, start copying them to the host, and empty
        the queue. Returns ``None`` when nothing was written.

        On CUDA the copy is asynchronous: the device keeps working and later work is queued
        after the copy, so the buffer can be reused at once.
        """
        with self._lock:
            if not self._slots:
                return None
            used, slots, queued = self._used, self._slots, self._queued
            self._used, self._slots, self._queued = 0, [], []
        if used > self._data.numel():
            capacity = self._data.numel()
            while capacity < used:
                capacity *= 2
            self._data = torch.empty(capacity, dtype=torch.float32, device=self.device)
        src = self._data[:used]
        try:
            torch.cat(queued, out=src)
        except RuntimeError:  # a value from another device (a model split over devices)
            torch.cat([t.to(self.device) for t in queued], out=src)
        if self.device.type == "cuda":
            host = torch.empty(used, dtype=torch.float32, pin_memory=True)
            host.copy_(src, non_blocking=True)
            event = torch.cuda.Event()
            event.record(torch.cuda.current_stream(self.device))
            return HostCopy(host, slots, event)
        return HostCopy(src.to("cpu", copy=True), slots)
