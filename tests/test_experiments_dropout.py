"""Section F (dropout) experiments: each topic runs once; the curriculum facts are checked on
the measured numbers."""

from __future__ import annotations

import json
import math
import threading

import pytest
import torch
from matplotlib.figure import Figure

from vizlab import experiments
from vizlab.experiments import dropout as section

pytestmark = pytest.mark.usefixtures("one_thread")


def _run(topic: str):
    return experiments.run(topic, scale="quick", device="cpu")


@pytest.fixture(scope="module")
def masks():
    return _run("dropout_masks")


@pytest.fixture(scope="module")
def inverted():
    return _run("inverted_dropout")


@pytest.fixture(scope="module")
def mc():
    return _run("mc_dropout")


@pytest.fixture(scope="module")
def schedule():
    return _run("dropout_schedule")


def _check_common(result, topic: str, rows: tuple[str, ...]) -> None:
    assert result.topic == topic and result.rows == rows and result.scale == "quick"
    json.dumps(result.to_json())
    assert all(result.facts.values()), result.facts
    figures = result.figures()
    assert figures
    for name, (fig, caption) in figures.items():
        assert isinstance(fig, Figure) and fig.axes, name
        assert isinstance(caption, str) and caption


def test_topics_registered() -> None:
    for name in ("dropout_masks", "inverted_dropout", "mc_dropout", "dropout_schedule"):
        assert name in experiments.TOPICS
        assert getattr(experiments, name) is experiments.TOPICS[name].run


@pytest.mark.slow
def test_recorded_masks_are_the_output_zeros(masks) -> None:
    _check_common(masks, "dropout_masks", ("F-MASK", "F-VAR"))
    layers = masks.numbers["layers"]
    for name in section.MASK_LAYERS:
        d = layers[name]
        assert d["checked_steps"] == len(d["steps"]) >= 3, name  # every record checked
        assert d["recorded_ok"], name
    for name in ("channel", "cutout", "element"):
        assert layers[name]["input_zeros"] == 0  # so every zero of the output is the mask's
        assert layers[name]["mask_is_zeros"], name


@pytest.mark.slow
def test_kept_fraction_is_one_minus_p(masks) -> None:
    p = masks.numbers["p"]
    for name in ("channel", "dropconnect", "element"):
        d = masks.numbers["layers"][name]
        assert d["kept_expected"] == pytest.approx(1 - p)
        assert abs(d["kept_mean"] - (1 - p)) <= 4 * d["kept_se"], name
    cutout = masks.numbers["layers"]["cutout"]
    side = cutout["patch_side"]
    assert cutout["kept"] == [pytest.approx(1 - side * side / 64)] * len(cutout["kept"])


@pytest.mark.slow
def test_variant_masks_have_their_shapes(masks) -> None:
    layers = masks.numbers["layers"]
    assert layers["channel"]["constant_hw"]
    cutout = layers["cutout"]
    assert cutout["square_patch"] and cutout["same_channels"]
    assert cutout["patch_area"] == [cutout["patch_side"] ** 2]
    dc = layers["dropconnect"]
    assert dc["shape_ok"] and dc["mask_shape"] == dc["weight_shape"] == [64, 512]
    assert dc["oracle_err"] < 1e-4


def test_inverted_dropout_keeps_the_mean(inverted) -> None:
    _check_common(inverted, "inverted_dropout", ("F-INV",))
    n = inverted.numbers
    tol = n["tolerance_se"]
    assert tol == 6.0 and n["samples"] >= 1000
    for name, case in n["cases"].items():
        assert case["max_abs_z"] < tol, name
        if case["kind"] == "element":
            assert abs(case["z_std"] - 1) < 0.1, name  # the standard error is the right one
        if "plain_dropout_z" in case:
            assert case["plain_dropout_z"] > tol  # no rescaling would fail the same check
    assert n["eval_exact"] == dict.fromkeys(("element", "channel", "cutout", "dropconnect"), True)


@pytest.mark.slow
def test_mc_dropout_uncertainty(mc) -> None:
    _check_common(mc, "mc_dropout", ("F-MC",))
    n = mc.numbers
    assert n["n_wrong"] >= 3
    assert n["entropy_wrong"] > n["entropy_right"]
    assert n["entropy_auroc"] > 0.5
    assert n["mean_spread"] > 0.0  # dropout on: the passes differ
    assert n["spread_off"] == 0.0 and n["identical_off"]  # rate 0: they do not
    assert n["mc_acc"] > 0.8
    for img in n["images"].values():
        assert len(img["probs"]) == n["passes"]
        assert len(img["probs"][0]) == len(n["classes"])
        assert math.isclose(sum(img["mean"]), 1.0, abs_tol=1e-4)


@pytest.mark.slow
def test_rate_follows_schedule(schedule) -> None:
    _check_common(schedule, "dropout_schedule", ("F-SCHED",))
    p, switch = schedule.numbers["p"], schedule.numbers["switch"]
    runs = schedule.numbers["runs"]
    assert list(runs) == ["none", "standard", "early", "late"]
    for kind, run in runs.items():
        assert len(run["steps"]) == run["steps"][-1] > 10
        for g, rate, dropped in zip(run["progress"], run["rate"], run["dropped"]):
            on = {"none": False, "standard": True, "early": g < switch, "late": g >= switch}[kind]
            assert rate == (p if on else 0.0), (kind, g)
            if not on:
                assert dropped == 0.0, (kind, g)
        assert run["on_max_z"] < 5
    early, late = runs["early"]["dropped"], runs["late"]["dropped"]
    assert early[0] > 0 and early[-1] == 0.0 and late[0] == 0.0 and late[-1] > 0


def test_stop_returns_early() -> None:
    stop = threading.Event()
    stop.set()
    result = experiments.run("dropout_schedule", scale="quick", device="cpu", stop=stop)
    assert result.numbers["stopped"] is True
    json.dumps(result.to_json())


def test_mc_passes_restore_modes_and_set_rate() -> None:
    model = section.mask_net((1, 8, 8), 10, p=0.5).eval()
    x = torch.rand(4, 1, 8, 8)
    probs = section.mc_passes(model, x, 3)
    assert probs.shape == (3, 4, 10)
    assert not any(m.training for m in model.modules())
    assert section.set_rate(model, 0.0) == 4
    same = section.mc_passes(model, x, 2)
    assert torch.equal(same[0], same[1])
    assert section.predictive_entropy(same).shape == (4,)
