"""PhenomenaPanel, headless: live curves from evaluation, runs kept by fraction, errors."""

from __future__ import annotations

import pytest
from panel_checks import PNG, runs_alive

pytest.importorskip("ipywidgets")

from widgets.phenomena import PhenomenaPanel  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def panel():
    p = PhenomenaPanel(train_size=100, width=64, epochs=3, device="cpu", refresh=0.05)
    yield p
    p.close()


def test_trains_and_draws_evaluated_curves(panel):
    panel.controls["fraction"].value = 0.5
    assert panel.train() is panel.run
    assert panel.wait(60)
    assert panel.run.status == "done" and panel.error_text == ""
    history = panel.run.history
    assert history.epochs == [1, 2, 3]
    assert len(panel.probe.loss["train"]) == len(panel.probe.acc["test"]) == 3
    assert len(panel.run.args[1].train) == 100
    for name in ("curves", "fractions"):
        assert panel.figures[name].startswith(PNG), name
        assert panel.images[name].value == panel.figures[name]
    # the run's labels really are corrupted: about half of them differ from the truth
    labels = panel.run.args[1].train.y
    truth = panel.data.train.y[:100]
    assert 0.25 < (labels != truth).float().mean() < 0.65


def test_finished_runs_are_kept_by_fraction(panel):
    for fraction in (0.0, 1.0):
        panel.controls["fraction"].value = fraction
        panel.train()
        assert panel.wait(60)
    assert set(panel.finished) == {0.0, 1.0}
    assert len(panel.finished[1.0]["train_loss"]) == 3
    panel.reset()
    assert panel.finished == {} and panel.figures == {}


@pytest.mark.slow
def test_changing_a_control_restarts_once(panel):
    panel.controls["epochs"].value = 100
    first = panel.train()
    panel.controls["fraction"].value = 0.3
    panel.controls["epochs"].value = 1
    assert first.finished.is_set() and first.status == "stopped"
    assert panel.runs_started == 3
    assert runs_alive() <= 1
    assert panel.wait(60)
    assert panel.run.status == "done" and panel.run.history.epochs == [1]
    assert runs_alive() == 0


def test_bad_setting_is_shown_and_panel_recovers(panel):
    panel.controls["train_size"].value = 10
    assert panel.train() is None
    assert "train images" in panel.error_text and "10" in panel.error_text
    panel.controls["train_size"].value = 50
    panel.controls["epochs"].value = 1
    assert panel.train() is not None
    assert panel.wait(60)
    assert panel.run.status == "done" and panel.error_text == ""
