"""RegularizationPanel, headless: penalties, weight records, early stopping, restarts, errors."""

from __future__ import annotations

import pytest
import torch
from panel_checks import PNG, runs_alive

pytest.importorskip("ipywidgets")

from vizlab.experiments.regularization import ReparamLinear, layer_weights  # noqa: E402
from widgets.regularization import RegularizationPanel  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def panel():
    p = RegularizationPanel(epochs=2, device="cpu", refresh=0.05)
    yield p
    p.close()


def _norms(panel, step: int) -> dict[str, float]:
    return {r[1]: r[4] for r in panel.recorder.records() if r[0] == step and r[3] == "weight_norm"}


def test_trains_records_weights_and_draws(panel):
    panel.controls["penalty"].value = "L2"
    panel.controls["coef"].value = 1e-2
    assert panel.train() is panel.run
    assert panel.wait(60)
    assert panel.run.status == "done" and panel.error_text == ""
    assert panel.run.history.epochs == [1, 2]
    assert panel.run.history.config["l2"] == pytest.approx(1e-2)
    for name in ("curves", "norms", "hist"):
        assert panel.figures[name].startswith(PNG), name
        assert panel.images[name].value == panel.figures[name]
    last = max(r[0] for r in panel.recorder.records())
    norms = _norms(panel, last)
    assert set(norms) == {"layer1.linear", "head"}
    for layer, w in layer_weights(panel.model).items():
        assert norms[layer] == pytest.approx(float(w.norm()), rel=1e-5)


def test_weight_decay_and_l2_coincide_with_sgd(panel):
    finals = []
    panel.controls["optimizer"].value = "sgd"
    panel.controls["lr"].value = 0.1
    for penalty, coef in (("L2", 0.05), ("weight decay", 0.1)):
        panel.controls["penalty"].value = penalty
        panel.controls["coef"].value = coef
        panel.train()
        assert panel.wait(60) and panel.run.status == "done"
        finals.append(torch.cat([w.flatten() for w in layer_weights(panel.model).values()]))
    torch.testing.assert_close(finals[0], finals[1], atol=1e-4, rtol=0)


def test_reparam_and_early_stopping(panel):
    panel.controls["epochs"].value = 30
    panel.controls["optimizer"].value = "adam"
    panel.controls["lr"].value = 3e-2
    panel.controls["reparam"].value = True
    panel.controls["patience"].value = 2
    panel.train()
    assert panel.wait(120)
    history = panel.run.history
    assert any(isinstance(m, ReparamLinear) for m in panel.model.modules())
    assert history.stopped_early
    assert history.stop_epoch - history.best_epoch == 2
    assert history.restored_epoch == history.best_epoch
    assert panel.figures["curves"].startswith(PNG)


def test_changing_a_control_restarts_once(panel):
    panel.controls["epochs"].value = 100
    first = panel.train()
    panel.controls["coef"].value = 1e-4
    panel.controls["epochs"].value = 1
    assert first.finished.is_set() and first.status == "stopped"
    assert panel.runs_started == 3
    assert runs_alive() <= 1
    assert panel.wait(60)
    assert panel.run.status == "done" and panel.run.history.epochs == [1]
    assert runs_alive() == 0


def test_bad_settings_are_shown_and_panel_recovers(panel):
    panel.controls["optimizer"].value = "adam"
    panel.controls["penalty"].value = "weight decay"
    assert panel.train() is None
    assert "adamw" in panel.error_text and "weight decay" in panel.error_text
    panel.controls["optimizer"].value = "adamw"
    panel.controls["patience"].value = 5
    assert panel.train() is None
    assert "patience 5" in panel.error_text and "epochs 2" in panel.error_text
    panel.controls["patience"].value = 0
    assert panel.train() is not None
    assert panel.wait(60)
    assert panel.run.status == "done" and panel.error_text == ""
    assert panel.run.history.config["optimizer"] == "adamw"
    assert panel.run.history.config["weight_decay"] == pytest.approx(1e-3)
