"""``Run``: training in a background thread that a notebook or a CLI can watch and stop.

A notebook cell that calls ``fit`` blocks the kernel: no slider moves, no plot updates, no
Stop button works. ``Run`` moves the call to a daemon thread and talks to it through three
cooperative channels: a ``threading.Event`` the loop checks every step (so Stop takes
effect within one step), a callback that keeps ``history`` and ``progress`` current, and a
small event system (``run.on("epoch", fn)``) whose listeners run in the training thread.
Nothing is killed from outside: the thread always returns by itself and leaves no hook.
"""

from __future__ import annotations

import inspect
import threading
import traceback
from collections.abc import Callable
from typing import Any

import torch

from vizlab.train.callbacks import as_callbacks

__all__ = ["Run", "EVENTS", "STATUSES"]

EVENTS = ("step", "epoch", "cell", "done", "error")
STATUSES = ("idle", "running", "stopping", "done", "stopped", "failed", "diverged")


class Run:
    """Run ``target(*args, stop=event, callbacks=[...], **kwargs)`` in a background thread.

    ``target`` is ``fit``, ``sweep`` or any callable accepting ``stop=`` and ``callbacks=``.

    Attributes:
        status: ``"idle"`` -> ``"running"`` (-> ``"stopping"``) -> ``"done"``, ``"stopped"``,
            ``"diverged"`` or ``"failed"``.
        result: what ``target`` returned (a ``History`` or ``Sweep``), once finished.
        error, traceback: the exception that ended the run and its formatted traceback.
        history: the ``History`` of the fit in progress, live while it fills.
        progress: fraction of the work done, in [0, 1] (sweeps count all their runs).
        finished: an ``Event`` set when the thread is about to exit.
        listener_errors: exceptions raised by listeners (they never stop training).

    Events (``run.on(name, fn)``): ``"step"`` and ``"epoch"`` call ``fn(state)`` with the
    fit's ``FitState``; ``"cell"`` (sweeps) calls ``fn(info)`` with a ``SweepProgress`` whose
    ``row`` is filled, after each run of the grid; ``"done"`` (returned normally) and
    ``"error"`` (raised) call ``fn(run)``. Listeners run in the training thread, so keep them
    quick.

    Example:
        >>> run = Run(fit, model, "digits", epochs=5).start()   # doctest: +SKIP
        >>> run.stop(); run.join(1.0)                            # doctest: +SKIP
    """

    def __init__(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if not callable(target):
            raise TypeError(f"Run needs a callable target such as fit or sweep, got {target!r}")
        _check_accepts(target, ("stop", "callbacks"))
        if "stop" in kwargs:
            raise TypeError("Run makes its own stop event; call run.stop() instead of stop=")
        self.target, self.args = target, args
        self.kwargs = dict(kwargs)
        self._user_callbacks = as_callbacks(self.kwargs.pop("callbacks", ()))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._listeners: dict[str, list[Callable[[Any], Any]]] = {e: [] for e in EVENTS}
        self._thread: threading.Thread | None = None
        self._cells: tuple[int, int] = (0, 1)  # (runs done, runs in all) of a sweep
        self.finished = threading.Event()
        self.status = "idle"
        self.result: Any = None
        self.error: BaseException | None = None
        self.traceback: str | None = None
        self.history: Any = None
        self.progress = 0.0
        self.listener_errors: list[BaseException] = []
        # torch intra-op threads while this run trains (None: leave torch's setting alone).
        # Each OpenMP parallel region started from a thread other than the main one pays a
        # fixed cost (about 0.2 ms per convolution on a 2-core CPU), which dominates the
        # small teaching nets; panels set 1 on a CPU (see benchmarks/panel_throughput.py).
        self.threads: int | None = None

    # ---- control ----------------------------------------------------------------------
    def on(self, event: str, fn: Callable[[Any], Any]) -> Run:
        """Subscribe ``fn`` to ``event`` (one of ``EVENTS``); returns the run for chaining."""
        if event not in self._listeners:
            raise ValueError(f"unknown event {event!r}: use one of {', '.join(EVENTS)}")
        if not callable(fn):
            raise TypeError(f"listener must be callable, got {fn!r}")
        self._listeners[event].append(fn)
        return self

    def start(self) -> Run:
        """Start the background thread; returns the run. A run starts once."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("this Run was already started; create a new Run to go again")
            self.status = "running"
            self._thread = threading.Thread(target=self._main, name="vizlab-run", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the training loop to stop (it does within one step); does not wait."""
        self._stop.set()
        with self._lock:
            if self.status == "running":
                self.status = "stopping"

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the thread; True if it has finished."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.finished.is_set()

    @property
    def running(self) -> bool:
        return self.status in ("running", "stopping")

    def __enter__(self) -> Run:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        self.join()

    def __repr__(self) -> str:
        name = getattr(self.target, "__name__", type(self.target).__name__)
        return f"Run({name}, status={self.status!r}, progress={self.progress:.0%})"

    # ---- the thread -------------------------------------------------------------------
    def _main(self) -> None:
        callbacks = [*self._user_callbacks, _Bridge(self)]
        threads_before = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            result = self.target(*self.args, stop=self._stop, callbacks=callbacks, **self.kwargs)
        except BaseException as err:  # reported through .error, never lost
            self.error, self.traceback = err, traceback.format_exc()
            with self._lock:
                self.status = "failed"
            self._emit("error", self)
        else:
            self.result = result
            with self._lock:
                self.status = self._final_status(result)
            if self.status == "done":
                self.progress = 1.0
            self._emit("done", self)
        finally:
            if self.threads is not None:
                torch.set_num_threads(threads_before)
            self.finished.set()

    def _final_status(self, result: Any) -> str:
        if getattr(result, "diverged", False):
            return "diverged"
        if self._stop.is_set() or getattr(result, "stopped", False):
            return "stopped"
        return "done"

    def _emit(self, event: str, payload: Any) -> None:
        for fn in list(self._listeners[event]):
            try:
                fn(payload)
            except Exception as err:  # a broken plot must not stop training
                self.listener_errors.append(err)


class _Bridge:
    """The callback ``Run`` adds to the target: keeps ``history``/``progress``, fires events."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def on_fit_start(self, state: Any) -> None:
        self.run.history = state.history

    def on_step(self, state: Any) -> None:
        done, total = self.run._cells
        self.run.progress = (done + state.progress) / total
        self.run._emit("step", state)

    def on_epoch_end(self, state: Any) -> None:
        self.run._emit("epoch", state)

    def on_cell_start(self, info: Any) -> None:
        self.run._cells = (info.index, info.total)
        self.run.progress = info.index / info.total

    def on_cell_end(self, info: Any) -> None:
        self.run.progress = (info.index + 1) / info.total
        self.run._emit("cell", info)


def _check_accepts(target: Callable[..., Any], names: tuple[str, ...]) -> None:
    """Fail early if ``target`` cannot take ``stop=`` and ``callbacks=``."""
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return  # builtins without a signature: trust the caller
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    missing = [name for name in names if name not in params]
    if missing:
        raise TypeError(
            f"Run passes stop= and callbacks= to its target; {target!r} does not accept "
            f"{', '.join(missing)}"
        )
