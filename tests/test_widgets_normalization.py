"""NormPanel, headless: the cube follows the controls, training records batch vs running
statistics, restarts keep one run, bad choices are explained in place."""

from __future__ import annotations

import pytest
import torch
from panel_checks import PNG, runs_alive

pytest.importorskip("ipywidgets")

from vizlab.nn import Norm  # noqa: E402
from widgets.normalization import NormPanel  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def panel():
    p = NormPanel(epochs=1, device="cpu", refresh=0.05)
    yield p
    p.close()


def _norms(panel):
    return [m for m in panel.model.modules() if isinstance(m, Norm)]


@pytest.mark.slow
def test_batch_norm_trains_and_draws(panel):
    assert panel.axes == ("N", "H", "W")
    assert panel.figures["cube"].startswith(PNG)
    assert panel.train() is panel.run
    assert panel.wait(120)
    assert panel.run.status == "done" and panel.error_text == ""
    assert panel.run.history.epochs == [1]
    for name in ("cube", "stats", "curves", "details"):
        assert panel.figures[name].startswith(PNG), name
        assert panel.images[name].value == panel.figures[name]
    assert all(m.axes == ("N", "H", "W") for m in _norms(panel))
    steps, batch_means = panel.watch.series(panel.layer, "batch_mean")
    _, running = panel.watch.series(panel.layer, "running_mean")
    assert len(steps) >= 5 and batch_means[0].shape == (8,)
    # The running mean follows the batch means: after training they are close, not equal.
    assert not torch.equal(torch.as_tensor(batch_means[-1]), torch.as_tensor(running[-1]))
    gap = (torch.as_tensor(batch_means[-1]) - torch.as_tensor(running[-1])).abs().max()
    assert float(gap) < 0.5


def test_cube_follows_controls_without_training(panel):
    before = panel.figures["cube"]
    panel.preset("group")
    assert panel.axes == ("C", "H", "W") and panel.controls["groups"].value == 4
    group = panel.figures["cube"]
    assert group != before
    panel.controls["affine"].value = "per element (2CHW)"
    assert panel.figures["cube"] != group
    assert panel.run is None and panel.runs_started == 0


@pytest.mark.slow
def test_choice_reaches_the_model_and_element_affine_counts(panel):
    panel.preset("layer")
    panel.controls["affine"].value = "per element (2CHW)"
    panel.train()
    assert panel.wait(120) and panel.run.status == "done", panel.error_text
    norms = _norms(panel)
    assert [m.axes for m in norms] == [("C", "H", "W")] * 2
    for m in norms:  # layer norm over (C, H, W) with elementwise affine: 2*C*H*W parameters
        c, (h, w) = m.channels, m.spatial
        assert sum(p.numel() for p in m.parameters()) == 2 * c * h * w
    assert m.running_mean is None  # no N: no running statistics


@pytest.mark.slow
def test_group_and_none_choices_train(panel):
    panel.preset("group")
    panel.train()
    assert panel.wait(120) and panel.run.status == "done"
    assert [m.groups for m in _norms(panel)] == [4, 4]
    panel.preset("none")
    panel.train()
    assert panel.wait(120) and panel.run.status == "done"
    assert _norms(panel) == [] and panel.watch is None
    assert panel.figures["stats"].startswith(PNG)


def test_control_change_mid_run_restarts_once(panel):
    panel.controls["epochs"].value = 20
    first = panel.train()
    panel.controls["batch_size"].value = 8
    second = panel.run
    assert second is not first
    assert first.finished.is_set()
    assert runs_alive() <= 1
    panel.choose("CHW")  # four checkboxes change, one restart
    third = panel.run
    assert third is not second and second.finished.is_set()
    assert runs_alive() == 1
    panel.stop()
    assert panel.wait(30)
    assert panel.run is third and third.history.config["batch_size"] == 8
    assert runs_alive() == 0


@pytest.mark.slow
def test_groups_that_do_not_divide_channels_are_explained(panel):
    panel.preset("group")
    panel.controls["groups"].value = 3
    assert "groups=3 does not divide channels=8" in panel.error_text
    assert panel.train() is None
    assert "choose one of [1, 2, 4, 8]" in panel.error_text
    panel.controls["groups"].value = 2
    assert panel.error_text == ""  # the cube drew fine again
    panel.controls["C"].value = False  # groups > 1 without C
    assert "only matters when 'C'" in panel.error_text
    panel.preset("batch")
    assert panel.error_text == ""
    assert panel.train() is not None
    assert panel.wait(120) and panel.run.status == "done" and panel.error_text == ""


def test_unknown_axes_are_explained(panel):
    panel.choose("NHX")
    assert "unknown axis 'X'" in panel.error_text
    assert panel.axes == ("N", "H", "W")  # the controls were left as they were
    with pytest.raises(ValueError, match="unknown axis"):
        NormPanel(axes="NQ", device="cpu")
    panel.controls["N"].value = False
    panel.controls["H"].value = False
    panel.controls["W"].value = False
    panel.controls["groups"].value = 2
    assert "no axis is ticked" in panel.error_text
    panel.controls["groups"].value = 1
    assert panel.error_text == ""
