"""Section B (how many layers are enough): each topic runs once at quick scale.

The facts are asserted on ``result.numbers``; models are rebuilt here independently to
check the parameter counts against ``sum(p.numel())``.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from vizlab import experiments
from vizlab.experiments.depth import CHANCE_MARGIN, is_stuck
from vizlab.models import vgg

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def grid():
    return experiments.run("depth_grid", scale="quick", seed=0)


@pytest.fixture(scope="module")
def sizes():
    return experiments.run("spatial_sizes", scale="quick", seed=0)


@pytest.fixture(scope="module")
def growth():
    return experiments.run("param_growth", scale="quick")


def _cell(numbers, blocks, convs):
    return numbers["blocks"].index(blocks), numbers["convs"].index(convs)


def _runs(numbers, blocks, convs):
    return [r for r in numbers["runs"] if (r["blocks"], r["convs"]) == (blocks, convs)]


def _check_json_and_figures(result):
    json.dumps(result.to_json())
    figures = result.figures()
    assert figures
    for name, (fig, caption) in figures.items():
        assert isinstance(fig, Figure), name
        assert fig.axes, name
        assert isinstance(caption, str) and caption


def test_is_stuck_definition():
    chance = math.log(10)
    assert is_stuck([chance + 0.01, chance - CHANCE_MARGIN / 2], 10)
    assert not is_stuck([chance, chance - 0.5], 10)
    assert not is_stuck([chance], 10, val_loss=[chance - 0.5])  # learned late in the epoch
    assert is_stuck([chance], 10, val_loss=[chance - CHANCE_MARGIN / 2])
    assert is_stuck([], 10)
    assert is_stuck([float("nan")], 10)


@pytest.mark.slow
def test_grid_params_equal_real_counts(grid):
    n = grid.numbers
    assert n["blocks"] == [1, 2, 3] and n["convs"] == [1, 3, 6]
    for i, b in enumerate(n["blocks"]):
        for j, c in enumerate(n["convs"]):
            model = vgg(b, c, n["width"], in_channels=1, num_classes=10, input_size=8)
            assert n["params"][i, j] == sum(p.numel() for p in model.parameters())
    for run in n["runs"]:
        i, j = _cell(n, run["blocks"], run["convs"])
        assert run["params"] == n["params"][i, j]
    assert grid.facts["params_match_numel"]


@pytest.mark.slow
def test_grid_repetitions_use_distinct_seeds(grid):
    n = grid.numbers
    seeds = [s for row in n["seeds"] for cell in row for s in cell]
    assert len(seeds) == len(set(seeds)) == len(n["blocks"]) * len(n["convs"]) * n["reps"]
    assert all(len(cell) == n["reps"] == 2 for row in n["seeds"] for cell in row)
    # the mean and spread shown are those of the repetitions' test accuracies
    acc = np.asarray(n["acc"], dtype=float)
    assert acc.shape == (n["reps"], len(n["blocks"]), len(n["convs"]))
    np.testing.assert_allclose(n["acc_mean"], acc.mean(axis=0))
    np.testing.assert_allclose(n["acc_std"], acc.std(axis=0))
    assert not n["errors"]


@pytest.mark.slow
def test_deep_plain_cell_stays_at_chance_while_shallow_learns(grid):
    n = grid.numbers
    assert n["norm"] is None and n["residual"] is False and n["init"] == "torch"
    assert n["deep_cell"] == [3, 6] and n["shallow_cell"] == [3, 1]
    chance_loss = math.log(10)
    deep = _runs(n, 3, 6)
    shallow = _runs(n, 3, 1)
    assert len(deep) == len(shallow) == 2
    for run in deep:  # every repetition: the loss never left ln K, accuracy is chance
        assert min(run["train_loss"] + run["val_loss"]) >= chance_loss - CHANCE_MARGIN
        assert run["test_acc"] < 0.15 and run["stuck"]
    for run in shallow:  # same poolings, fewer convs: it learns
        assert min(run["train_loss"]) < chance_loss - 0.5
        assert min(run["val_loss"]) < chance_loss - 0.5
        assert run["test_acc"] > 0.5 and not run["stuck"]
    i, j = _cell(n, 3, 6)
    assert n["stuck"][i, j] and n["stuck_fraction"][i, j] == 1.0
    assert not n["stuck"][_cell(n, 3, 1)]
    assert grid.facts["deep_stuck_shallow_learns"]


@pytest.mark.slow
def test_grad_flow_explains_the_stuck_cell(grid):
    flow = grid.numbers["grad_flow"]
    deep, shallow = flow["deep"], flow["shallow"]
    assert len(deep["layers"]) == 18 and len(shallow["layers"]) == 3
    # the first conv of the deep net gets a gradient orders of magnitude smaller
    assert deep["grad_norm"][0] < 1e-4 * shallow["grad_norm"][0]
    # its gradient shrinks from the output back to the input
    assert deep["grad_norm"][0] < 1e-3 * deep["grad_norm"][-1]
    # and its output hardly depends on the image
    assert deep["logit_spread"] < 1e-3 * shallow["logit_spread"]


@pytest.mark.slow
def test_too_deep_config_is_a_message_in_the_sweep(grid):
    too_deep = grid.numbers["too_deep"]
    assert too_deep["blocks"] == 4 and too_deep["params"] is None
    assert "below 1x1" in too_deep["error"] and "3 blocks at most" in too_deep["error"]
    assert grid.facts["too_deep_is_a_message"]


@pytest.mark.slow
def test_grid_json_and_figures(grid):
    _check_json_and_figures(grid)
    assert set(grid.figures()) == {"grid", "losses", "grad_flow"}


def test_grid_with_a_too_deep_row_does_not_crash():
    result = experiments.run(
        "depth_grid", scale="quick", blocks=(2, 4), convs=(1,), reps=1, epochs=1
    )
    n = result.numbers
    assert [e["blocks"] for e in n["errors"]] == [4]
    assert "below 1x1" in n["errors"][0]["error"]
    assert math.isnan(n["acc_mean"][1, 0]) and math.isnan(n["params"][1, 0])
    assert math.isfinite(n["acc_mean"][0, 0])
    assert n["deep_cell"] is None and n["grad_flow"] == {}
    _check_json_and_figures(result)


def test_spatial_sizes_halve_and_too_many_blocks_is_refused(sizes):
    n = sizes.numbers
    assert n["sizes"] == [[8, 8], [4, 4], [2, 2], [1, 1]]
    assert n["max_blocks"] == 3
    assert [np.asarray(m).shape for m in n["maps"]] == [(8, 8), (4, 4), (2, 2), (1, 1)]
    assert set(n["refused"]) == {4, 5}
    for message in n["refused"].values():
        assert "below 1x1" in message and "3 blocks at most for 8x8" in message
    assert n["sweep_error"].startswith("ValueError: vgg with 4 blocks pools an 8x8 input")
    assert all(sizes.facts.values())
    _check_json_and_figures(sizes)


def test_param_growth_matches_numel(growth):
    n = growth.numbers
    model = vgg(n["max_blocks"], n["convs"], 16, in_channels=3, num_classes=10, input_size=32)
    numel = sum(p.numel() for p in model.parameters())
    assert n["layer_sum"] == n["numel"] == numel
    assert sum(row[3] for row in n["layers"]) == numel
    for w, totals in n["totals"].items():
        assert len(totals) == n["max_blocks"] == 4
        for b, total in enumerate(totals, start=1):
            built = vgg(b, n["convs"], w, in_channels=3, num_classes=10, input_size=32)
            assert total == sum(p.numel() for p in built.parameters())
        assert all(a < b for a, b in zip(totals, totals[1:]))
    # channels double at every block: each block multiplies the count by about four
    assert all(r > 3.5 for r in n["block_ratio"])
    # conv weights are (C_out, C_in, 3, 3): doubling the width about quadruples them
    assert all(3.5 < r < 4.0 for r in n["width_ratio"])
    counts = list(n["by_convs"].values())
    assert all(a < b for a, b in zip(counts, counts[1:]))
    assert all(growth.facts.values())
    _check_json_and_figures(growth)
