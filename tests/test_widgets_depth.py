"""DepthPanel, headless: one config trains live with gradient flow, the grid fills cell by
cell with distinct seeds, too many blocks is a message (never a crash), restarts keep one run."""

from __future__ import annotations

import math

import pytest
from panel_checks import PNG, runs_alive

pytest.importorskip("ipywidgets")

from vizlab.models import vgg  # noqa: E402
from widgets.depth import DepthPanel  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def panel():
    p = DepthPanel(blocks=2, convs=1, epochs=1, device="cpu", refresh=0.05)
    yield p
    p.close()


def test_static_pictures_and_params_follow_controls(panel):
    assert panel.figures["sizes"].startswith(PNG) and panel.figures["params"].startswith(PNG)
    before = panel.figures["params"]
    panel.controls["convs"].value = 3
    assert panel.figures["params"] != before
    model = vgg(2, 3, 16, in_channels=1, num_classes=10, input_size=8, init="torch")
    assert panel.params == sum(p.numel() for p in model.parameters())
    assert panel.run is None and panel.error_text == ""


@pytest.mark.slow
def test_one_config_trains_live_with_grad_flow(panel):
    assert panel.train() is panel.run
    assert panel.wait(120)
    assert panel.run.status == "done" and panel.error_text == ""
    assert panel.run.history.epochs == [1]
    for name in ("sizes", "params", "curves", "grad_flow"):
        assert panel.figures[name].startswith(PNG), name
        assert panel.images[name].value == panel.figures[name]
    records = panel.watch.records()
    grad_layers = {r[1] for r in records if r[2] == "gradients"}
    assert grad_layers == {"features.block1.conv1.conv", "features.block2.conv1.conv"}


def test_too_many_blocks_is_a_message_then_trains_again(panel):
    panel.controls["blocks"].value = 4  # 8x8 digits: 3 blocks at most
    assert "below 1x1" in panel.error_text and "3 blocks at most" in panel.error_text
    assert panel.figures["sizes"].startswith(PNG)
    assert panel.train() is None
    assert "below 1x1" in panel.error_text
    panel.controls["blocks"].value = 3
    assert panel.error_text == ""
    assert panel.train() is not None
    assert panel.wait(120) and panel.run.status == "done" and panel.error_text == ""


@pytest.mark.slow
def test_grid_fills_cell_by_cell_with_distinct_seeds(panel):
    panel.controls["reps"].value = 2
    panel.controls["convs"].value = 2
    panel.controls["mode"].value = "grid"
    cells_seen = []
    run = panel.train()
    run.on("cell", lambda info: cells_seen.append(info.index))
    assert panel.wait(180), panel.error_text
    assert run.status == "done" and panel.error_text == ""
    sweep = run.result
    assert len(sweep.rows) == 2 * 2 * 2 and len(panel.cell_log.cells) == 8
    seeds = [row["seed"] for row, *_ in panel.cell_log.cells]
    assert len(set(seeds)) == 8
    arrays = panel.grid_arrays()
    assert arrays["acc"].shape == (2, 2, 2)
    for row in sweep.rows:  # params heatmap equals the real models' counts
        model = vgg(row["blocks"], row["convs"], 16, in_channels=1, num_classes=10, input_size=8)
        count = sum(p.numel() for p in model.parameters())
        assert arrays["params"][row["blocks"] - 1, row["convs"] - 1] == count == row["params"]
        assert arrays["acc"][row["rep"], row["blocks"] - 1, row["convs"] - 1] == row["test_acc"]
    assert panel.figures["grid"].startswith(PNG)
    assert panel.figures["grad_flow"].startswith(PNG)  # deepest vs one-conv cell at init


@pytest.mark.slow
def test_grid_with_too_many_blocks_reports_rows(panel):
    panel.controls["mode"].value = "grid"
    panel.controls["reps"].value = 1
    panel.controls["blocks"].value = 4
    assert "below 1x1" in panel.error_text  # said at once, before training
    panel.controls["blocks"].value = 1
    panel.controls["blocks"].value = 4
    run = panel.train()
    assert run is not None
    assert panel.wait(120) and run.status == "done"
    errors = [row for row in run.result.rows if row["error"]]
    assert [row["blocks"] for row in errors] == [4]
    assert "below 1x1" in panel.error_text and "1 run(s) refused" in panel.error_text
    arrays = panel.grid_arrays()
    assert math.isnan(arrays["params"][3, 0]) and math.isfinite(arrays["params"][2, 0])
    assert panel.figures["grid"].startswith(PNG)


@pytest.mark.slow
def test_control_change_mid_run_restarts_once(panel):
    panel.controls["epochs"].value = 20
    first = panel.train()
    panel.controls["width"].value = 8
    second = panel.run
    assert second is not first and first.finished.is_set()
    assert runs_alive() <= 1
    panel.controls["residual"].value = True
    third = panel.run
    assert third is not second and second.finished.is_set()
    assert runs_alive() == 1
    panel.stop()
    assert panel.wait(30)
    assert panel.run is third and panel.model.features.block1.residual is not None
    assert runs_alive() == 0


def test_bad_constructor_values_are_refused():
    with pytest.raises(ValueError, match="norm must be one of"):
        DepthPanel(norm="bogus", device="cpu")
