"""ConvPanel and ArchitecturePanel, headless: static pictures follow the controls, training
draws from the live model, restarts leave one run, bad settings are shown in place."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from panel_checks import PNG, runs_alive

pytest.importorskip("ipywidgets")

from vizlab.experiments.conv import computed_field, rf_geometry  # noqa: E402
from widgets.conv import ArchitecturePanel, ConvPanel, conv_net  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def conv_panel():
    p = ConvPanel(n=200, epochs=1, device="cpu", refresh=0.2)
    yield p
    p.close()


@pytest.fixture
def arch_panel():
    p = ArchitecturePanel(n=400, epochs=1, device="cpu", refresh=0.2)
    yield p
    p.close()


def test_conv_net_refuses_too_small():
    with pytest.raises(ValueError, match="block 2: a 7x7 kernel with padding 0"):
        conv_net((3, 16, 16), 10, kernel=7, padding=0, blocks=2)
    with pytest.raises(ValueError, match="pooling window 4"):
        conv_net((3, 4, 4), 10, kernel=3, padding=0, window=4)
    assert conv_net((3, 32, 32), 10, blocks=3)(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_conv_static_pictures_follow_controls(conv_panel):
    p = conv_panel
    for name in ("kernel", "conv1x1", "pooling", "receptive_field"):
        assert p.figures[name].startswith(PNG), name
    before = p.figures["kernel"]
    p.controls["c_in"].value, p.controls["c_out"].value = 2, 5
    p.controls["kernel"].value = 5
    assert p.info["weight_shape"] == (5, 2, 5, 5)
    assert p.info["params"] == 5 * 2 * 25 + 5
    assert p.figures["kernel"] != before
    p.controls["window"].value, p.controls["pool_stride"].value = 3, 2
    assert p.info["pool_out"] == ((8 - 3) // 2 + 1,) * 2
    # the gradient of the deepest unit stays inside its computed field (max pool, ReLU)
    lo, hi = p.info["computed_box"]
    r0, r1, c0, c1 = p.info["gradient_box"]
    assert lo <= r0 <= r1 <= hi and lo <= c0 <= c1 <= hi
    assert p.runs_started == 0  # static pictures never train


@pytest.mark.slow
def test_conv_trains_and_draws_live_model(conv_panel):
    p = conv_panel
    assert p.train() is p.run
    assert p.wait(120)
    assert p.run.status == "done" and p.error_text == ""
    assert p.run.history.epochs == [1]
    for name in ("curves", "feature_maps", "receptive_field"):
        assert p.figures[name].startswith(PNG), name
        assert p.images[name].value == p.figures[name]
    before = p.figures["feature_maps"]
    p.controls["image"].value = 3  # a new image redraws from the trained model, no training
    assert p.runs_started == 1
    assert p.figures["feature_maps"] != before
    p.controls["kernel"].value = 5  # new settings after training: the untrained net's field
    assert p.error_text == "" and p.runs_started == 1
    assert p.info["rf"] == computed_field(rf_geometry(p._build(), "pool2"), 32)[0]


@pytest.mark.slow
def test_conv_restart_and_bad_setting():
    p = ConvPanel(n=3000, epochs=20, device="cpu", refresh=0.2)  # a run long enough to cut
    try:
        _restart_and_bad_setting(p)
    finally:
        p.close()


def _restart_and_bad_setting(p):
    first = p.train()
    p.controls["kernel"].value = 5
    assert first.finished.is_set() and first.status == "stopped"
    assert runs_alive() <= 1 and p.runs_started == 2
    p.stop()
    assert p.wait(60) and runs_alive() == 0
    p.controls["kernel"].value = 7
    p.controls["padding"].value = 0
    p.controls["stride"].value = 3
    p.controls["blocks"].value = 3
    assert "7x7 kernel" in p.error_text and "padding 0" in p.error_text
    assert runs_alive() == 0
    p.controls["blocks"].value = 1
    p.controls["epochs"].value = 1
    assert p.train() is not None and p.error_text == ""
    assert p.wait(120) and p.run.status == "done"
    assert runs_alive() == 0


def test_architecture_summary_matches_model(arch_panel):
    p = arch_panel
    assert p.figures["summary"].startswith(PNG)
    model = p._build()
    assert sum(r.params for r in p.rows) == sum(q.numel() for q in model.parameters())
    before = p.figures["summary"]
    p.controls["family"].value = "resnet"
    assert p.figures["summary"] != before
    assert any(r.type == "ResidualBlock" for r in p.rows)


@pytest.mark.slow
def test_architecture_trains_filters_are_live_weights(arch_panel):
    p = arch_panel
    p.controls["activation"].value = "sigmoid"
    p.train()
    assert p.wait(120)
    assert p.run.status == "done" and p.error_text == ""
    for name in ("curves", "grad_flow", "activations", "filters", "feature_maps"):
        assert p.figures[name].startswith(PNG), name
    first_conv = next(m for m in p.model.modules() if isinstance(m, torch.nn.Conv2d))
    np.testing.assert_array_equal(p.shown_filters, first_conv.weight.detach().cpu().numpy())
    grads = [r for r in p.watch.records() if r[2] == "gradients" and r[3] == "act_grad_norm"]
    assert {r[1] for r in grads} >= {"features.block1.conv1.conv", "head"}
    assert any(r[1] == p.first_act and r[3] == "hist" for r in p.watch.records())


@pytest.mark.slow
def test_architecture_restart_and_bad_setting(arch_panel):
    p = arch_panel
    p.controls["epochs"].value = 30
    first = p.train()
    p.controls["family"].value = "lenet"
    assert first.finished.is_set() and first.status == "stopped"
    assert runs_alive() <= 1
    p.stop()
    assert p.wait(60)
    p.controls["family"].value = "mlp"  # the trained model's pictures stay; no mismatch
    assert p.error_text == ""
    p.controls["family"].value = "vgg"
    p.controls["blocks"].value = 4  # 8x8 digits allow 3 halvings
    assert p.train() is None
    assert "4 blocks" in p.error_text and "8x8" in p.error_text
    p.controls["blocks"].value = 1
    p.controls["epochs"].value = 1
    assert p.train() is not None
    assert p.wait(120) and p.run.status == "done" and p.error_text == ""
    assert runs_alive() == 0
