"""Live views: in-place updates show exactly the newest records, blits match full redraws,
and a thousand updates leak nothing."""

from __future__ import annotations

import gc
import io
import tracemalloc
from typing import NamedTuple

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.lines import Line2D

from vizlab import plots


class Record(NamedTuple):
    """The probes' record layout (plots accept any such 5-tuple)."""

    step: int
    layer: str
    kind: str
    stat: str
    value: object


LAYERS = ("features.0", "features.1", "head")


def _rows(step: int, rng: np.random.Generator) -> list[Record]:
    rows = []
    for i, layer in enumerate(LAYERS):
        if step == 0:
            rows.append(Record(0, layer, "activations", "hist_range", np.array([-3.0, 3.0])))
        rows += [
            Record(step, layer, "activations", "hist", rng.integers(0, 100, 12)),
            Record(step, layer, "activations", "mean", float(rng.normal())),
            Record(step, layer, "activations", "std", 1.0 + 0.01 * i),
            Record(step, layer, "activations", "zeros", 0.3),
            Record(step, layer, "gradients", "act_grad_norm", 10.0**-i * (1 + rng.random())),
            Record(step, layer, "weights", "weight_norm", 1.0 + i + 1e-3 * step),
            Record(step, layer, "residual", "grad_skip", 1.0 + rng.random()),
            Record(step, layer, "residual", "grad_branch", 0.1 + rng.random()),
            Record(step, layer, "norms", "batch_mean", rng.normal(size=4)),
            Record(step, layer, "norms", "running_mean", rng.normal(size=4)),
            Record(step, layer, "dropout", "mask", rng.random((4, 10)) > 0.5),
        ]
    return rows


def _pixels(png: bytes) -> np.ndarray:
    return imread(io.BytesIO(png), format="png")


def test_dashboard_shows_exactly_the_latest_records():
    rng = np.random.default_rng(0)
    dash = plots.Dashboard(
        ("curves", "grad_flow", "activation_hist", "weight_norms"), figsize=(8, 5)
    )
    history = {"epochs": [], "train_loss": [], "val_loss": []}
    for step in range(0, 600, 10):
        rows = _rows(step, rng)
        epoch = step // 100 + 1
        history = {
            "epochs": list(range(1, epoch + 1)),
            "train_loss": [1.0 / e for e in range(1, epoch + 1)],
            "val_loss": [1.2 / e for e in range(1, epoch + 1)],
            "best_epoch": epoch,
        }
        dash.update(rows, history=history)
        if step % 100 == 0:
            assert dash.png().startswith(b"\x89PNG")
    curves, grad, act, weights = dash.views
    np.testing.assert_array_equal(curves.train.get_ydata(), history["train_loss"])
    assert curves.best.get_xdata()[0] == history["best_epoch"]
    for i, layer in enumerate(LAYERS):
        newest = [r for r in rows if r.layer == layer]
        line = grad.lines[layer]
        want = [r.value for r in newest if r.stat == "act_grad_norm"][0]
        assert line.get_xdata()[-1] == 590 and line.get_ydata()[-1] == want
        assert weights.lines[layer].get_ydata()[-1] == pytest.approx(1.0 + i + 0.59)
    hist = [r.value for r in rows if r.layer == LAYERS[0] and r.stat == "hist"][0]
    np.testing.assert_allclose(act.image.get_array()[:, -1], np.log1p(hist))
    assert act.image.get_extent()[1] > 590


def test_blit_matches_a_full_redraw():
    rng = np.random.default_rng(1)
    view = plots.LiveGradFlow(figsize=(4, 3))
    for step in range(0, 50):
        view.update(_rows(step, rng))
        view.png()
    # Constrained layout moves the axes by a fraction of a pixel the first times it runs;
    # one more full draw settles it, so the comparison below is about blitting alone.
    view.renderer.full_png()
    blits = view.renderer.blits
    for step in range(50, 60):
        view.update(_rows(step, rng))
        blitted = view.png()
    assert view.renderer.blits == blits + 10  # these renders were blits, not full draws
    # Equal up to one level of rounding on a handful of antialiased pixels.
    diff = np.abs(_pixels(blitted) - _pixels(view.renderer.full_png()))
    assert diff.max() <= 1.5 / 255 and (diff > 0).mean() < 1e-3


@pytest.mark.parametrize(
    ("cls", "check"),
    [
        (plots.LiveResidualSplit, lambda v, rows: v.skip.get_ydata()[-1] == rows[-1][0]),
        (plots.LiveNormStats, lambda v, rows: np.array_equal(v.batch.get_ydata(), rows[0][1])),
        (plots.LiveDropoutMask, lambda v, rows: np.array_equal(v.image.get_array(), rows[0][2])),
        (plots.LiveWeightNorms, lambda v, rows: v.lines["head"].get_ydata()[-1] == rows[-1][3]),
    ],
    ids=["residual", "norms", "dropout", "weights"],
)
def test_each_live_view_tracks_the_newest_step(cls, check):
    rng = np.random.default_rng(2)
    view = cls(figsize=(4, 3))
    for step in range(30):
        rows = _rows(step, rng)
        view.update(rows)
    view.png()

    def newest(layer, stat):
        return [r.value for r in rows if r.layer == layer and r.stat == stat][0]

    table = [
        (newest(layer, "grad_skip"), newest(layer, "batch_mean"), newest(layer, "mask"))
        + (newest(layer, "weight_norm"),)
        for layer in LAYERS
    ]
    assert check(view, table)


def test_feeding_the_same_records_twice_adds_nothing():
    rng = np.random.default_rng(3)
    rows = [r for step in range(5) for r in _rows(step, rng)]
    view = plots.LiveWeightNorms(figsize=(4, 3))
    view.update(rows)
    view.update(rows)  # a panel may pass all records every time
    np.testing.assert_array_equal(view.lines["head"].get_xdata(), [0, 1, 2, 3, 4])


def test_long_series_are_thinned_to_the_pixel_width_keeping_the_newest():
    view = plots.LiveGradFlow(figsize=(3, 2))
    rows = [Record(s, "a", "gradients", "act_grad_norm", float(s + 1)) for s in range(5000)]
    view.update(rows)
    x = view.lines["a"].get_xdata()
    assert len(x) <= view.width_px() + 1 and x[-1] == view.keep + 2999
    assert view.lines["a"].get_ydata()[-1] == 5000.0


def test_live_views_survive_nan_inf_and_empty_updates():
    view = plots.LiveGradFlow(figsize=(3, 2))
    view.update([])
    view.png()
    bad = [Record(i, "a", "gradients", "act_grad_norm", v) for i, v in enumerate([np.nan, np.inf])]
    view.update(bad)
    assert view.png().startswith(b"\x89PNG")
    curves = plots.LiveCurves(figsize=(3, 2))
    curves.update({"epochs": [1, 2], "train_loss": [np.nan, np.inf], "val_loss": []})
    assert curves.png().startswith(b"\x89PNG")


def test_bad_dashboard_and_view_misuse_raise():
    with pytest.raises(ValueError, match="4 views"):
        plots.Dashboard(("curves", "histogram", "grad_flow", "weight_norms"))
    ax = Figure().add_subplot()
    with pytest.raises(ValueError, match="render the figure that owns them"):
        plots.LiveGradFlow(ax).png()


def test_full_draws_stay_rare_over_a_long_run():
    rng = np.random.default_rng(4)
    view = plots.LiveWeightNorms(figsize=(3, 2))
    for step in range(400):
        view.update(_rows(step, rng))
        view.png()
    assert view.renderer.full_draws <= 12, view.renderer.full_draws


def test_a_thousand_updates_leak_nothing():
    rng = np.random.default_rng(5)
    view = plots.LiveGradFlow(figsize=(2, 1.5))
    view.keep = 50  # the series stay bounded, so any growth would be a leak
    fig = view.fig
    for step in range(200):
        view.update([r for r in _rows(step, rng) if r.kind == "gradients"])
        view.png()
    gc.collect()
    lines_before = sum(type(o) is Line2D for o in gc.get_objects())
    tracemalloc.start()
    start, _ = tracemalloc.get_traced_memory()
    for step in range(200, 1200):
        view.update([r for r in _rows(step, rng) if r.kind == "gradients"])
        view.png()
    gc.collect()
    end, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    lines_after = sum(type(o) is Line2D for o in gc.get_objects())
    assert end - start < 256 * 1024, f"grew by {(end - start) / 1024:.0f} KiB"
    assert lines_after == lines_before
    assert len(fig.axes) == 1 and len(view.ax.lines) == len(LAYERS)


def test_a_foreign_savefig_forces_the_next_render_to_redraw_everything():
    rng = np.random.default_rng(6)
    view = plots.LiveWeightNorms(figsize=(3, 2))
    view.update(_rows(0, rng))
    first = _pixels(view.png())
    view.fig.savefig(io.BytesIO(), format="png")  # draws the canvas without moving artists
    draws = view.renderer.full_draws
    again = _pixels(view.png())
    assert view.renderer.full_draws == draws + 1
    np.testing.assert_array_equal(first, again)
