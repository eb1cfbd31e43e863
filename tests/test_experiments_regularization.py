"""Section E experiments: each topic runs once (quick scale) and its curriculum fact is checked
on the numbers it measured."""

from __future__ import annotations

import json
import math

import pytest
import torch
from matplotlib.figure import Figure
from small_data import digits_dataset
from torch import nn

from vizlab import experiments
from vizlab.experiments.regularization import (
    EXACT_ZERO,
    ReparamLinear,
    WeightRecorder,
    layer_weights,
    reparameterize,
)
from vizlab.plots import LiveWeightNorms, weight_hist
from vizlab.train import decay_parameters, fit

pytestmark = pytest.mark.usefixtures("one_thread")

TOPICS = ("early_stopping", "l2_sweep", "weight_decay", "sparsity")


@pytest.fixture(scope="module")
def results():
    """Every topic of the section, run once on the CPU."""
    return {name: experiments.run(name, scale="quick", device="cpu") for name in TOPICS}


def _check_result(result, topic: str) -> None:
    assert result.topic == topic
    json.dumps(result.to_json())
    figures = result.figures()
    assert figures
    for figure, caption in figures.values():
        assert isinstance(figure, Figure) and figure.axes
        assert isinstance(caption, str) and caption


@pytest.mark.slow
def test_early_stopping_stops_patience_after_best_and_restores(results):
    result = results["early_stopping"]
    n = result.numbers
    assert n["stopped_early"]
    assert n["stop_epoch"] - n["best_epoch"] == n["patience"]
    assert n["restored_epoch"] == n["best_epoch"]
    # the model fit returned, evaluated again on the validation split, is the best epoch's
    assert n["restored_val_loss"] == pytest.approx(n["best_val_loss"], abs=1e-5)
    assert n["restored_val_acc"] == n["best_val_acc"]
    assert n["last_val_loss"] > n["best_val_loss"]  # restoring mattered: the last was worse
    assert n["best_val_loss"] == min(n["history"]["val_loss"])
    assert all(result.facts.values())
    _check_result(result, "early_stopping")


@pytest.mark.slow
def test_l2_weight_norm_shrinks_with_lambda(results):
    result = results["l2_sweep"]
    n = result.numbers
    assert n["lambdas"] == sorted(n["lambdas"]) and n["lambdas"][0] == 0
    norms = n["final_norm"]
    assert len(norms) == len(n["lambdas"])
    assert all(a > b for a, b in zip(norms, norms[1:])), norms
    assert n["test_acc"][-1] < max(n["test_acc"]) - 0.05  # lambda too large hurts
    for rows in n["norms"]:
        assert rows[0]["epoch"] == 0 and {"total", "head"} <= set(rows[0])
    assert all(result.facts.values())
    _check_result(result, "l2_sweep")


@pytest.mark.slow
def test_weight_decay_differs_in_adam_coincides_in_sgd(results):
    result = results["weight_decay"]
    n = result.numbers
    assert n["runs"] == ["adam + L2", "adamw", "sgd + L2", "sgd + decay"]
    assert n["adam_rel_diff"] > 0.05  # Adam + L2 and AdamW end somewhere else
    assert n["sgd_diff"] < 1e-4  # plain SGD: the same update up to float rounding
    norms = n["layer_norms"]
    assert norms[2]["total"] == pytest.approx(norms[3]["total"], rel=1e-5)
    assert abs(norms[0]["total"] - norms[1]["total"]) > 0.1
    assert all(result.facts.values())
    _check_result(result, "weight_decay")


@pytest.mark.slow
def test_sparsity_l1_and_reparameterization(results):
    result = results["sparsity"]
    n = result.numbers
    assert n["runs"] == ["L2", "L1", "a*b + L2"]
    acc, near, exact = n["test_acc"], n["near_zero"], n["exact_zero"]
    assert abs(acc[1] - acc[0]) <= 0.02  # matched accuracy
    assert near[1] > near[0] + 0.2  # E-L1: many more near-zero weights with L1
    assert exact[2] > exact[1] and exact[2] >= 0.01  # E-REPARAM: exact zeros
    assert (
        min(r["test_acc"] for r in n["l2_runs"])
        <= acc[0]
        <= max(r["test_acc"] for r in n["l2_runs"])
    )
    lasso = n["lasso_ridge"]
    assert min(abs(v) for v in lasso["l1_optimum"]) == 0.0  # a corner of the diamond
    assert min(abs(v) for v in lasso["l2_optimum"]) > 1e-3  # the disc has none
    assert all(result.facts.values())
    figures = result.figures()
    assert set(figures) == {"sparsity", "lasso_ridge"}
    _check_result(result, "sparsity")


def test_reparam_linear_is_the_same_function_with_an_l1_penalty():
    torch.manual_seed(0)
    linear = nn.Linear(6, 4)
    layer = ReparamLinear.from_linear(linear)
    x = torch.randn(5, 6)
    torch.testing.assert_close(layer(x), linear(x))
    torch.testing.assert_close(layer.weight, linear.weight)
    # at the balanced split, c (a^2 + b^2) is exactly L1 with 2c on w
    c = 0.3
    l2_ab = c * (layer.a.pow(2).sum() + layer.b.pow(2).sum())
    torch.testing.assert_close(l2_ab, 2 * c * linear.weight.abs().sum())
    # a and b are what fit's penalties act on; the bias is not
    decayed, others = decay_parameters(layer)
    assert {id(p) for p in decayed} == {id(layer.a), id(layer.b)}
    assert [id(p) for p in others] == [id(layer.bias)]


def test_reparameterize_replaces_every_linear():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.Tanh(), nn.Linear(8, 10))
    x = torch.rand(3, 1, 8, 8)
    before = model(x)
    reparameterize(model)
    assert [type(m) for m in model if isinstance(m, (nn.Linear, ReparamLinear))] == [
        ReparamLinear,
        ReparamLinear,
    ]
    torch.testing.assert_close(model(x), before)
    assert set(layer_weights(model)) == {"1", "3"}


def test_weight_recorder_feeds_weight_plots():
    torch.manual_seed(0)
    model = reparameterize(nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.Linear(8, 10)))
    recorder = WeightRecorder(every=2, bins=10)
    fit(model, digits_dataset(), epochs=1, batch_size=32, optimizer="sgd", lr=0.1,
        device="cpu", callbacks=[recorder])  # fmt: skip
    records = recorder.records()
    steps = sorted({r[0] for r in records})
    assert steps == [0, 2, 4]
    stats = {(r[1], r[3]) for r in records}
    assert ("1", "weight_norm") in stats and ("2", "exact_zero") in stats
    norm = [r[4] for r in records if r[0] == 4 and r[1] == "1" and r[3] == "weight_norm"][0]
    assert norm == pytest.approx(float(layer_weights(model)["1"].norm()), rel=1e-6)
    hist = [r[4] for r in records if r[0] == 0 and r[1] == "1" and r[3] == "weight_hist"][0]
    assert hist.sum() == 64 * 8
    fig = weight_hist(records)
    assert fig.axes
    view = LiveWeightNorms()
    view.update(records)
    assert view.png().startswith(b"\x89PNG")
    assert EXACT_ZERO < 1e-3 and not math.isnan(norm)


def test_bad_lambdas_are_refused():
    with pytest.raises(ValueError, match="increasing"):
        experiments.run("l2_sweep", lambdas=(0.1, 0.0), device="cpu")
