"""``device_pool``: one worker process per device, each pinned before CUDA is touched."""

from __future__ import annotations

import os

import pytest
from small_data import digits_dataset
from test_sweep_executor import FIT, build

from vizlab.train import device_pool, sweep, worker_device


def _where() -> tuple[str | None, str | None, int]:
    return worker_device(), os.environ.get("CUDA_VISIBLE_DEVICES"), os.getpid()


def test_each_worker_claims_its_own_device():
    # Names only: pinning sets CUDA_VISIBLE_DEVICES and never initialises CUDA itself.
    devices = ["cuda:0", "cuda:1"]
    with device_pool(devices) as pool:
        seen = {}
        futures = [pool.submit(_where) for _ in range(20)]
        for future in futures:
            device, visible, pid = future.result(timeout=120)
            seen[pid] = (device, visible)
    assert sorted(set(seen.values())) <= [("cuda:0", "0"), ("cuda:1", "1")]
    assert len({device for device, _ in seen.values()}) == len(seen)  # never shared


def test_a_cpu_pool_runs_a_sweep_like_the_serial_one():
    data = digits_dataset(96, 32, 32)
    serial = sweep(build, {"width": [4, 8]}, reps=1, data=data, seed=1, **FIT)
    with device_pool(["cpu", "cpu"]) as pool:
        remote = sweep(build, {"width": [4, 8]}, reps=1, data=data, seed=1, executor=pool, **FIT)
    assert [r["params"] for r in remote.table()] == [r["params"] for r in serial.table()]
    assert all(r["error"] is None and r["val_acc"] is not None for r in remote.table())


@pytest.mark.parametrize("devices", [[], ["gpu:0"], ["cuda:x"]])
def test_bad_device_lists_are_refused(devices):
    with pytest.raises(ValueError, match="device"):
        device_pool(devices)
