"""Section C experiments: overfitting (C-OVER) and random labels (C-RAND), run once each."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from small_data import digits_dataset

from vizlab import experiments
from vizlab.experiments.phenomena import EpochEval, corrupt_labels
from vizlab.models import mlp
from vizlab.train import evaluate, fit

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def over():
    return experiments.run("overfitting", scale="quick", device="cpu")


@pytest.fixture(scope="module")
def rand():
    return experiments.run("random_labels", scale="quick", device="cpu")


def _figures_ok(result):
    figs = result.figures()
    assert figs
    for name, (fig, caption) in figs.items():
        assert isinstance(fig, Figure), name
        assert fig.axes, name
        assert isinstance(caption, str) and caption


def test_corrupt_labels_fraction_and_reproducible():
    y = torch.arange(1000) % 10
    none, mask0 = corrupt_labels(y, 0.0, 10, seed=3)
    assert torch.equal(none, y) and not mask0.any()
    allr, mask1 = corrupt_labels(y, 1.0, 10, seed=3)
    assert mask1.all()
    # uniform redraws land on the true class about 1/K of the time
    assert 0.85 < (allr != y).float().mean() < 0.95
    again, _ = corrupt_labels(y, 1.0, 10, seed=3)
    assert torch.equal(allr, again)
    with pytest.raises(ValueError, match="fraction"):
        corrupt_labels(y, 1.5, 10)


def test_epoch_eval_records_one_value_per_epoch():
    data = digits_dataset(64, 32, 32)
    model = mlp([64, 32, 10])
    probe = EpochEval(("train", "val"))
    history = fit(model, data, epochs=2, batch_size=32, device="cpu", callbacks=[probe])
    assert len(probe.loss["train"]) == len(probe.acc["val"]) == 2
    # the val column is the same evaluation fit itself records
    assert probe.loss["val"] == pytest.approx(history.val_loss)
    assert probe.acc["train"][-1] == pytest.approx(evaluate(model, data.train)[1])


@pytest.mark.slow
def test_overfitting_val_rises_while_train_falls(over):
    n = over.numbers
    val, train = np.array(n["val_loss"]), np.array(n["train_loss"])
    assert len(val) == len(train) == len(n["epochs"]) == over.config["epochs"]
    best = int(val.argmin())
    assert best < len(val) - 1, "validation loss must have its minimum before the end"
    assert val[-1] > 1.1 * val[best]  # it climbs back by more than 10%
    assert train[-1] < train[best]  # while the training loss keeps falling
    assert n["best_epoch"] == best + 1
    assert n["val_rise"] == pytest.approx(val[-1] / val[best])
    # both curves are real evaluations: the last points equal a fresh evaluation
    assert n["recheck_error"] < 1e-5
    assert over.facts == {
        "val_rises_after_min": True,
        "train_keeps_falling": True,
        "curves_are_evaluations": True,
    }


def test_overfitting_json_and_figures(over):
    json.dumps(over.to_json())
    assert over.rows == ("C-OVER",)
    _figures_ok(over)


@pytest.mark.slow
def test_random_labels_memorized_but_test_at_chance(rand):
    runs, chance = rand.numbers["runs"], rand.numbers["chance"]
    assert set(runs) == {"0", "0.5", "1"}
    r = runs["1"]
    assert r["wrong_labels"] > 0.8 * rand.config["train_size"]
    assert r["final_train_acc"] > 0.9  # far above chance (0.1): memorized
    assert abs(r["final_test_acc"] - chance) < 0.06  # nothing to generalize
    assert max(r["test_acc"]) < 0.2
    clean = runs["0"]
    assert clean["final_test_acc"] > 0.85
    # fitting takes longer the more labels are random
    fit_epochs = [runs[k]["epochs_to_fit"] for k in ("0", "0.5", "1")]
    assert None not in fit_epochs
    assert fit_epochs[0] < fit_epochs[1] <= fit_epochs[2]
    assert rand.facts["random_labels_memorized"] and rand.facts["random_test_at_chance"]


def test_random_labels_json_and_figures(rand):
    json.dumps(rand.to_json())
    assert rand.rows == ("C-RAND",)
    _figures_ok(rand)


def test_stop_before_start_returns_partial_result():
    import threading

    stop = threading.Event()
    stop.set()
    result = experiments.run("random_labels", device="cpu", stop=stop)
    assert result.numbers["runs"] == {}
    json.dumps(result.to_json())


@pytest.fixture(scope="module")
def dd():
    return experiments.run("double_descent", scale="quick", device="cpu")


@pytest.mark.slow
def test_double_descent_curve_from_real_runs(dd):
    n = dd.numbers
    assert n["widths"] == [4, 8, 16, 32, 64, 128, 512]
    assert len(n["test_error"]) == len(n["train_acc"]) == len(n["widths"])
    # a 64-w-10 MLP has 64w + w + 10w + 10 parameters
    assert n["params"] == [75 * w + 10 for w in n["widths"]]
    assert n["recheck_error"] < 1e-6  # the last point is a fresh evaluation of that model
    assert n["train_acc"][-1] == 1.0  # wide nets fit every noisy label
    assert n["interpolation_width"] in n["widths"]
    assert n["test_error"][0] > n["test_error"][-1]  # the smallest net underfits
    assert dd.facts == {"curve_from_runs": True, "wide_nets_interpolate": True}
    json.dumps(dd.to_json())
    _figures_ok(dd)
