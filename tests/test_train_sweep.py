"""``sweep``: one seeded fit per (cell, repetition), failures recorded, tidy rows."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import torch
from small_data import digits_dataset
from torch import nn

from vizlab.data.dataset import Dataset
from vizlab.train import Sweep, fit, sweep


def digits(n_train=128, n_val=64, n_test=64, **kw) -> Dataset:
    return digits_dataset(n_train, n_val, n_test, **kw)


def build(width=8, depth=1):
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(64, width), nn.ReLU()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


FIT = {"epochs": 2, "batch_size": 32, "lr": 1e-2, "device": "cpu"}


@pytest.fixture(scope="module")
def result() -> tuple[Sweep, Dataset]:
    data = digits()
    return sweep(build, {"width": [4, 16], "depth": [1, 2]}, reps=2, data=data, seed=7, **FIT), data


def test_cells_follow_the_grid_order_with_distinct_seeds(result):
    s, _ = result
    rows = s.table()
    assert [(r["width"], r["depth"], r["rep"]) for r in rows] == [
        (w, d, rep) for w in (4, 16) for d in (1, 2) for rep in (0, 1)
    ]
    seeds = [r["seed"] for r in rows]
    assert len(set(seeds)) == len(seeds) == 8
    assert [r["cell"] for r in rows] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert rows[0]["config"] == {"width": 4, "depth": 1}
    assert len(s.histories) == 8 and all(h is not None for h in s.histories)


def test_params_equal_the_real_parameter_counts(result):
    s, _ = result
    for row in s.table():
        model = build(width=row["width"], depth=row["depth"])
        assert row["params"] == sum(p.numel() for p in model.parameters())


def test_every_run_can_be_reproduced_alone_from_its_seed(result):
    s, data = result
    row, history = s.table()[5], s.histories[5]
    torch.manual_seed(row["seed"])
    model = build(**row["config"])
    again = fit(model, data, seed=row["seed"], **FIT)
    assert again.loss == history.loss and again.val_loss == history.val_loss
    # ...and repetitions of one cell start from different weights.
    torch.manual_seed(s.table()[4]["seed"])
    other = build(**row["config"])
    torch.manual_seed(row["seed"])
    same_cell = build(**row["config"])
    assert not torch.equal(other[1].weight, same_cell[1].weight)


def test_rows_hold_final_metrics_and_are_json_friendly(result):
    s, _ = result
    for row, history in zip(s.table(), s.histories):
        assert row["val_loss"] == history.val_loss[-1] and row["train_acc"] == history.train_acc[-1]
        assert row["test_acc"] == history.test_acc and row["seconds"] == history.seconds
        assert row["best_epoch"] in (1, 2) and row["error"] is None and row["diverged"] is False
    json.dumps(s.table(), allow_nan=False)


def test_mean_and_pivot_aggregate_over_repetitions(result):
    s, _ = result
    rows = s.table()
    by_width = {g["width"]: g for g in s.mean("val_acc", by=["width"])}
    expected = np.mean([r["val_acc"] for r in rows if r["width"] == 16])
    assert by_width[16]["mean"] == pytest.approx(expected) and by_width[16]["n"] == 4
    cells = s.mean("params")
    assert len(cells) == 4 and all(g["std"] == 0 for g in cells)
    widths, depths, means = s.pivot("params", rows="width", cols="depth")
    assert widths == [4, 16] and depths == [1, 2] and means.shape == (2, 2)
    assert means[1, 1] == rows[-1]["params"]
    with pytest.raises(ValueError, match="cannot group by"):
        s.mean("val_acc", by=["lr"])


def test_a_failing_cell_is_recorded_and_the_others_run():
    def fragile(width):
        if width == 0:
            raise ValueError("width must be positive")
        return build(width=width)

    data = digits()
    s = sweep(fragile, {"width": [4, 0, 8]}, reps=1, data=data, **FIT)
    rows = s.table()
    assert [r["error"] for r in rows] == [None, "ValueError: width must be positive", None]
    assert rows[1]["params"] is None and s.histories[1] is None
    assert rows[2]["val_acc"] is not None and len(s.failed()) == 1
    # a fit-time ValueError (here: wrong number of outputs) is a failed cell too
    s = sweep(lambda k: nn.Sequential(nn.Flatten(), nn.Linear(64, k)), {"k": [10, 3]}, reps=1,
              data=data, **FIT)  # fmt: skip
    assert s.table()[0]["error"] is None and "num_classes=10" in s.table()[1]["error"]
    groups = s.mean("val_acc", by=["k"])
    assert groups[1]["n"] == 0 and math.isnan(groups[1]["mean"])


def test_stop_event_ends_the_sweep_and_cell_hooks_fire():
    stop = threading.Event()
    seen = []

    class Hooks:
        def on_cell_start(self, info):
            seen.append(("start", info.index, info.total))

        def on_cell_end(self, info):
            seen.append(("end", info.index, info.row["seed"]))
            stop.set()

    s = sweep(build, {"width": [4, 8]}, reps=2, data=digits(), seed=3, stop=stop,
              callbacks=[Hooks()], **FIT)  # fmt: skip
    assert s.stopped and len(s.rows) == 1
    assert seen == [("start", 0, 4), ("end", 0, 3)]


def test_bad_sweep_arguments_are_refused_before_training():
    data = digits()
    with pytest.raises(ValueError, match=r"grid\['width'\] is empty"):
        sweep(build, {"width": []}, data=data)
    with pytest.raises(TypeError, match=r"grid\['width'\] must be a list"):
        sweep(build, {"width": 4}, data=data)
    with pytest.raises(ValueError, match="clashes with a result column"):
        sweep(build, {"seed": [1, 2]}, data=data)
    with pytest.raises(ValueError, match="reps must be a positive int"):
        sweep(build, {"width": [4]}, reps=0, data=data)
    with pytest.raises(TypeError, match="unknown fit arguments"):
        sweep(build, {"width": [4]}, data=data, epoch=3)
    with pytest.raises(TypeError, match="build must be a callable"):
        sweep("vgg", {"width": [4]}, data=data)
