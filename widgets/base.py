"""``Panel``: the one pattern every vizlab panel follows.

A panel is a ``VBox`` of controls, Train / Stop / Reset buttons, a status line with a
progress bar, an error box and a row of images. Pressing Train asks the subclass for a
``vizlab.Run`` (built from the current control values) and starts it: training happens in
a background thread, so the kernel stays free and Stop works at once.

Pictures are drawn by a second background thread, the panel's *render thread*, which wakes
about twice a second (five times on a GPU) while a run is alive, asks the subclass to
``render()`` its live views and puts the PNG bytes into ``ipywidgets.Image`` values. The
training thread never draws and never waits for a drawing: that is what keeps a live panel
close to the speed of a headless ``fit``. Both background threads only ever *set widget
values*: ipykernel 7 drops display output sent from other threads, and a widget value is a
comm message, which is safe.

Changing a control while a run is alive stops that run and starts a new one with the new
value (after the old thread has returned, so there is never more than one run). Any error
(a bad setting refused by ``make_run``, a run that fails or diverges, a figure that cannot
be drawn) is shown in the panel's error box; the panel stays usable.
"""

from __future__ import annotations

import functools
import html
import io
import threading
import time
from collections.abc import Mapping
from typing import Any

import ipywidgets as W
from matplotlib.figure import Figure

from vizlab.data import load
from vizlab.device import resolve_device
from vizlab.train import Run
from widgets.gil import hold_fast_switching, release_fast_switching

__all__ = ["Panel", "cached_dataset", "to_png"]

Picture = bytes | Figure
# Training threads on a CPU: panels train small nets from a background thread, where each
# OpenMP parallel region costs a fixed ~0.2 ms more than from the main thread; one intra-op
# thread avoids that (2.1x the images/s of two on the digits nets, measured).
CPU_THREADS = 1
# Idle work (Panel.prepare) waits until no run has been active for this long, so that it
# does not compete with a run that replaces a stopped one at once.
IDLE_PREPARE_DELAY = 0.5
FIRST_STEP_GRACE = 1.0  # s a new run may train before its first step is drawn anyway
# Wait at least this many times the last drawing took: at most 1/9 of the time is spent
# drawing (a blit of the dashboard takes about 40 ms on a 2-core CPU, so it still refreshes
# twice a second; a full redraw, about 200 ms, is followed by a longer pause).
RENDER_BUDGET = 8.0


def to_png(picture: Picture, *, dpi: int = 80) -> bytes:
    """PNG bytes of a figure (bytes pass through unchanged)."""
    if isinstance(picture, bytes | bytearray):
        return bytes(picture)
    buf = io.BytesIO()
    picture.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


@functools.lru_cache(maxsize=16)
def cached_dataset(name: str, **kwargs: Any):
    """``vizlab.data.load`` memoised: restarting a run must not reload (or regenerate) data."""
    return load(name, **kwargs)


class Panel(W.VBox):
    """Base class of the vizlab panels.

    Subclasses set ``title`` and ``figure_names`` (the images shown, in order) and implement:

    - ``build_controls() -> dict[str, Widget]``: the controls, keyed by a short name.
    - ``make_run() -> vizlab.Run``: a *not started* run built from the control values.
      Raise ``ValueError`` (or any exception) with a helpful message for a bad setting: the
      panel shows it in place.
    - ``render() -> dict[str, bytes | Figure]``: called from the render thread while a run
      is alive and once after it ends. Update live views in place and return their PNGs.
    - optionally ``static() -> dict[str, bytes | Figure]``: pictures that depend on the
      controls only; redrawn on every control change, without training.

    Attributes:
        controls: the controls (``panel.controls["depth"].value = 8`` works from a script).
        run: the current ``vizlab.Run`` (``None`` before the first Train).
        figures: the latest picture of each name, as PNG bytes.
        images: the ``ipywidgets.Image`` of each name.
        status, progress, message: the status line, progress bar and error box.
        restart_on: control names whose change restarts a running run (``None``: all).
    """

    title = "vizlab panel"
    figure_names: tuple[str, ...] = ()
    restart_on: tuple[str, ...] | None = None

    def __init__(self, *, device: str = "auto", seed: int = 0, refresh: float | None = None):
        super().__init__()
        self.device = device
        self.seed = seed
        try:
            on_gpu = resolve_device(device).type == "cuda"
        except ValueError:
            on_gpu = False
        self.refresh_s = refresh if refresh is not None else (0.2 if on_gpu else 0.5)
        try:
            self.on_cpu = resolve_device(device).type == "cpu"
        except ValueError:
            self.on_cpu = False
        self.run: Run | None = None
        self.runs_started = 0
        self.figures: dict[str, bytes] = {}
        self.renders = 0
        self._lock = threading.RLock()  # held while a run is swapped or rendered
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._final_done = threading.Event()
        self._final_done.set()
        self._replacing = threading.Event()  # train() is swapping runs
        self._idle_since = 0.0  # when the last run's last picture was drawn
        self._run_t0 = 0.0
        self._record_marks: dict[int, int] = {}  # id(watch) -> newest step already read

        self.controls: dict[str, W.Widget] = dict(self.build_controls())
        self.images: dict[str, W.Image] = {
            name: W.Image(format="png", layout=W.Layout(max_width="100%", display="none"))
            for name in self.figure_names
        }
        self.train_button = W.Button(description="Train", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="warning", icon="stop")
        self.reset_button = W.Button(description="Reset", icon="refresh")
        self.status = W.HTML(value="<code>ready</code>")
        self.progress = W.FloatProgress(value=0.0, min=0.0, max=1.0, description="")
        self.message = W.HTML(value="", layout=W.Layout(display="none"))
        self.buttons = W.HBox([self.train_button, self.stop_button, self.reset_button])

        self.train_button.on_click(lambda _: self.train())
        self.stop_button.on_click(lambda _: self.stop())
        self.reset_button.on_click(lambda _: self.reset())
        for name, control in self.controls.items():
            control.observe(functools.partial(self._on_control, name), names="value")

        self.children = [
            W.HTML(f"<h3 style='margin:4px 0'>{html.escape(self.title)}</h3>"),
            W.HBox(list(self.controls.values()), layout=W.Layout(flex_flow="row wrap")),
            W.HBox([self.buttons, self.progress]),
            self.status,
            self.message,
            W.HBox(list(self.images.values()), layout=W.Layout(flex_flow="row wrap")),
        ]
        # CSS classes: hooks for the browser tests and for custom styling
        self.add_class("vizlab-panel")
        self.status.add_class("vizlab-status")
        self.message.add_class("vizlab-message")
        for name, image in self.images.items():
            image.add_class("vizlab-image")
            image.add_class(f"vizlab-image-{name}")
        self._draw_static()
        self._renderer = threading.Thread(
            target=self._render_loop, name="vizlab-render", daemon=True
        )
        self._renderer.start()

    # ---- what subclasses provide ---------------------------------------------------------
    def build_controls(self) -> Mapping[str, W.Widget]:
        return {}

    def make_run(self) -> Run:
        raise NotImplementedError(f"{type(self).__name__} does not train")

    def render(self) -> Mapping[str, Picture]:
        return {}

    def static(self) -> Mapping[str, Picture]:
        return {}

    def prepare(self) -> None:
        """Work done by the render thread while no run is active, ahead of the next run
        (e.g. building and laying out a fresh figure): whatever is done here is not done
        while the next run trains. Called again at every idle wake-up, so it must return at
        once when there is nothing left to prepare. Default: nothing."""

    def reset_views(self) -> None:
        """Forget live views' data (called by Reset); subclasses rebuild theirs here."""

    # ---- actions -------------------------------------------------------------------------
    def train(self) -> Run | None:
        """Stop any run, build a new one from the controls and start it.

        Returns the started run, or ``None`` when the settings were refused (the reason is
        in ``error_text`` and shown in the panel).
        """
        self._replacing.set()  # the render thread leaves the stopped run's last picture
        try:
            self._halt()
            with self._lock:
                return self._start()
        finally:
            self._replacing.clear()
            self._wake.set()

    def _start(self) -> Run | None:
        """Build and start the run (under the lock, the previous one stopped)."""
        try:
            run = self.make_run()
        except Exception as err:  # a bad setting: say so in the panel, stay usable
            self.show_error(_describe(err))
            self.status.value = "<code>not started: fix the setting above</code>"
            return None
        if not isinstance(run, Run):
            raise TypeError(f"{type(self).__name__}.make_run must return a vizlab Run")
        self.clear_error()
        if self.on_cpu and run.threads is None:
            run.threads = CPU_THREADS
        self.run = run
        self.runs_started += 1
        self._record_marks.clear()
        self._run_t0 = time.monotonic()
        self._final_done.clear()
        self.progress.value = 0.0
        run.on("done", self._poke).on("error", self._poke)
        if self.on_cpu:
            _fast_switching_for(run)
        run.start()
        return run

    def stop(self) -> None:
        """Ask the current run to stop (it does within one training step)."""
        if self.run is not None:
            self.run.stop()
            self._wake.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the current run and its last picture; True if both finished in time."""
        if self.run is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self.run.join(timeout):
            return False
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        self._wake.set()
        return self._final_done.wait(left)

    def reset(self) -> None:
        """Stop, forget the run and its pictures, and redraw the static pictures."""
        self._halt()
        with self._lock:
            self.run = None
            self.figures.clear()
            for image in self.images.values():
                image.value = b""
                image.layout.display = "none"
            self.reset_views()
            self._record_marks.clear()
            self.progress.value = 0.0
            self.status.value = "<code>ready</code>"
            self.clear_error()
        self._draw_static()

    def close(self) -> None:
        """Stop training and the render thread, then close the widgets."""
        if "_closed" in self.__dict__:  # not when __init__ failed before building the panel
            self._halt()
            self._closed.set()
            self._wake.set()
            if self._renderer is not threading.current_thread():
                # let a drawing or preparing in progress finish: nothing may still be
                # drawing when the interpreter shuts down
                self._renderer.join(5)
            for child in (*self.controls.values(), *self.images.values()):
                child.close()
        super().close()

    def add_button(self, button: W.Button) -> W.Button:
        """Put an extra action (e.g. "Lesion") after Train / Stop / Reset; returns it."""
        self.buttons.children = (*self.buttons.children, button)
        return button

    # ---- error box -----------------------------------------------------------------------
    @property
    def error_text(self) -> str:
        """The message in the error box ("" when there is none)."""
        return self._error

    _error = ""

    def show_error(self, text: str) -> None:
        self._error = text
        self.message.value = (
            "<div class='vizlab-error' style='color:#b00020;border:1px solid #b00020;"
            f"padding:4px 8px;white-space:pre-wrap'>{html.escape(text)}</div>"
        )
        self.message.layout.display = None

    def clear_error(self) -> None:
        self._error = ""
        self.message.value = ""
        self.message.layout.display = "none"

    # ---- internals -----------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self.run is not None and not self.run.finished.is_set()

    def _halt(self, timeout: float = 5.0) -> None:
        """Stop the current run and wait for its thread, so at most one run ever lives."""
        run = self.run
        if run is not None and not run.finished.is_set():
            run.stop()
            run.join(timeout)

    def _poke(self, _run: Any) -> None:
        self._wake.set()

    def _on_control(self, name: str, change: dict) -> None:
        self._draw_static()
        restart = self.restart_on is None or name in self.restart_on
        if restart and self.alive:
            self.train()

    def _draw_static(self) -> None:
        try:
            pictures = dict(self.static())
        except Exception as err:
            self.show_error(_describe(err))
            return
        if self._error and not self.alive:
            self.clear_error()  # the new setting drew fine: the old complaint is stale
        self.publish(pictures)

    def publish(self, pictures: Mapping[str, Picture]) -> None:
        """Show ``pictures`` (name -> PNG bytes or Figure) and keep them in ``figures``."""
        for name, picture in pictures.items():
            png = to_png(picture)
            self.figures[name] = png
            image = self.images.get(name)
            if image is not None and image.value != png:
                image.value = png
                image.layout.display = None  # hidden while empty: no broken-image icon

    def history_data(self) -> dict[str, Any] | None:
        """The current run's history as the curve views take it (``None`` before a run)."""
        history = self.run.history if self.run is not None else None
        if history is None:
            return None
        return {**history.snapshot(), "best_epoch": history.best_epoch}

    def new_records(self, watch: Any) -> list:
        """The rows ``watch`` recorded since this panel last asked (all of them the first
        time), so a refresh costs what is new, not the whole run again."""
        key = id(watch)
        rows = watch.records(since=self._record_marks.get(key))
        if rows:
            self._record_marks[key] = max(r.step for r in rows)
        return rows

    def _render_loop(self) -> None:
        pause = self.refresh_s
        while not self._closed.is_set():
            self._wake.wait(pause)
            self._wake.clear()
            run = self.run
            if self._replacing.is_set():
                continue  # a new run is on its way: no last picture for the stopped one
            if run is None or self._final_done.is_set():
                if time.monotonic() - self._idle_since >= IDLE_PREPARE_DELAY:
                    self._prepare_while_idle()
                else:
                    pause = IDLE_PREPARE_DELAY  # look again once the panel stayed idle
                continue
            final = run.finished.is_set()
            if not final and not _has_steps(run) and self._since_start() < FIRST_STEP_GRACE:
                # A run that has not trained a step yet: drawing now (for a restarted
                # LivePanel, building its dashboard) would take the GIL from the run's
                # start; its first step, then the first picture, come sooner this way.
                pause = 0.02
                continue
            with self._lock:
                if run is not self.run:
                    continue  # swapped while we waited; the new run gets its own turn
                started = time.perf_counter()
                try:
                    self.publish(self.render())
                    self.renders += 1
                except Exception as err:  # a broken figure must not stop training
                    self.show_error(f"could not draw: {_describe(err)}")
                # Drawing holds the GIL, which the training thread needs too: never spend
                # more than a ninth of the time drawing, however slow the machine.
                pause = max(self.refresh_s, RENDER_BUDGET * (time.perf_counter() - started))
                self._update_status(run, final)
                if final:
                    self._final_done.set()
                    self._idle_since = time.monotonic()

    def _since_start(self) -> float:
        return time.monotonic() - self._run_t0

    def _prepare_while_idle(self) -> None:
        # Nothing trains: the moment for work that would otherwise land in the next run.
        if self._closed.is_set():
            return
        try:
            self.prepare()
        except Exception as err:  # preparing is an optimization; the run can do without
            self.show_error(f"could not prepare the views: {_describe(err)}")

    def _update_status(self, run: Run, final: bool) -> None:
        self.progress.value = min(1.0, max(0.0, float(run.progress)))
        parts = [run.status]
        history = run.history
        if history is not None:
            snap = history.snapshot()
            if history.device:
                parts.append(history.device)
            if snap["epochs"]:
                parts.append(f"epoch {snap['epochs'][-1]}")
            if snap["steps"]:
                parts.append(f"step {snap['steps'][-1]}")
                parts.append(f"loss {snap['loss'][-1]:.3f}")
            if final and snap["val_acc"]:
                parts.append(f"val acc {snap['val_acc'][-1]:.1%}")
        parts.append(f"{time.monotonic() - self._run_t0:.1f} s")
        text = html.escape(" · ".join(parts))
        self.status.value = f"<code data-run='{self.runs_started}'>{text}</code>"
        if final and run.status == "failed" and run.error is not None:
            self.show_error(_describe(run.error))
        elif final and run.status == "diverged":
            step = getattr(run.result, "diverged_step", None)
            self.show_error(
                f"Training diverged at step {step}: the loss became NaN or infinite. "
                "Lower the learning rate and press Train again."
            )


def _fast_switching_for(run: Run) -> None:
    """Shorten the GIL switch interval until ``run`` ends (see ``widgets/gil.py``)."""
    released = threading.Event()

    def release(_: Any) -> None:
        if not released.is_set():  # "done" and "error" each end a run; never both
            released.set()
            release_fast_switching()

    hold_fast_switching()
    run.on("done", release).on("error", release)


def _has_steps(run: Run) -> bool:
    """Whether the run's history holds a training step yet (runs without one never do)."""
    history = run.history
    return bool(getattr(history, "steps", None))


def _describe(err: BaseException) -> str:
    """One readable line for the error box: the type only where it adds information."""
    text = str(err).strip() or type(err).__name__
    if isinstance(err, ValueError | TypeError | KeyError):
        return text.strip("'\"")
    return f"{type(err).__name__}: {text}"
