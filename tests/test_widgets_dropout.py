"""DropoutPanel, headless: masks recorded live, schedules, MC dropout, restarts, errors."""

from __future__ import annotations

import numpy as np
import pytest
from panel_checks import PNG, runs_alive

pytest.importorskip("ipywidgets")

from vizlab.nn import DropConnectLinear, Dropout  # noqa: E402
from widgets.dropout import DropoutPanel  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def panel():
    p = DropoutPanel(epochs=2, passes=10, device="cpu", refresh=0.05)
    yield p
    p.close()


@pytest.mark.slow
def test_trains_records_masks_and_draws(panel):
    panel.controls["p"].value = 0.3
    assert panel.train() is panel.run
    assert panel.wait(60)
    assert panel.run.status == "done" and panel.error_text == ""
    assert panel.run.history.epochs == [1, 2]
    for name in ("mask", "rate", "curves", "mc"):
        assert panel.figures[name].startswith(PNG), name
        assert panel.images[name].value == panel.figures[name]
    steps, masks = panel.watch.series(panel.layer, "mask")
    assert len(steps) >= 5 and masks[0].shape == (32, 128)
    _, kept = panel.watch.series(panel.layer, "kept")
    assert abs(float(np.mean(kept)) - 0.7) < 0.03  # kept fraction ~ 1 - p
    assert set(panel.rate_log.rate) == {0.3}


def test_mc_section_spread_and_controls(panel):
    panel.train()
    assert panel.wait(60)
    probs = panel.mc_probs
    assert probs.shape == (10, 10)
    assert probs.std(axis=0).max() > 0  # dropout on: the passes differ
    before = panel.figures["mc"]
    runs = panel.runs_started
    panel.controls["passes"].value = 40  # MC knobs re-run the passes, never the training
    panel.controls["image"].value = 5
    assert panel.runs_started == runs
    assert panel.mc_probs.shape == (40, 10)
    assert panel.figures["mc"] != before


def test_mc_spread_is_zero_without_dropout(panel):
    panel.controls["p"].value = 0.0
    panel.train()
    assert panel.wait(60)
    probs = panel.mc_probs
    assert (probs == probs[0]).all()  # every pass the same: no spread at all
    assert np.ptp(probs, axis=0).max() == 0.0


@pytest.mark.parametrize("variant", ["channel", "cutout", "dropconnect"])
def test_variants_record_their_masks(panel, variant):
    panel.controls["epochs"].value = 1
    panel.controls["variant"].value = variant
    panel.train()
    assert panel.wait(60)
    assert panel.run.status == "done"
    module = panel.model.get_submodule(panel.layer)
    _, masks = panel.watch.series(panel.layer, "mask")
    if variant == "dropconnect":
        assert isinstance(module, DropConnectLinear)
        assert masks[0].shape == (32, 64)  # rows of the (128, 64) weight mask
    else:
        assert isinstance(module, Dropout) and module.kind == variant
        width = 16 if variant == "channel" else 64  # (B, C) maps or (B, H*W) pixels
        assert masks[0].shape == (32, width)
    assert panel.figures["mask"].startswith(PNG)


def test_late_schedule_rate_follows_progress(panel):
    panel.controls["schedule"].value = "late"
    panel.controls["switch"].value = 0.5
    panel.train()
    assert panel.wait(60)
    log = panel.rate_log
    for g, rate, dropped in zip(log.progress, log.rate, log.dropped):
        assert rate == (0.5 if g >= 0.5 else 0.0)
        if rate == 0.0:
            assert dropped == 0.0
    assert log.dropped[-1] > 0.3


@pytest.mark.slow
def test_changing_a_control_restarts_once(panel):
    panel.controls["epochs"].value = 30
    first = panel.train()
    panel.controls["variant"].value = "channel"
    panel.controls["epochs"].value = 1
    assert first.finished.is_set() and first.status == "stopped"
    assert panel.runs_started == 3
    assert runs_alive() <= 1
    assert panel.wait(60)
    assert panel.run.status == "done" and panel.run.history.epochs == [1]
    assert runs_alive() == 0


def test_bad_setting_is_shown_and_panel_recovers(panel):
    panel.controls["p"].value = 0.0
    panel.controls["schedule"].value = "early"
    assert panel.train() is None
    assert "p = 0" in panel.error_text and "early" in panel.error_text
    panel.controls["p"].value = 0.4
    panel.controls["epochs"].value = 1
    assert panel.train() is not None
    assert panel.wait(60)
    assert panel.run.status == "done" and panel.error_text == ""
