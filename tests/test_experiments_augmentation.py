"""Section D experiments: the augmentation gallery (D-AUG..D-LAYER) and its effect (D-EFFECT)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.figure import Figure

from vizlab import experiments

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def gallery():
    return experiments.run("augmentation_gallery", scale="quick", n=3, m=12)


@pytest.fixture(scope="module")
def effect():
    return experiments.run("augmentation_effect", scale="quick", device="cpu")


def _figures_ok(result):
    figs = result.figures()
    assert figs
    for name, (fig, caption) in figs.items():
        assert isinstance(fig, Figure), name
        assert fig.axes, name
        assert isinstance(caption, str) and caption
    return figs


def test_image_ops_match_their_definitions(gallery):
    errors = gallery.numbers["errors"]
    for batch in ("shapes", "photos"):
        assert errors[f"flip/{batch}"] == 0.0  # exact mirror
        assert errors[f"crop/{batch}"] == 0.0  # slice of the padded image at the offsets
        assert errors[f"cutout/{batch}"] == 0.0
        assert errors[f"brightness/{batch}"] < 1e-6
        assert errors[f"contrast/{batch}"] < 1e-6
        assert errors[f"translate/{batch}"] < 1e-4  # bilinear warp of whole-pixel shifts
    counts = gallery.numbers["counts"]
    count = gallery.numbers["params"]["count"]
    # parameters are drawn per example: flips are mixed, crop offsets differ in the batch
    assert 0 < counts["flipped/shapes"] < count
    assert counts["distinct_crop_offsets/shapes"] > 1


def test_mixup_label_is_the_formula_and_sums_to_one(gallery):
    mix = gallery.numbers["mixup"]
    assert mix["image_error"] < 1e-6
    assert mix["label_error"] < 1e-6
    assert mix["label_sum_error"] < 1e-6
    assert all(0 <= lam <= 1 for lam in mix["lam"])


def test_cutmix_weight_equals_pasted_fraction(gallery):
    cut = gallery.numbers["cutmix"]
    assert cut["image_error"] == 0.0  # inside the box the partner, outside the original
    assert cut["label_error"] < 1e-6
    assert cut["lam_error"] < 1e-6
    assert cut["label_sum_error"] < 1e-6
    pasted = np.array(cut["pasted_fraction"])
    assert np.allclose(1 - pasted, cut["lam"], atol=1e-6)
    assert (pasted > 0).any()


def test_randaugment_applies_exactly_n_ops_at_magnitude_m(gallery):
    ra = gallery.numbers["randaugment"]
    assert ra["ops_per_image"] == [3] * gallery.numbers["params"]["count"]
    assert all(len(names) == 3 for names in ra["op_names"])
    assert ra["replay_error"] < 1e-6  # output = the listed ops applied in order
    assert ra["magnitude_error"] < 1e-5


def test_eval_mode_returns_the_input(gallery):
    layer = gallery.numbers["layer"]
    assert all(layer["identical_in_eval"].values())
    assert all(layer["changed_in_train"].values())
    assert {"flip", "crop", "randaugment", "mixup", "cutmix"} <= set(layer["identical_in_eval"])
    assert all(gallery.facts.values()), gallery.facts


def test_gallery_json_and_figures(gallery):
    json.dumps(gallery.to_json())
    assert gallery.rows == ("D-AUG", "D-MIX", "D-CUT", "D-RA", "D-LAYER")
    figs = _figures_ok(gallery)
    assert {"augment_ops", "randaugment", "mixup", "cutmix", "augment_layer"} <= set(figs)


def test_gallery_is_reproducible(gallery):
    again = experiments.run("augmentation_gallery", n=3, m=12)
    assert again.numbers["randaugment"]["op_names"] == gallery.numbers["randaugment"]["op_names"]
    assert again.numbers["cutmix"]["box"] == gallery.numbers["cutmix"]["box"]


@pytest.mark.slow
def test_augmentation_reduces_train_val_gap(effect):
    runs = effect.numbers["runs"]
    plain, aug = runs["none"], runs["flip+crop"]
    epochs = effect.config["epochs"]
    for run in (plain, aug):
        assert len(run["gap"]) == len(run["train_acc"]) == len(run["val_acc"]) == epochs
        expected = [a - b for a, b in zip(run["train_acc"], run["val_acc"])]
        assert run["gap"] == pytest.approx(expected)
        assert run["gap_last"] == pytest.approx(np.mean(run["gap"][-5:]))
    assert plain["gap_last"] > 0.2  # without augmentation the small set is memorized
    assert aug["gap_last"] < plain["gap_last"] - 0.1
    assert effect.facts["augmentation_reduces_gap"]


def test_effect_json_and_figures(effect):
    json.dumps(effect.to_json())
    assert effect.rows == ("D-EFFECT",)
    _figures_ok(effect)
