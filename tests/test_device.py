from __future__ import annotations

import os

import pytest
import torch

from vizlab.device import configure_threads, resolve_device, usable_cpus


def test_auto_resolves_to_an_available_device():
    dev = resolve_device("auto")
    if torch.cuda.is_available():
        assert dev.type == "cuda"
    else:
        assert dev.type in ("cpu", "mps")
    assert resolve_device(None) == dev


def test_cpu_is_always_valid():
    assert resolve_device("cpu") == torch.device("cpu")


def test_unknown_device_string_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="machine has CUDA")
def test_cuda_without_gpu_says_what_to_use():
    with pytest.raises(ValueError, match="no usable CUDA GPU"):
        resolve_device("cuda")


def test_usable_cpus_respects_affinity():
    n = usable_cpus()
    assert n >= 1 and n <= (os.cpu_count() or 1)
    if hasattr(os, "sched_getaffinity"):
        assert n <= len(os.sched_getaffinity(0))


def test_configure_threads_caps_at_usable_cpus_and_keeps_a_lower_choice(monkeypatch):
    import vizlab.device as device

    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(device, "_threads_configured", False)
        torch.set_num_threads(usable_cpus() + 3)  # more than the process may use: capped
        assert configure_threads() == usable_cpus() == torch.get_num_threads()
        monkeypatch.setattr(device, "_threads_configured", False)
        torch.set_num_threads(1)  # the user's own choice: kept
        assert configure_threads() == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
