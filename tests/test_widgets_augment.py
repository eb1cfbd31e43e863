"""AugmentPanel, headless: gallery and labels redrawn on controls, train vs eval, live gap."""

from __future__ import annotations

import pytest
import torch
from panel_checks import PNG, runs_alive

pytest.importorskip("ipywidgets")

from vizlab.augment import CutMix, MixUp, RandAugment  # noqa: E402
from widgets.augment import OP_NAMES, AugmentPanel, make_op  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def panel():
    p = AugmentPanel(train_size=100, epochs=2, count=4, device="cpu", refresh=0.05)
    yield p
    p.close()


def test_every_op_builds_and_rejects_bad_magnitude():
    for name in OP_NAMES:
        assert isinstance(make_op(name, 0.5), torch.nn.Module)
    with pytest.raises(ValueError, match="magnitude"):
        make_op("crop", 1.5)
    with pytest.raises(ValueError, match="unknown augmentation"):
        make_op("warp", 0.5)


def test_static_pictures_follow_the_controls(panel):
    assert panel.figures["gallery"].startswith(PNG)
    assert panel.figures["labels"].startswith(PNG)
    first = panel.figures["gallery"]
    panel.resample()  # a new draw: new offsets, a new picture
    assert panel.controls["sample"].value == 1
    assert panel.figures["gallery"] != first
    assert panel.runs_started == 0  # pictures only, no training


def test_randaugment_n_and_m(panel):
    panel.controls["op"].value = "randaugment"
    panel.controls["n"].value = 3
    panel.controls["m"].value = 20
    assert isinstance(panel.op, RandAugment) and panel.op.n == 3 and panel.op.m == 20
    assert panel.params.ops.shape == (4, 3)  # exactly N ops per image


def test_mix_labels_sum_to_one(panel):
    for name, cls in (("mixup", MixUp), ("cutmix", CutMix)):
        panel.controls["op"].value = name
        assert isinstance(panel.op, cls)
        assert panel.params.lam.shape == (4,)
        assert panel.figures["labels"].startswith(PNG)


def test_eval_mode_shows_the_input(panel):
    panel.controls["op"].value = "rotate"
    assert panel.op.training and panel.params is not None
    panel.controls["mode"].value = "eval"
    assert not panel.op.training
    assert panel.params is None  # nothing drawn: eval returns the input itself


@pytest.mark.slow
def test_trains_with_and_without_and_draws_the_gap(panel):
    assert panel.train() is panel.run
    assert panel.wait(120)
    assert panel.run.status == "done" and panel.error_text == ""
    for name in ("none", "augmented"):
        assert len(panel.probes[name].acc["train"]) == 2
        assert len(panel.probes[name].acc["val"]) == 2
    assert panel.run.history.epochs == [1, 2]
    for name in ("gallery", "labels", "curves", "gap"):
        assert panel.figures[name].startswith(PNG), name
        assert panel.images[name].value == panel.figures[name]


@pytest.mark.slow
def test_changing_a_training_control_restarts_once(panel):
    panel.controls["epochs"].value = 60
    first = panel.train()
    panel.controls["train_aug"].value = "op"
    panel.controls["epochs"].value = 1
    assert first.finished.is_set() and first.status == "stopped"
    assert panel.runs_started == 3
    assert runs_alive() <= 1
    runs = panel.runs_started
    panel.controls["magnitude"].value = 0.3  # a gallery control does not restart training
    assert panel.runs_started == runs
    assert panel.wait(120)
    assert panel.run.status == "done" and panel.run.history.epochs == [1]
    assert runs_alive() == 0


def test_bad_setting_is_shown_and_panel_recovers(panel):
    panel.controls["train_aug"].value = "op"
    panel.controls["op"].value = "randaugment"
    panel.controls["n"].value = 0
    assert panel.train() is None
    assert "RandAugment N = 0" in panel.error_text
    panel.controls["n"].value = 1
    panel.controls["epochs"].value = 1
    panel.controls["train_size"].value = 50
    assert panel.train() is not None
    assert panel.wait(120)
    assert panel.run.status == "done" and panel.error_text == ""
