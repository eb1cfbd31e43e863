"""The panel base and LivePanel, headless: train, stop, restart on change, errors in place."""

from __future__ import annotations

import pytest
from panel_checks import PNG, runs_alive

pytest.importorskip("ipywidgets")

from vizlab import models  # noqa: E402
from vizlab.train import Run, fit  # noqa: E402
from widgets import LivePanel, Panel  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def small_net():
    return models.vgg(blocks=2, convs=1, width=8, in_channels=1, input_size=(8, 8))


@pytest.fixture
def panel():
    p = LivePanel(small_net(), "digits", epochs=2, batch_size=64, refresh=0.05)
    yield p
    p.close()


def test_live_panel_trains_and_draws(panel):
    run = panel.train()
    assert run is panel.run
    assert panel.wait(60)
    assert panel.run.status == "done"
    history = panel.run.history
    assert history.epochs == [1, 2]
    assert panel.figures["dashboard"].startswith(PNG)
    assert panel.images["dashboard"].value == panel.figures["dashboard"]
    assert panel.watch.records(), "the watch recorded nothing"
    assert "done" in panel.status.value and "epoch 2" in panel.status.value
    assert panel.error_text == ""


def test_changing_a_control_restarts_once(panel):
    panel.controls["epochs"].value = 30
    first = panel.train()
    panel.controls["lr"].value = 3e-3
    panel.controls["epochs"].value = 1
    assert first.finished.is_set() and first.status == "stopped"
    assert panel.runs_started == 3
    assert runs_alive() <= 1
    assert panel.wait(60)
    assert panel.run.status == "done"
    assert panel.run.history.epochs == [1]
    assert runs_alive() == 0


def test_stop_is_prompt(panel):
    panel.controls["epochs"].value = 50
    panel.train()
    panel.stop()
    assert panel.run.join(5.0)
    assert panel.run.status == "stopped"
    assert panel.wait(5.0)


def test_diverging_lr_is_reported_in_place(panel):
    panel.controls["optimizer"].value = "sgd"
    panel.controls["lr"].value = 1.0
    panel.fit_kwargs["l2"] = 1e6  # makes the loss blow up within a few steps
    panel.train()
    assert panel.wait(60)
    assert panel.run.status == "diverged"
    assert "diverged" in panel.error_text and "learning rate" in panel.error_text
    panel.fit_kwargs.pop("l2")
    panel.controls["lr"].value = 1e-3
    panel.train()
    assert panel.wait(60) and panel.run.status == "done"
    assert panel.error_text == ""


class _Refusing(Panel):
    title = "refuses odd widths"
    figure_names = ("picture",)

    def build_controls(self):
        import ipywidgets as W

        return {"width": W.IntSlider(value=8, min=1, max=20)}

    def make_run(self):
        width = self.controls["width"].value
        if width % 2:
            raise ValueError(f"width {width} is odd: pick an even width")
        model = models.vgg(blocks=1, convs=1, width=width, in_channels=1, input_size=(8, 8))
        return Run(fit, model, "digits", epochs=1)

    def static(self):
        from matplotlib.figure import Figure

        fig = Figure(figsize=(2, 2))
        fig.add_subplot().set_title(f"width {self.controls['width'].value}")
        return {"picture": fig}


def test_bad_setting_shows_message_and_panel_stays_usable():
    p = _Refusing(refresh=0.05)
    try:
        before = p.figures["picture"]
        p.controls["width"].value = 7
        assert p.figures["picture"] != before  # static picture follows the control
        assert p.train() is None
        assert "width 7 is odd" in p.error_text
        assert p.message.layout.display is None  # visible
        p.controls["width"].value = 6
        assert p.train() is not None
        assert p.wait(60) and p.run.status == "done"
        assert p.error_text == ""
    finally:
        p.close()


def test_reset_forgets_run_and_pictures(panel):
    panel.train()
    assert panel.wait(60)
    panel.reset()
    assert panel.run is None and panel.figures == {}
    assert panel.images["dashboard"].value == b""


def test_live_panel_refuses_non_modules():
    with pytest.raises(TypeError, match="nn.Module"):
        LivePanel("not a model")


def test_a_cpu_run_shortens_the_switch_interval_and_restores_it() -> None:
    import sys

    from widgets.gil import TRAINING_SWITCH_INTERVAL

    before = sys.getswitchinterval()
    panel = LivePanel(small_net(), "digits", device="cpu", epochs=50)
    try:
        panel.train()
        assert sys.getswitchinterval() == min(before, TRAINING_SWITCH_INTERVAL)
        panel.stop()
        assert panel.wait(60)
        assert sys.getswitchinterval() == before  # the run ended: the old value is back
    finally:
        panel.close()
