"""ResidualPanel, headless: twin training, gradient split, block diagram, lesions, errors."""

from __future__ import annotations

import pytest
from panel_checks import PNG, runs_alive

pytest.importorskip("ipywidgets")

from vizlab.experiments.residual import blocks_of  # noqa: E402
from widgets.residual import ResidualPanel  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def panel():
    p = ResidualPanel(depth=8, epochs=2, device="cpu", refresh=0.05)
    yield p
    p.close()


def test_block_diagram_without_training(panel):
    assert panel.run is None
    assert panel.figures["blocks"].startswith(PNG)
    before = panel.figures["blocks"]
    panel.controls["depth"].value = 20
    assert panel.run is None and panel.runs_started == 0
    assert panel.figures["blocks"] != before


@pytest.mark.slow
def test_trains_both_nets_in_lockstep_and_draws(panel):
    assert panel.train() is panel.run
    assert panel.wait(90)
    assert panel.run.status == "done" and panel.error_text == ""
    residual, plain = panel.run.history, panel.twin.history
    assert residual.epochs == plain.epochs == [1, 2]
    assert residual.steps == plain.steps  # one twin step per fit step: equal budget
    assert all(0.0 <= a <= 1.0 for a in plain.val_acc + residual.val_acc)
    rows = [r for r in panel.watch.records() if r[2] == "residual"]
    assert {r[1] for r in rows} == {
        "stages.stage1.block1", "stages.stage2.block1", "stages.stage3.block1"
    }  # fmt: skip
    assert {"grad_skip", "grad_branch"} <= {r[3] for r in rows}
    for name in ("loss", "split", "blocks"):
        assert panel.figures[name].startswith(PNG), name
        assert panel.images[name].value == panel.figures[name]


@pytest.mark.slow
def test_lesion_button_evaluates_each_block(panel):
    assert panel.lesion() is None
    assert "Train first" in panel.error_text
    panel.controls["depth"].value = 14
    panel.train()
    assert panel.wait(90)
    result = panel.lesion()
    assert panel.error_text == ""
    assert result["blocks"] == [n for n, _ in blocks_of(panel.model)]
    assert len(result["lesion"]["residual"]) == len(result["blocks"]) == 6
    assert result["lesion"]["plain"].count(None) == 2  # downsampling plain blocks
    assert all(a is None or 0.0 <= a <= 1.0 for accs in result["lesion"].values() for a in accs)
    assert panel.figures["lesion"].startswith(PNG)
    # the nets are intact afterwards: a second lesion study gives the same numbers
    assert panel.lesion() == result


@pytest.mark.slow
def test_changing_a_control_restarts_once(panel):
    panel.controls["epochs"].value = 30
    first = panel.train()
    panel.controls["depth"].value = 14
    panel.controls["epochs"].value = 1
    assert first.finished.is_set() and first.status == "stopped"
    assert panel.runs_started == 3
    assert runs_alive() <= 1
    assert panel.wait(90)
    assert panel.run.status == "done" and panel.run.history.epochs == [1]
    assert panel.twin.history.epochs == [1]
    assert runs_alive() == 0


def test_stop_is_prompt(panel):
    panel.controls["epochs"].value = 30
    run = panel.train()
    panel.stop()
    assert run.join(10)
    assert run.status == "stopped"


def test_bad_setting_is_shown_and_panel_recovers(panel):
    panel.controls["norm"].value = "none"
    panel.controls["zero_init"].value = True
    assert panel.train() is None
    assert "zero-init gamma" in panel.error_text and "norm" in panel.error_text
    panel.controls["norm"].value = "batch"
    panel.controls["epochs"].value = 1
    assert panel.train() is not None
    assert panel.wait(90)
    assert panel.run.status == "done" and panel.error_text == ""
