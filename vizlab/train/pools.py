"""A process pool with one worker per device: how a sweep fills several GPUs on one machine.

``sweep(..., executor=device_pool())`` runs grid cells on every GPU at once. Each worker
process is started fresh (``spawn``), takes one device from a shared queue before anything
touches CUDA, and makes it the only one it can see (``CUDA_VISIBLE_DEVICES``), so
``device="auto"`` inside the worker means *its* GPU and two workers never share one. With
no GPU the pool falls back to one single-threaded CPU worker per usable core.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import torch

from vizlab.device import usable_cpus
from vizlab.train.executor import init_worker

__all__ = ["device_pool", "worker_device"]

_ENV = "VIZLAB_WORKER_DEVICE"


def device_pool(devices: Sequence[str] | None = None, *, threads: int = 1) -> ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` with one worker pinned to each of ``devices``.

    Args:
        devices: e.g. ``["cuda:0", "cuda:1"]`` or ``["cpu", "cpu"]``; default: every
            visible CUDA GPU, else ``"cpu"`` once per usable core.
        threads: torch threads per worker.

    Raises:
        ValueError: for an empty list or a device that is neither ``cpu`` nor ``cuda[:N]``.
    """
    if devices is None:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        devices = [f"cuda:{i}" for i in range(count)] or ["cpu"] * usable_cpus()
    devices = list(devices)
    if not devices:
        raise ValueError("device_pool needs at least one device, e.g. ['cuda:0'] or ['cpu']")
    for device in devices:
        kind, _, index = device.partition(":")
        if kind not in ("cpu", "cuda") or (index and not index.isdigit()):
            raise ValueError(f"unknown device {device!r}: use 'cpu', 'cuda' or 'cuda:N'")
    ctx = multiprocessing.get_context("spawn")  # a fresh process: CUDA not yet initialised
    queue = ctx.Queue()
    for device in devices:
        queue.put(device)
    return ProcessPoolExecutor(
        max_workers=len(devices),
        mp_context=ctx,
        initializer=_pin,
        initargs=(queue, threads),
    )


def _pin(queue, threads: int) -> None:
    """Worker initializer: claim one device and hide every other GPU from this process."""
    device = queue.get()
    os.environ[_ENV] = device
    kind, _, index = device.partition(":")
    if kind == "cuda":
        os.environ["CUDA_VISIBLE_DEVICES"] = index or "0"
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # a CPU worker never grabs a GPU by accident
    init_worker(threads)


def worker_device() -> str | None:
    """The device this worker process was pinned to (``None`` outside a ``device_pool``)."""
    return os.environ.get(_ENV)
