"""``sweep(..., executor=...)``: cells on a process pool or a dask cluster give the serial
sweep's rows, in grid order, with failures reported per run. The serial sweep is the oracle."""

from __future__ import annotations

import functools
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor

import pytest
import torch
from small_data import digits_dataset
from torch import nn

from vizlab.data.dataset import Dataset
from vizlab.device import configure_threads
from vizlab.probes import watch
from vizlab.train import init_worker, sweep

FIT = {"epochs": 1, "batch_size": 32, "lr": 1e-2, "device": "cpu"}
GRID = {"width": [4, 16], "depth": [1, 2]}
_METRICS = ("params", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc")


def digits(n_train=96, n_val=32, n_test=32, **kw) -> Dataset:
    return digits_dataset(n_train, n_val, n_test, **kw)


def build(width=8, depth=1, fail=None):
    """Module level, so worker processes can import it."""
    if fail == "value":
        raise ValueError("this cell is broken on purpose")
    if fail == "runtime":
        raise RuntimeError("this cell crashed on purpose")
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(64, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


@pytest.fixture(scope="module")
def pool():
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx, initializer=init_worker) as ex:
        yield ex


@pytest.fixture(scope="module")
def serial():
    # One torch thread, as in the workers: the thread count changes the order of float
    # reductions, and the comparison below is bit for bit.
    configure_threads()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return sweep(build, GRID, reps=2, data=digits(), seed=3, **FIT)
    finally:
        torch.set_num_threads(threads)


def assert_same_runs(a, b):
    assert [r["seed"] for r in a.rows] == [r["seed"] for r in b.rows]
    for ra, rb in zip(a.rows, b.rows):
        assert (ra["width"], ra["depth"], ra["rep"], ra["error"]) == (
            rb["width"], rb["depth"], rb["rep"], rb["error"],
        )  # fmt: skip
        assert {k: ra[k] for k in _METRICS} == {k: rb[k] for k in _METRICS}
    for ha, hb in zip(a.histories, b.histories):
        assert ha.loss == hb.loss and ha.val_loss == hb.val_loss


@pytest.mark.slow
def test_a_process_pool_reproduces_the_serial_sweep_in_grid_order(pool, serial):
    ends = []

    class Progress:
        def on_cell_end(self, info):
            ends.append(info.index)

    remote = sweep(build, GRID, reps=2, data=digits(), seed=3, executor=pool,
                   callbacks=[Progress()], **FIT)  # fmt: skip
    assert len(remote.rows) == 8 and ends == list(range(8))
    assert [(r["width"], r["depth"], r["rep"]) for r in remote.rows] == [
        (w, d, rep) for w in (4, 16) for d in (1, 2) for rep in (0, 1)
    ]
    assert_same_runs(remote, serial)
    assert remote.records == [] and not remote.stopped


@pytest.mark.slow
def test_a_failed_cell_is_reported_and_the_others_are_kept(pool):
    grid = {"width": [8], "fail": [None, "value", "runtime", None]}
    s = sweep(build, grid, reps=1, data=digits(), executor=pool, **FIT)
    errors = [r["error"] for r in s.table()]
    assert errors[0] is None and errors[3] is None
    assert errors[1] == "ValueError: this cell is broken on purpose"
    assert errors[2] == "RuntimeError: this cell crashed on purpose"
    assert s.histories[1] is None and s.histories[2] is None
    assert s.rows[0]["test_acc"] is not None and s.rows[3]["seed"] == 3


@pytest.mark.slow
def test_probe_records_come_back_from_the_workers(pool):
    factory = functools.partial(watch, every=2, what=("weights",))
    grid = {"width": [4, 8]}
    remote = sweep(build, grid, reps=1, data=digits(), executor=pool, watch_factory=factory, **FIT)
    local = sweep(build, grid, reps=1, data=digits(), watch_factory=factory, **FIT)
    assert len(remote.records) == 2 and all(remote.records)
    assert {r.layer for r in remote.records[0]} == {r.layer for r in local.records[0]}
    assert [r.step for r in remote.records[1]] == [r.step for r in local.records[1]]


def test_a_build_workers_cannot_import_is_refused_before_anything_runs(pool):
    def local_build(width):
        return build(width)

    for bad in (lambda width: build(width), local_build):
        with pytest.raises(TypeError, match="build must be importable by worker processes"):
            sweep(bad, {"width": [4]}, reps=1, data=digits(), executor=pool, **FIT)
    with pytest.raises(TypeError, match="pass watch_factory="):
        sweep(build, {"width": [4]}, reps=1, data=digits(), executor=pool, watch=object(), **FIT)
    with pytest.raises(TypeError, match="executor must be a concurrent.futures.Executor"):
        sweep(build, {"width": [4]}, reps=1, data=digits(), executor=object(), **FIT)


def test_a_stop_event_cancels_the_runs_not_yet_collected(pool):
    stop = threading.Event()
    stop.set()
    s = sweep(build, GRID, reps=2, data=digits(), executor=pool, stop=stop, **FIT)
    assert s.stopped and s.rows == []


@pytest.mark.slow
def test_a_dask_cluster_reproduces_the_serial_sweep():
    distributed = pytest.importorskip("distributed")
    # processes=False: the worker is a thread of this process and shares its torch threads.
    serial = sweep(build, GRID, reps=2, data=digits(), seed=3, **FIT)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        remote = sweep(build, GRID, reps=2, data=digits(), seed=3,
                       executor=client.get_executor(), **FIT)  # fmt: skip
    assert_same_runs(remote, serial)
