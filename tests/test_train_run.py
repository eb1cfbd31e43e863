"""``Run``: background training that reports, stops promptly and leaves nothing behind."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from small_data import digits_dataset
from torch import nn

from vizlab.data.dataset import Dataset
from vizlab.train import History, Run, Sweep, fit, sweep


def digits(n_train=128, n_val=64, n_test=64, **kw) -> Dataset:
    return digits_dataset(n_train, n_val, n_test, **kw)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))


class Slow(nn.Module):
    """Sleeps in every training forward, like a big model on a small laptop."""

    def __init__(self, seconds=0.05):
        super().__init__()
        self.net, self.seconds = mlp(), seconds

    def forward(self, x):
        if self.training:
            time.sleep(self.seconds)
        return self.net(x)


class Broken(nn.Module):
    """Works in the pre-training check (eval mode), fails on the first training step."""

    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, x):
        if self.training:
            raise RuntimeError("kaboom in forward")
        return self.net(x)


class NaNModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, x):
        out = self.net(x)
        return out * float("nan") if self.training else out


FIT = {"epochs": 2, "batch_size": 32, "device": "cpu"}


@pytest.fixture
def no_leftover_threads():
    before = set(threading.enumerate())
    yield
    extra = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert extra == [], f"threads left behind: {extra}"


def test_fit_in_the_background_reports_and_finishes(no_leftover_threads):
    events = {"step": 0, "epoch": 0, "done": []}
    run = Run(fit, mlp(), digits(), **FIT)
    run.on("step", lambda s: events.__setitem__("step", events["step"] + 1))
    run.on("epoch", lambda s: events.__setitem__("epoch", events["epoch"] + 1))
    run.on("done", lambda r: events["done"].append(r.status))
    assert run.status == "idle" and run.progress == 0.0
    assert run.start() is run
    assert run.join(timeout=30) and run.finished.is_set()
    assert run.status == "done" and run.error is None and run.progress == 1.0
    assert isinstance(run.result, History) and run.history is run.result
    assert events == {"step": 8, "epoch": 2, "done": ["done"]}
    assert run._thread.name == "vizlab-run" and run._thread.daemon


def test_status_is_running_inside_and_start_twice_is_refused(no_leftover_threads):
    statuses = []
    run = Run(fit, mlp(), digits(), **FIT)
    run.on("epoch", lambda s: statuses.append((run.status, len(run.history.epochs))))
    run.start()
    with pytest.raises(RuntimeError, match="already started"):
        run.start()
    assert run.join(30)
    assert statuses == [("running", 1), ("running", 2)]


def test_stop_is_prompt_even_with_a_slow_model(no_leftover_threads):
    stepped = threading.Event()
    run = Run(fit, Slow(), digits(), epochs=50, batch_size=8, device="cpu")
    run.on("step", lambda s: stepped.set() if s.step >= 2 else None)
    run.start()
    assert stepped.wait(20)
    assert run.status == "running" and 0 < run.progress < 0.1
    t0 = time.perf_counter()
    run.stop()
    assert run.status in ("stopping", "stopped")
    assert run.join(timeout=1.0), "the run did not stop within one second"
    assert time.perf_counter() - t0 < 1.0
    assert run.status == "stopped" and run.result.stopped and run.history.stopped


def test_errors_are_captured_with_their_traceback(no_leftover_threads):
    seen = []
    run = Run(fit, Broken(), digits(), **FIT).on("error", seen.append)
    run.start()
    assert run.join(30)
    assert run.status == "failed" and isinstance(run.error, RuntimeError)
    assert "Traceback" in run.traceback and "kaboom in forward" in run.traceback
    assert seen == [run] and run.result is None


def test_fit_validation_errors_end_the_run_as_failed(no_leftover_threads):
    run = Run(fit, mlp(), digits(), epochs=0).start()
    assert run.join(30)
    assert run.status == "failed" and isinstance(run.error, ValueError)
    assert "epochs must be at least 1" in str(run.error)


def test_divergence_is_a_status_not_an_error(no_leftover_threads):
    run = Run(fit, NaNModel(), digits(), **FIT).start()
    assert run.join(30)
    assert run.status == "diverged" and run.error is None and run.result.diverged_step == 1


def test_listener_exceptions_are_collected_not_fatal(no_leftover_threads):
    def bad(state):
        raise KeyError("plot broke")

    run = Run(fit, mlp(), digits(), **FIT).on("step", bad).start()
    assert run.join(30)
    assert run.status == "done" and len(run.listener_errors) == 8
    assert isinstance(run.listener_errors[0], KeyError)


def test_user_callbacks_are_kept_alongside_the_run_bridge(no_leftover_threads):
    class Count:
        n = 0

        def on_step(self, state):
            Count.n += 1

    run = Run(fit, mlp(), digits(), callbacks=[Count()], **FIT).start()
    assert run.join(30) and Count.n == 8


def test_sweep_in_the_background_counts_progress_over_cells(no_leftover_threads):
    progress = []
    run = Run(sweep, lambda width: nn.Sequential(nn.Flatten(), nn.Linear(64, width),
              nn.ReLU(), nn.Linear(width, 10)), {"width": [4, 8]}, reps=2, data=digits(),
              **FIT)  # fmt: skip
    cells = []
    run.on("epoch", lambda s: progress.append(run.progress))
    run.on("cell", lambda info: cells.append((info.index, info.row["width"], run.progress)))
    run.start()
    assert run.join(60) and run.status == "done"
    assert isinstance(run.result, Sweep) and len(run.result.rows) == 4
    assert cells == [(0, 4, 0.25), (1, 4, 0.5), (2, 8, 0.75), (3, 8, 1.0)]
    assert progress == sorted(progress) and progress[0] == pytest.approx(1 / 8)
    assert progress[-1] == pytest.approx(1.0) and run.progress == 1.0


def test_any_callable_with_stop_and_callbacks_can_run(no_leftover_threads):
    def work(n, *, stop, callbacks):
        for _ in range(n):
            if stop.wait(0.01):
                return "stopped early"
        return "finished"

    run = Run(work, 3).start()
    assert run.join(5) and run.result == "finished" and run.status == "done"
    with Run(work, 10_000) as r:
        time.sleep(0.05)
    assert r.finished.is_set() and r.result == "stopped early" and r.status == "stopped"


def test_bad_targets_and_events_are_refused():
    with pytest.raises(TypeError, match="does not accept stop"):
        Run(lambda x: x, 1)
    with pytest.raises(TypeError, match="needs a callable target"):
        Run(3)
    with pytest.raises(TypeError, match="Run makes its own stop event"):
        Run(fit, mlp(), digits(), stop=threading.Event())
    with pytest.raises(ValueError, match="unknown event 'tick'"):
        Run(fit, mlp(), digits()).on("tick", print)
