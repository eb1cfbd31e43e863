"""Every builder on small synthetic data: a Figure with the expected axes, labels and data."""

from __future__ import annotations

import io
from math import comb
from typing import NamedTuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

from vizlab import plots


class Record(NamedTuple):
    """The probes' record layout; plots accept any such 5-tuple, so the test does not need
    the probes package."""

    step: int
    layer: str
    kind: str
    stat: str
    value: object


HISTORY = {
    "epochs": [1, 2, 3, 4, 5],
    "train_loss": [2.0, 1.5, 1.0, 0.7, 0.5],
    "val_loss": [2.1, 1.6, 1.4, 1.5, None],
    "train_acc": [0.2, 0.4, 0.6, 0.7, 0.8],
    "val_acc": [0.2, 0.35, 0.5, 0.45, 0.44],
    "best_epoch": 3,
    "stop_epoch": 5,
    "restored_epoch": 3,
}


def _render(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return buf.getvalue()


def _activation_records(layers=("a", "b"), steps=(0, 10, 20), bins=5):
    rng = np.random.default_rng(0)
    rows = []
    for layer in layers:
        rows.append(Record(0, layer, "activations", "hist_range", np.array([-2.0, 2.0])))
        for s in steps:
            rows.append(Record(s, layer, "activations", "hist", rng.integers(0, 50, bins)))
            rows.append(Record(s, layer, "activations", "mean", float(s)))
            rows.append(Record(s, layer, "activations", "std", 1.0))
            rows.append(Record(s, layer, "activations", "zeros", 0.25))
    return rows


def test_curves_draw_input_series_and_mark_epochs():
    fig = plots.curves(HISTORY)
    assert isinstance(fig, Figure)
    ax_loss, ax_acc = fig.axes
    assert ax_loss.get_ylabel() == "loss" and ax_acc.get_ylabel() == "accuracy"
    train, val = ax_loss.lines[:2]
    np.testing.assert_array_equal(train.get_ydata(), HISTORY["train_loss"])
    assert np.isnan(val.get_ydata()[-1])  # None (NaN in JSON) is a gap, not a crash
    marks = {line.get_label(): line.get_xdata()[0] for line in ax_loss.lines[2:]}
    assert marks == {"best 3": 3, "stopped 5": 5, "restored 3": 3}
    _render(fig)


def test_curves_reject_non_dict():
    with pytest.raises(TypeError, match="history dict"):
        plots.curves([1, 2, 3])


def test_grid_heatmap_mean_spread_params_and_stuck():
    acc = np.array([[[0.9, 0.1], [0.8, 0.1]], [[0.7, 0.1], [0.6, np.nan]]])  # (R=2, 2, 2)
    params = np.array([[100, 200], [300, 400]])
    stuck = np.array([[False, True], [False, True]])
    fig = plots.grid_heatmap(acc, params=params, stuck=stuck)
    ax_acc, ax_params = [ax for ax in fig.axes if ax.images]
    np.testing.assert_allclose(ax_acc.images[0].get_array(), [[0.8, 0.1], [0.7, 0.1]])
    np.testing.assert_array_equal(ax_params.images[0].get_array(), params)
    hatched = [p for p in ax_acc.patches if isinstance(p, Rectangle) and p.get_hatch()]
    assert len(hatched) == 2
    assert any("±" in t.get_text() for t in ax_acc.texts)
    assert ax_acc.get_xlabel() == "convs per block"
    _render(fig)


def test_grid_heatmap_rejects_bad_rank():
    with pytest.raises(ValueError, match="rows, cols"):
        plots.grid_heatmap(np.zeros(3))


def test_spatial_sizes_bars_and_maps():
    sizes = [(8, 8), (4, 4), (2, 2), (1, 1)]
    fig = plots.spatial_sizes(sizes, [np.ones((s, s)) for s, _ in sizes])
    heights = [b.get_height() for b in fig.axes[0].patches]
    assert heights == [64, 16, 4, 1]
    assert len(fig.axes) == 5


def test_activation_hist_strips_hold_log_counts():
    rows = _activation_records()
    fig = plots.activation_hist(rows)
    strips = [ax for ax in fig.axes if ax.images]
    assert [ax.get_ylabel() for ax in strips] == ["a", "b"]
    hist_a = np.stack([r.value for r in rows if r.layer == "a" and r.stat == "hist"])
    np.testing.assert_allclose(strips[0].images[0].get_array(), np.log1p(hist_a).T)
    np.testing.assert_array_equal(strips[0].lines[0].get_ydata(), [0.0, 10.0, 20.0])
    assert strips[0].images[0].get_extent()[2:] == [-2.0, 2.0]
    _render(fig)


def test_grad_flow_lines_per_layer_log_scale():
    rows = [
        Record(s, f"l{i}", "gradients", "act_grad_norm", 10.0**-i * (s + 1))
        for s in range(4)
        for i in range(3)
    ]
    fig = plots.grad_flow(rows)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "step"
    np.testing.assert_allclose(ax.lines[2].get_ydata(), [0.01, 0.02, 0.03, 0.04])
    assert ax.lines[0].get_color() == plots.layer_color("l0")


def test_residual_split_depth_uses_newest_step():
    rows = []
    for s in (0, 1):
        for b in range(3):
            rows.append(Record(s, f"block{b}", "residual", "grad_skip", 1.0 + s + b))
            rows.append(Record(s, f"block{b}", "residual", "grad_branch", 0.1 * (1 + s + b)))
    fig = plots.residual_split(rows)
    depth, time = fig.axes
    np.testing.assert_allclose(depth.lines[0].get_ydata(), [2.0, 3.0, 4.0])
    np.testing.assert_allclose(depth.lines[1].get_ydata(), [0.2, 0.3, 0.4])
    assert len(time.lines) == 6 and depth.get_yscale() == "log"


def test_residual_split_rejects_unknown_view():
    with pytest.raises(ValueError, match="depth"):
        plots.draw_residual_split(Figure().add_subplot(), [], over="width")


def test_path_lengths_binomial_and_lesion():
    fig = plots.path_lengths(
        5, {"resnet": [0.8, 0.7], "plain": [0.1, 0.1]}, baseline={"resnet": 0.85}
    )
    heights = np.array([b.get_height() for b in fig.axes[0].patches])
    np.testing.assert_allclose(heights, [comb(5, k) / 32 for k in range(6)])
    assert heights.sum() == pytest.approx(1.0)
    np.testing.assert_array_equal(fig.axes[1].lines[0].get_ydata(), [0.8, 0.7])
    with pytest.raises(ValueError, match="blocks"):
        plots.path_lengths(-1)


def test_variance_ratio_lines():
    fig = plots.variance_ratio({"no norm": [1.0, 2.0], "bn": [0.5, 0.25]})
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), [0.5, 0.25])


def test_norm_stats_latest_channels():
    rows = []
    for s in (0, 5):
        rows += [
            Record(s, "bn", "norms", "batch_mean", np.array([s, s + 1.0])),
            Record(s, "bn", "norms", "running_mean", np.array([0.1 * s, 0.2])),
            Record(s, "bn", "norms", "batch_var", np.array([1.0, 2.0])),
            Record(s, "bn", "norms", "running_var", np.array([1.0, 1.5])),
            Record(s, "bn", "norms", "alpha", np.array([1.0, 1.1])),
            Record(s, "bn", "norms", "beta", np.array([0.0, -0.1])),
        ]
    fig = plots.norm_stats(rows)
    mean_ax, var_ax, affine_ax, time_ax = fig.axes
    np.testing.assert_array_equal(mean_ax.lines[0].get_ydata(), [5.0, 6.0])
    np.testing.assert_array_equal(affine_ax.lines[1].get_ydata(), [0.0, -0.1])
    np.testing.assert_array_equal(time_ax.lines[0].get_ydata(), [0.0, 5.0])
    assert "bn" in fig._suptitle.get_text()


@pytest.mark.parametrize(
    ("axes", "groups", "expected"),
    [
        (("N", "H", "W"), None, lambda m: m[:, 0, :].all() and m.sum() == m[:, 0, :].size),
        (("C", "H", "W"), None, lambda m: m[0].all() and m.sum() == m[0].size),
        (("H", "W"), None, lambda m: m[0, 0].all() and m.sum() == m[0, 0].size),
        (("C", "H", "W"), 2, lambda m: m[0, :3].all() and m.sum() == m[0, :3].size),
    ],
    ids=["batch", "layer", "instance", "group"],
)
def test_shared_mask_matches_the_named_norms(axes, groups, expected):
    mask = plots.shared_mask(axes, groups=groups, shape=(4, 6, 3, 2))
    assert mask.shape == (4, 6, 6)
    assert expected(mask)


def test_shared_mask_rejects_bad_choices():
    with pytest.raises(ValueError, match="letters from N, C, H, W"):
        plots.shared_mask(("N", "X"))
    with pytest.raises(ValueError, match="must divide"):
        plots.shared_mask(("C",), groups=4, shape=(2, 6, 2, 2))


def test_norm_axes_cube_highlights_the_shared_cells_and_counts_params():
    fig = plots.norm_axes_cube(("H", "W"), shape=(3, 4, 2, 2))
    ax = fig.axes[0]
    front, top, side = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(front.get_paths()) == 4 * 4 and len(top.get_paths()) == 3 * 4
    colours = front.get_facecolors()
    highlighted = (colours != colours[-1]).any(axis=1)  # the last front cell is not shared
    assert highlighted.sum() == 4  # instance norm: one channel, all 4 pixels, first example
    assert "2CHW = 32" in ax.get_title() and "2C = 8" in ax.get_title()
    _render(fig)


def test_descent_paths_and_batch_spread():
    path = np.array([[2.0, 1.0], [1.0, 0.5], [0.0, 0.0]])
    fig = plots.descent_paths({"raw": (np.diag([10.0, 1.0]), path), "std": (np.eye(2), path[::2])})
    assert len(fig.axes) == 2
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), path[:, 1])
    assert "condition 10.0" in fig.axes[0].get_title()
    spread = plots.batch_spread({4: [0.0, 1.0, 2.0], 64: [1.0, 1.1]}, truth=1.0)
    assert [t.get_text() for t in spread.axes[0].get_xticklabels()] == ["4", "64"]


def test_dropout_masks_image_equals_mask():
    rng = np.random.default_rng(0)
    element = rng.random((8, 16)) > 0.5
    channel = np.repeat(rng.random((4, 3, 1, 1)) > 0.5, 4, axis=2).repeat(4, axis=3)
    fig = plots.dropout_mask({"element": element, "channel": channel})
    ax_el, ax_ch = fig.axes
    np.testing.assert_array_equal(ax_el.images[0].get_array(), element.astype(float))
    np.testing.assert_array_equal(ax_ch.images[0].get_array(), channel.reshape(4, -1))
    assert ax_el.get_title().startswith("element")


def test_mc_dropout_and_schedule():
    probs = np.array([[0.7, 0.3], [0.5, 0.5]])
    fig = plots.mc_dropout(probs, classes=["cat", "dog"], label=0)
    np.testing.assert_allclose([b.get_height() for b in fig.axes[0].patches], [0.6, 0.4])
    sched = plots.dropout_schedule({"early": ([0, 0.5, 1.0], [0.1, 0.0, 0.0])})
    np.testing.assert_array_equal(sched.axes[0].lines[0].get_ydata(), [0.1, 0.0, 0.0])


def test_weight_hist_and_norms():
    rows = [
        Record(0, "fc", "weights", "weight_hist_range", np.array([-1.0, 1.0])),
        Record(0, "fc", "weights", "weight_hist", np.array([1.0, 5.0, 2.0])),
        Record(0, "fc", "weights", "weight_norm", 3.0),
        Record(0, "fc", "weights", "near_zero", 0.5),
        Record(10, "fc", "weights", "weight_norm", 2.0),
    ]
    fig = plots.weight_hist(rows)
    hist_ax, norm_ax = fig.axes
    np.testing.assert_array_equal(hist_ax.patches[0].get_data().values, [1.0, 5.0, 2.0])
    np.testing.assert_array_equal(norm_ax.lines[0].get_ydata(), [3.0, 2.0])
    assert "50% near 0" in hist_ax.get_legend().get_texts()[0].get_text()


def test_lasso_lands_on_a_corner_ridge_does_not():
    a = np.array([[1.0, 0.4], [0.4, 0.6]])
    l1 = plots.constrained_optimum((1.2, 0.5), a, norm=1)
    l2 = plots.constrained_optimum((1.2, 0.5), a, norm=2)
    assert np.isclose(np.abs(l1).min(), 0.0) and np.abs(l1).sum() == pytest.approx(1.0)
    assert np.abs(l2).min() > 0.05 and np.linalg.norm(l2) == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_array_equal(plots.constrained_optimum((0.1, 0.2), a, norm=1), [0.1, 0.2])
    fig = plots.lasso_ridge()
    assert [ax.get_title() for ax in fig.axes] == ["lasso (L1)", "ridge (L2)"]


def test_augment_gallery_and_mix_labels():
    before = [np.zeros((3, 8, 8)), np.ones((8, 8))]
    after = [np.ones((3, 8, 8)), np.eye(8)]
    fig = plots.augment_gallery(before, after, ["flip", "shear 0.3"])
    assert [ax.get_xlabel() for ax in fig.axes[2:]] == ["flip", "shear 0.3"]
    np.testing.assert_array_equal(fig.axes[3].images[0].get_array(), np.eye(8))
    with pytest.raises(ValueError, match="as many augmented images"):
        plots.augment_gallery(before, after[:1])
    mix = plots.mix_labels(np.ones((8, 8)), [0.75, 0.25, 0.0], box=(1, 2, 5, 6))
    img_ax, bar_ax = mix.axes
    np.testing.assert_allclose([b.get_height() for b in bar_ax.patches], [0.75, 0.25, 0.0])
    box = [p for p in img_ax.patches if isinstance(p, Rectangle)][0]
    assert (box.get_width(), box.get_height()) == (4, 4)


def test_filters_feature_maps_receptive_field():
    w = np.random.default_rng(0).normal(size=(6, 3, 3, 3))
    fig = plots.filters(w)
    assert sum(len(ax.images) for ax in fig.axes) == 6
    maps = {"conv1": np.arange(32.0).reshape(2, 4, 4), "conv2": np.ones((3, 2, 2))}
    fm = plots.feature_maps(maps)
    np.testing.assert_array_equal(fm.axes[1].images[0].get_array(), maps["conv1"][1])
    rf = plots.receptive_field(np.zeros((8, 8)), (2, 2, 7, 7))
    assert rf.axes[0].get_xlabel() == "receptive field 5 x 5"
    heat = np.zeros((8, 8))
    heat[2:4, 2:4] = 1
    overlay = plots.receptive_field(np.zeros((8, 8)), heat).axes[0].images[1].get_array()
    assert (~overlay.mask).sum() == 4


def test_conv_diagrams_match_torch():
    rng = np.random.default_rng(0)
    x, k = rng.normal(size=(2, 5, 5)), rng.normal(size=(2, 3, 3))
    fig = plots.conv_channels(x, k)
    want = F.conv2d(torch.tensor(x)[None], torch.tensor(k)[None])[0, 0].numpy()
    np.testing.assert_allclose(fig.axes[3].images[0].get_array(), want, atol=1e-12)
    w = rng.normal(size=(4, 2))
    one = plots.conv1x1(x, w, pixel=(1, 2))
    want1 = F.conv2d(torch.tensor(x)[None], torch.tensor(w)[:, :, None, None])[0, :, 1, 2]
    np.testing.assert_allclose(one.axes[2].images[0].get_array()[:, 0], want1.numpy())
    pool = plots.pooling_windows(x[0], window=2, stride=2)
    want2 = F.max_pool2d(torch.tensor(x[0])[None], 2, 2)[0].numpy()
    np.testing.assert_array_equal(pool.axes[1].images[0].get_array(), want2)
    assert len([p for p in pool.axes[0].patches if isinstance(p, Rectangle)]) == 4
    with pytest.raises(ValueError, match="same C_in"):
        plots.conv_channels(x, k[:1])


def test_summary_table_lists_rows_and_total():
    rows = [("features.0", "Conv2d", (8, 8, 8), 80), ("head", "Linear", (10,), 90)]
    fig = plots.summary_table(rows, title="lenet")
    table = fig.axes[0].tables[0]
    texts = [c.get_text().get_text() for c in table.get_celld().values()]
    assert "170" in texts and "Conv2d" in texts and "(8, 8, 8)" in texts
    bars = plots.param_bars(rows + [("relu", "ReLU", (8, 8, 8), 0)])
    assert [b.get_height() for b in bars.axes[0].patches] == [80, 90]


BAD = np.array([np.nan, np.inf, -np.inf, 1.0])


@pytest.mark.parametrize(
    "build",
    [
        lambda: plots.curves({"epochs": [], "train_loss": [], "val_loss": []}),
        lambda: plots.curves({"epochs": [1, 2, 3, 4], "train_loss": BAD, "val_loss": BAD}),
        lambda: plots.grid_heatmap(np.full((2, 2, 2), np.nan)),
        lambda: plots.activation_hist([]),
        lambda: plots.activation_hist(
            [
                Record(0, "a", "activations", "hist", np.array([np.nan, np.inf, 1.0])),
                Record(0, "a", "activations", "mean", np.nan),
            ]
        ),
        lambda: plots.grad_flow([]),
        lambda: plots.grad_flow(
            [Record(i, "a", "gradients", "act_grad_norm", v) for i, v in enumerate(BAD)]
        ),
        lambda: plots.residual_split([]),
        lambda: plots.norm_stats([]),
        lambda: plots.dropout_mask(np.zeros((0, 4))),
        lambda: plots.mc_dropout(np.full((3, 2), np.nan)),
        lambda: plots.weight_hist([]),
        lambda: plots.variance_ratio({"x": BAD}),
        lambda: plots.descent_paths({"nan": (np.eye(2), np.full((3, 2), np.nan))}),
        lambda: plots.augment_gallery([], []),
        lambda: plots.feature_maps({}),
        lambda: plots.filters(np.full((2, 1, 3, 3), np.nan)),
        lambda: plots.summary_table([]),
        lambda: plots.batch_spread({2: BAD}),
    ],
)
def test_builders_survive_nan_inf_and_empty_input(build):
    fig = build()
    assert isinstance(fig, Figure)
    assert _render(fig).startswith(b"\x89PNG")


def test_draw_forms_compose_into_given_axes():
    fig = Figure()
    ax1, ax2 = fig.subplots(1, 2)
    artists = plots.draw_curves(ax1, HISTORY)
    assert artists[0] in ax1.lines
    assert plots.grid_heatmap(np.ones((2, 2)), ax=ax2) is fig
    assert (
        plots.layer_color("x") == plots.layer_color("x")
        and plots.layer_color(0) == plots.PALETTE[0]
    )
    assert isinstance(ax2.images[0], AxesImage)
