"""Section A experiments: each topic runs once (quick scale) and its curriculum fact is
asserted on the numbers it measured."""

from __future__ import annotations

import json

import pytest
import torch
from matplotlib.figure import Figure

from vizlab import experiments
from vizlab.experiments.conv import computed_field, rf_geometry, xcorr2d

pytestmark = pytest.mark.usefixtures("one_thread")


def _run(topic: str):
    return experiments.run(topic, scale="quick", device="cpu", seed=0)


@pytest.fixture(scope="module")
def arithmetic():
    return _run("conv_arithmetic")


@pytest.fixture(scope="module")
def fields():
    return _run("receptive_field")


@pytest.fixture(scope="module")
def act_grads():
    return _run("activation_gradients")


@pytest.fixture(scope="module")
def zoo():
    return _run("zoo")


@pytest.fixture(scope="module")
def first_filters():
    return _run("first_filters")


def _common(result, topic: str) -> None:
    assert result.topic == topic
    json.dumps(result.to_json())
    figures = result.figures()
    assert figures
    for name, (fig, caption) in figures.items():
        assert isinstance(fig, Figure), name
        assert fig.axes, name
        assert isinstance(caption, str) and caption


def test_topics_registered():
    for name in ("conv_arithmetic", "receptive_field", "activation_gradients", "zoo"):
        assert name in experiments.TOPICS
    assert experiments.TOPICS["first_filters"].rows == ("A-FILT",)


def test_xcorr2d_matches_conv2d():
    x, k = torch.randn(7, 6, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    want = torch.nn.functional.conv2d(x[None, None], k[None, None], stride=2)[0, 0]
    assert torch.allclose(xcorr2d(x, k, stride=2), want, atol=1e-12)


def test_computed_field_recurrence():
    # two 3x3 convs then a 2x2 pool: 5 then 6 pixels, jump 2
    assert computed_field([(3, 1, 1), (3, 1, 1), (2, 2, 0)], 64)[:2] == (6, 2)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 5), torch.nn.MaxPool2d(3, 2))
    assert rf_geometry(model, "1") == [(5, 1, 0), (3, 2, 0)]
    with pytest.raises(ValueError, match="no layer 'nope'"):
        rf_geometry(model, "nope")


def test_conv_arithmetic(arithmetic):
    n = arithmetic.numbers
    tol = n["tol"]
    for c in n["channels"]:  # A-CH
        assert c["max_abs_diff"] < tol
        assert c["weight_shape"] == [c["c_out"], c["c_in"], c["kernel"], c["kernel"]]
        assert c["params"] == c["c_out"] * c["c_in"] * c["kernel"] ** 2 + c["c_out"]
    for o in n["one_by_one"]:  # A-1x1
        assert o["max_abs_diff"] < tol and o["per_pixel_max_abs_diff"] < tol
        assert o["shares_weights"] and o["params_conv"] == o["params_linear"]
    assert len(n["pooling"]) >= 20  # A-POOL
    for p in n["pooling"]:
        h, w = p["in_shape"][2:]
        k, s, pad = p["window"], p["stride"], p["padding"]
        assert p["out_shape"][2:] == [(h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1]
        assert p["out_shape"][:2] == p["in_shape"][:2]
        assert p["channel_alone_diff"] == 0.0 and p["max_abs_diff"] < tol
    assert all(arithmetic.facts.values())
    _common(arithmetic, "conv_arithmetic")


def test_receptive_field(fields):
    rows = [row for net in fields.numbers["nets"].values() for row in net["layers"]]
    assert len(rows) >= 20
    for row in rows:
        assert row["gradient_rows"] == row["computed_box"] == row["gradient_cols"]
        assert row["gradient_fills_box"]
    for net in fields.numbers["nets"].values():
        rf = [row["rf"] for row in net["layers"]]
        assert rf == sorted(rf) and rf[-1] > rf[0]
    for row in fields.numbers["vgg_maxpool"]:
        lo, hi = row["computed_box"]
        assert lo <= row["gradient_rows"][0] <= row["gradient_rows"][1] <= hi
    assert all(fields.facts.values())
    _common(fields, "receptive_field")


@pytest.mark.slow
def test_activation_gradients(act_grads):
    n = act_grads.numbers
    assert n["same_weights"]
    g = n["grad_norm"]
    first, last = n["layers"][0], n["layers"][-1]
    assert g["sigmoid"][first] / g["relu"][first] < 1e-2  # orders of magnitude at layer 1
    assert g["sigmoid"][first] / g["relu"][first] < g["sigmoid"][last] / g["relu"][last]
    assert set(n["runs"]) == {"relu", "sigmoid"}
    assert all(act_grads.facts.values())
    _common(act_grads, "activation_gradients")


@pytest.mark.slow
def test_zoo(zoo):
    fams = zoo.numbers["families"]
    assert set(fams) >= {"lenet", "alexnet", "vgg", "nin", "googlenet", "resnet"}
    for name, f in fams.items():
        assert f["shapes_match"] and f["rows_checked"] > 3, name
        assert f["table_params"] == f["params"] and f["conv_params_ok"], name
        assert f["output_shape"] == [10], name
        assert f["test_acc"] > 2 * zoo.numbers["chance"], (name, f["test_acc"])
    assert all(zoo.facts.values())
    _common(zoo, "zoo")


@pytest.mark.slow
def test_first_filters(first_filters):
    n = first_filters.numbers
    assert n["filters_equal_weights"] and n["filters_layer"] == "conv1.conv"
    assert tuple(n["filters"].shape) == (16, 3, 5, 5)
    assert n["maps_max_abs_diff"] == 0.0
    assert list(n["maps"]) == ["conv1", "pool1", "conv2", "pool2", "conv5"]
    assert n["filter_change"] > 0.05
    assert n["final"]["test_acc"] > 2 * n["chance"]
    assert all(first_filters.facts.values())
    _common(first_filters, "first_filters")
