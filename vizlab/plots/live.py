"""Live views: figures that keep their artists and change them in place.

A live view draws one quantity on one axes. ``update`` feeds it new data; it moves the data
into the artists it already has (``set_data``, ``set_array``) and widens the axis limits
only when the data left them, with head-room so that a growing series does not force a
relayout at every update. ``png()`` renders to PNG bytes.

Rendering is where the time goes, so it is done in two ways (see ``benchmarks/live_update.py``
for the numbers):

* a *full draw* (``canvas.draw()``) lays out the figure and draws everything except the
  moving artists, which are created ``animated=True``; the clean background of every axes
  is then cached with ``copy_from_bbox``;
* an *update* restores the cached background of each changed axes and draws only its
  moving artists onto it (``draw_artist``), then encodes the canvas buffer as PNG.

A full draw happens only on the first render, when an axes changed its limits, scale or set
of artists, or when the figure was resized. Views never call pyplot; the canvas is a plain
``FigureCanvasAgg`` attached to a detached ``Figure``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox, IdentityTransform

from vizlab.plots._data import bounds
from vizlab.plots.style import new_figure, style_ticks

__all__ = ["LiveView", "Renderer", "encode_png"]


def encode_png(rgba: np.ndarray, *, level: int = 1) -> bytes:
    """PNG bytes of an RGBA canvas buffer, written directly with zlib.

    The alpha channel is dropped (figures have an opaque background) and rows are stored
    unfiltered at a low compression level: on a dashboard-sized canvas this is about twice
    as fast as going through PIL, and encoding is most of what an update costs.

    Shape:
        rgba: (H, W, 4) uint8.
    """
    h, w = rgba.shape[:2]
    rows = np.empty((h, w * 3 + 1), dtype=np.uint8)
    rows[:, 0] = 0  # filter type "None" for every row
    rows[:, 1:] = rgba[..., :3].reshape(h, w * 3)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit truecolour
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(tag: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(tag + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)


class Renderer:
    """Renders a figure of live views to PNG bytes, redrawing only what changed.

    Attributes:
        full_draws: how many full draws were needed so far (the rest were blits).
        blits: how many renders only redrew the moving artists.
    """

    def __init__(self, fig: Figure, views: Sequence[LiveView]) -> None:
        self.fig = fig
        self.views = list(views)
        self.canvas = FigureCanvasAgg(fig)
        self._backgrounds: dict[int, Any] = {}
        self._tight: dict[int, Bbox] = {}  # each axes' tight box at its last draw
        self._size: tuple[int, int] | None = None
        self.full_draws = 0
        self.blits = 0
        # Anyone else drawing this canvas (a savefig) leaves a buffer without the moving
        # artists; the next render must then start from a full draw.
        self._ours = False
        self._foreign = False
        self.canvas.mpl_connect("draw_event", self._on_draw)

    def _on_draw(self, event: Any) -> None:
        if not self._ours:
            self._foreign = True

    def png(self) -> bytes:
        """The figure as PNG bytes."""
        size = self.canvas.get_width_height()
        stale = [v for v in self.views if v.needs_full]
        # Redrawing axes in place pays for measuring their tight boxes: worth it while at
        # most half of the views are stale, a full draw otherwise.
        if self._foreign or self._size != size or 2 * len(stale) > len(self.views):
            self._full_draw()
        else:
            if stale:  # an axis of some views grew: redraw those axes only
                self.full_draws += 1
                self._redraw_axes(stale)
            else:
                self.blits += 1
            for view in self.views:
                if view.changed:
                    self.canvas.restore_region(self._backgrounds[id(view.ax)])
                    view.draw_moving()
                    view.changed = False
        return encode_png(np.asarray(self.canvas.buffer_rgba()))

    def full_png(self) -> bytes:
        """A complete redraw and encode, the way a plain ``savefig`` would (for comparison)."""
        self._full_draw()
        return encode_png(np.asarray(self.canvas.buffer_rgba()))

    def _redraw_axes(self, views: Sequence[LiveView]) -> None:
        """Redraw the static part of a few views' axes in place, not the whole figure.

        Each axes' region (its tight box, ticks, labels and title included, now and at its
        last draw) is painted with the figure's background colour and the axes is drawn
        again into it: about half the time of a dashboard's full redraw when one of its
        four views grew an axis. The layout is frozen after the first draw, so the regions of
        different axes do not overlap.
        """
        renderer = self.canvas.get_renderer()
        for view in views:
            ax = view.ax
            old = self._tight.get(id(ax))
            new = ax.get_tightbbox(renderer)  # with the new limits and ticks
            region = new if old is None else Bbox.union([new, old])
            blank = Rectangle(
                (region.x0 - 2, region.y0 - 2),
                region.width + 4,
                region.height + 4,
                transform=IdentityTransform(),
                facecolor=self.fig.get_facecolor(),
                edgecolor="none",
            )
            blank.set_figure(self.fig)
            self._ours = True
            try:
                blank.draw(renderer)
                ax.draw(renderer)  # animated artists are skipped, as in a full draw
            finally:
                self._ours = False
            self._tight[id(ax)] = new
            self._backgrounds[id(ax)] = self.canvas.copy_from_bbox(_margin(ax))
            view.needs_full = False
            view.changed = True  # its moving artists go back on below

    def _full_draw(self) -> None:
        self.full_draws += 1
        self._ours = True
        try:
            self.canvas.draw()  # animated artists are skipped: the backgrounds stay clean
        finally:
            self._ours = False
        self._foreign = False
        if self.fig.get_layout_engine() is not None and self.full_draws == 1:
            # The first draw placed the axes; keep them there. Re-running the constrained
            # layout on every later full draw (an axis grew) took 2/3 of its time, and axes
            # that shift while a learner watches are worse than a tick label near the edge.
            self.fig.set_layout_engine("none")
        self._size = self.canvas.get_width_height()
        self._backgrounds = {
            id(v.ax): self.canvas.copy_from_bbox(_margin(v.ax)) for v in self.views
        }
        renderer = self.canvas.get_renderer()
        self._tight = {id(v.ax): v.ax.get_tightbbox(renderer) for v in self.views}
        for view in self.views:
            view.draw_moving()
            view.needs_full = view.changed = False


def _margin(ax: Axes, pixels: float = 3.0) -> Bbox:
    """The axes box plus a few pixels: antialiased edges of moving artists reach just past
    the clip box, and restoring a region that missed them would let them pile up."""
    x0, y0, x1, y1 = ax.bbox.extents
    return Bbox.from_extents(x0 - pixels, y0 - pixels, x1 + pixels, y1 + pixels)


class LiveView:
    """Base of the live views: one axes, its moving artists, limits that grow when needed.

    Subclasses create their artists in ``__init__`` through :meth:`moving` and implement
    :meth:`update`, ending with :meth:`touch`.

    Args:
        ax: the axes to draw into; ``None`` makes a figure of ``figsize`` holding only this.
        figsize: size of that figure, in inches.
    """

    default_size: tuple[float, float] = (7.0, 4.5)
    # The watch kinds this view draws (names from ``vizlab.probes.KINDS``), so that a panel
    # records what it shows and nothing else.
    kinds: tuple[str, ...] = ()
    # What the x axis counts, "step" or "epoch", if it is a time axis (see set_horizon).
    horizon_unit: str | None = None

    def __init__(self, ax: Axes | None = None, *, figsize: tuple[float, float] | None = None):
        if ax is None:
            fig = new_figure(figsize, self.default_size)
            ax = fig.add_subplot()
            self._renderer: Renderer | None = Renderer(fig, [self])
        else:
            self._renderer = None
        style_ticks(ax)
        self.ax = ax
        self.fig = ax.figure
        self.artists: list[Artist] = []
        self.needs_full = True
        self.changed = True

    # ---- for subclasses ---------------------------------------------------------------
    def moving(self, artist: Artist) -> Artist:
        """Register an artist that updates change; it is drawn over the cached background."""
        artist.set_animated(True)
        self.artists.append(artist)
        self.needs_full = True
        return artist

    def touch(self) -> None:
        """Mark the view as changed since the last render."""
        self.changed = True

    def grow_limits(
        self, axis: str, values: Any, *, log: bool = False, pad: float = 0.25, time: bool = False
    ) -> None:
        """Widen the x or y limits to hold ``values``, with head-room; never shrink.

        Widening changes the ticks, so it asks the renderer for a full draw; growing by a
        margin makes that rare for series that drift slowly. A ``time`` axis keeps its start
        and doubles its span when the data runs past its end, so a run of ``n`` steps costs
        about ``log2(n)`` full draws.
        """
        span = bounds(values, positive=log)
        if span is None:
            return
        lo, hi = span
        get = self.ax.get_xlim if axis == "x" else self.ax.get_ylim
        cur_lo, cur_hi = get()
        if getattr(self, f"_{axis}_set", False) and cur_lo <= lo and hi <= cur_hi:
            return
        if getattr(self, f"_{axis}_set", False):
            lo, hi = min(lo, cur_lo), max(hi, cur_hi)
        if time:
            # the end runs ahead of the data; the start only ever moves back a little (a
            # heatmap's first column reaches half a step before step 0)
            fits = getattr(self, f"_{axis}_set", False) and hi <= cur_hi
            end = cur_hi if fits else lo + 2 * max(hi - lo, 1)
            (self.ax.set_xlim if axis == "x" else self.ax.set_ylim)(lo, end)
            setattr(self, f"_{axis}_set", True)
            self.needs_full = True
            return
        if log:
            lo_log, hi_log = np.log10(lo), np.log10(hi)
            extra = max(hi_log - lo_log, 1.0) * 2 * pad  # norms drift by decades
            lo, hi = 10 ** (lo_log - extra), 10 ** (hi_log + extra)
        else:
            extra = (hi - lo) * pad if hi > lo else max(abs(hi), 1.0) * 0.5
            lo, hi = lo - extra, hi + extra
        (self.ax.set_xlim if axis == "x" else self.ax.set_ylim)(lo, hi)
        setattr(self, f"_{axis}_set", True)
        self.needs_full = True

    def set_horizon(self, *, steps: int | None = None, epochs: int | None = None) -> None:
        """Fix a time axis to the length of the run ahead, when it is known.

        A time axis otherwise doubles whenever the data runs past its end (a full redraw
        each time); a live panel knows how many steps and epochs it will train, so its
        views can start at their final width and only ever blit. Data beyond the horizon
        still widens the axis as usual.
        """
        end = {"step": steps, "epoch": epochs}.get(self.horizon_unit or "")
        if not end:
            return
        # (steps get a little room: a heatmap cell reaches half a sampling interval past
        # the last sampled step)
        limits = (0.5, end + 0.5) if self.horizon_unit == "epoch" else (0, end + end // 20)
        if getattr(self, "_x_set", False) and tuple(self.ax.get_xlim()) == limits:
            return  # already there (a dashboard prepared for this run): no redraw
        self.ax.set_xlim(*limits)
        self._x_set = True
        self.needs_full = True

    def draw_moving(self) -> None:
        """Draw the moving artists onto the canvas (the renderer calls this)."""
        for artist in self.artists:
            self.ax.draw_artist(artist)

    def update(self, data: Any) -> None:  # pragma: no cover - abstract
        """Take new data (records, or a history dict for curves)."""
        raise NotImplementedError

    # ---- rendering ----------------------------------------------------------------------
    @property
    def renderer(self) -> Renderer:
        """The renderer of a standalone view (a dashboard renders its views itself)."""
        if self._renderer is None:
            raise ValueError(
                "this view draws into axes it was given; render the figure that owns them "
                "(for example the Dashboard), not the view"
            )
        return self._renderer

    def png(self) -> bytes:
        """The view's figure as PNG bytes, blitting when nothing but data changed."""
        return self.renderer.png()


class RecordView(LiveView):
    """A live view fed with records; remembers per series the newest step it has seen.

    Feeding the same records twice, or all records every time, is therefore harmless: only
    rows newer than what the view holds are added. At most ``keep`` points per series are
    kept (the oldest are dropped), so a view's memory is bounded however long it runs.
    """

    keep = 2000

    def __init__(self, ax: Axes | None = None, *, figsize: tuple[float, float] | None = None):
        super().__init__(ax, figsize=figsize)
        self.series: dict[tuple[str, str], tuple[list[int], list[Any]]] = {}
        self.layers: list[str] = []

    def add(self, records: Iterable[Sequence[Any]], kind: str) -> bool:
        """Append the new rows of ``kind``; returns whether anything was added."""
        added = False
        for step, layer, rkind, stat, value in records:
            if rkind != kind:
                continue
            steps, values = self.series.setdefault((layer, stat), ([], []))
            if steps and step <= steps[-1] and not stat.endswith("range"):
                continue
            if layer not in self.layers:
                self.layers.append(layer)
            steps.append(int(step))
            values.append(value)
            if len(steps) > self.keep:
                del steps[: len(steps) - self.keep]
                del values[: len(values) - self.keep]
            added = True
        return added

    def get(self, layer: str, stat: str) -> tuple[np.ndarray, list[Any]]:
        """Steps (as an array) and values of one series; empty if never seen."""
        steps, values = self.series.get((layer, stat), ([], []))
        return np.asarray(steps, dtype=np.int64), values

    def width_px(self) -> int:
        """The axes width in pixels: the most points worth drawing along x."""
        return max(int(self.ax.bbox.width), 16)
