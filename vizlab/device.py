"""Where training runs: device resolution and CPU thread settings.

Every function that trains takes ``device="auto"``; this module is the one place that turns
that word into a ``torch.device``, so the rule (CUDA, then MPS, then CPU) lives in one spot.
"""

from __future__ import annotations

import os

import torch

__all__ = ["resolve_device", "usable_cpus", "configure_threads", "describe_device"]

_threads_configured = False


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"`` (or ``None``) into CUDA, then MPS, then CPU; validate anything else.

    Raises:
        ValueError: for a device string torch does not understand, or CUDA/MPS asked for on a
            machine that does not have it (the message says what is available instead).
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"unknown device {device!r}: use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
        ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was asked for but this machine has no usable CUDA GPU; "
            "use device='auto' or 'cpu'"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(
            f"device {device!r} does not exist: this machine has "
            f"{torch.cuda.device_count()} CUDA device(s)"
        )
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError("device 'mps' was asked for but MPS is not available; use 'auto'")
    return dev


def usable_cpus() -> int:
    """CPUs this process may really use: affinity mask and cgroup quota, not the host's count.

    ``os.cpu_count()`` reports the whole host; in a container limited to 2 CPUs torch would
    otherwise start one thread per host core and spend its time contending.
    """
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        n = min(n, quota)
    return max(1, n)


def _cgroup_cpu_quota() -> int | None:
    """CPU limit from cgroup v2 (``cpu.max``) or v1 (``cfs_quota_us``), rounded up."""
    candidates = [
        ("/sys/fs/cgroup/cpu.max", None),
        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    ]
    for quota_path, period_path in candidates:
        try:
            with open(quota_path) as f:
                fields = f.read().split()
            if period_path is None:
                if not fields or fields[0] == "max":
                    continue
                quota, period = int(fields[0]), int(fields[1])
            else:
                quota = int(fields[0])
                with open(period_path) as f:
                    period = int(f.read().split()[0])
            if quota > 0 and period > 0:
                return max(1, -(-quota // period))
        except (OSError, ValueError, IndexError):
            continue
    return None


def configure_threads() -> int:
    """Cap torch's intra-op thread count at the usable CPUs, once per process.

    torch sizes its thread pool from the cores the machine *has*; in a container limited to
    2 of 16 cores that means 16 threads fighting over 2 cores. This lowers the count to what
    the process may really use, and never raises it: a count the user chose (say
    ``torch.set_num_threads(1)`` for tiny models) is kept. Returns the count in effect.
    """
    global _threads_configured
    n = usable_cpus()
    if not _threads_configured:
        if torch.get_num_threads() > n:
            torch.set_num_threads(n)
        _threads_configured = True
    return torch.get_num_threads()


def describe_device(device: torch.device) -> str:
    """A one-line human description, e.g. ``cuda (NVIDIA H100)`` or ``cpu (2 threads)``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type
