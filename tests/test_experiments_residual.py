"""Section H (residual connections) experiments: each topic runs once; the curriculum facts
are checked on the measured numbers."""

from __future__ import annotations

import json
import math
import threading

import pytest
import torch
from matplotlib.figure import Figure

from vizlab import experiments
from vizlab.data import load
from vizlab.experiments import residual as section
from vizlab.models import resnet

pytestmark = pytest.mark.usefixtures("one_thread")

TOPICS = ("degradation", "gradient_split", "branch_ratio", "lesion")


def _run(topic: str, **kwargs):
    return experiments.run(topic, scale="quick", device="cpu", **kwargs)


@pytest.fixture(scope="module")
def degradation():
    return _run("degradation")


@pytest.fixture(scope="module")
def split():
    return _run("gradient_split")


@pytest.fixture(scope="module")
def ratio():
    return _run("branch_ratio")


@pytest.fixture(scope="module")
def lesion():
    return _run("lesion")


def _check_common(result, topic: str) -> None:
    assert result.topic == topic and result.scale == "quick"
    assert result.rows == experiments.TOPICS[topic].rows
    json.dumps(result.to_json())
    assert all(result.facts.values()), result.facts
    figures = result.figures()
    assert figures
    for name, (fig, caption) in figures.items():
        assert isinstance(fig, Figure) and fig.axes, name
        assert isinstance(caption, str) and caption


def test_topics_registered() -> None:
    for name in TOPICS:
        assert name in experiments.TOPICS
        assert getattr(experiments, name) is experiments.TOPICS[name].run
    rows = {row for name in TOPICS for row in experiments.TOPICS[name].rows}
    assert rows == {"H-DEGRADE", "H-GRAD", "H-BLOCK", "H-BNID", "H-ENSEMBLE"}


@pytest.mark.slow
def test_degradation(degradation) -> None:
    """H-DEGRADE: deep plain trains worse than shallow plain; residual reverses that."""
    _check_common(degradation, "degradation")
    nums = degradation.numbers
    shallow, deep = (str(d) for d in nums["depths"])
    final = nums["final"]
    for kind in ("plain", "residual"):
        for depth in (shallow, deep):
            assert len(nums["train_loss"][kind][depth]) == nums["epochs"]
            assert final[kind][depth] == nums["train_loss"][kind][depth][-1]
    assert final["plain"][deep] > final["plain"][shallow] + 0.3
    assert final["residual"][deep] <= final["residual"][shallow]
    assert final["residual"][deep] < final["plain"][deep] - 0.5
    # the plain twin differs only by the projection convs: nearly equal size
    assert nums["params"]["plain"][deep] < nums["params"]["residual"][deep]


@pytest.mark.slow
def test_gradient_split_adds_up(split) -> None:
    """H-GRAD: skip part + branch part == autograd's input gradient, at init and trained."""
    _check_common(split, "gradient_split")
    nums = split.numbers
    n_blocks = 3 * (nums["depth"] - 2) // 6
    assert len(nums["init"]) == len(nums["trained"]) == n_blocks
    assert nums["max_err_total"] < 1e-5
    assert nums["max_err_formula"] < 1e-4
    for row in nums["init"] + nums["trained"]:
        assert row["total"] > 0 and row["skip"] > 0 and row["branch"] > 0
        # triangle inequality: the parts' norms bound the total's
        assert row["total"] <= (row["skip"] + row["branch"]) * (1 + 1e-5)
    assert nums["final_train_loss"] < 1.0


@pytest.mark.slow
def test_gradient_split_over_training(split) -> None:
    nums = split.numbers
    rows = nums["records"]
    blocks = {r[1] for r in rows}
    assert blocks == {b["block"] for b in nums["blocks"]}
    steps = sorted({r[0] for r in rows})
    assert steps[0] == 0 and len(steps) > 10
    stats = {r[3] for r in rows}
    assert {"grad_skip", "grad_branch", "grad_total"} <= stats
    assert all(r[2] == "residual" and math.isfinite(r[4]) for r in rows)


def test_projection_exactly_when_shape_changes(split) -> None:
    """H-BLOCK: a 1x1 projection on the skip exactly where channels or stride change."""
    blocks = split.numbers["blocks"]
    for b in blocks:
        changes = b["in_channels"] != b["out_channels"] or b["stride"] != 1
        assert b["projection"] == changes == (b["in"] != b["out"]), b
    assert sum(b["projection"] for b in blocks) == 2  # first block of stages 2 and 3


def test_branch_ratio(ratio) -> None:
    """H-BNID: measured branch/skip variance ratios per block at init."""
    _check_common(ratio, "branch_ratio")
    nums = ratio.numbers
    n = len(nums["blocks"])
    assert set(nums["ratio"]) == {"no norm", "batch norm", "BN, zero-init gamma"}
    for values in nums["ratio"].values():
        assert len(values) == n
    assert all(r == 0.0 for r in nums["ratio"]["BN, zero-init gamma"])
    assert all(v > 0 for v in nums["var_skip"]["BN, zero-init gamma"])
    bn = nums["ratio"]["batch norm"]
    per_stage = n // 3
    for s in range(3):
        stage = bn[s * per_stage + 1 : (s + 1) * per_stage]
        assert all(a > b for a, b in zip(stage, stage[1:])), stage
        assert stage[-1] < 0.5 * stage[0]
    # the projection blocks restart the skip path: its BN output has variance ~1
    for i, proj in enumerate(nums["projection"]):
        if proj:
            assert nums["var_skip"]["batch norm"][i] == pytest.approx(1.0, abs=0.05)
    growth = nums["skip_growth"]
    assert growth["no norm"] > 2 * growth["batch norm"] > 2.0
    assert growth["BN, zero-init gamma"] == pytest.approx(1.0)


@pytest.mark.slow
def test_lesion(lesion) -> None:
    """H-ENSEMBLE: binomial path lengths; lesions from real evaluation; plain collapses."""
    _check_common(lesion, "lesion")
    nums = lesion.numbers
    n = nums["n_blocks"]
    assert n == 9
    assert nums["path_counts"] == [math.comb(n, k) for k in range(n + 1)]
    assert sum(nums["path_counts"]) == 2**n
    # real evaluation: the restored model evaluates to the baseline, which is fit's test acc
    for kind in ("residual", "plain"):
        assert nums["restored"][kind] == nums["baseline"][kind]
        assert nums["baseline"][kind] == pytest.approx(nums["test_acc"][kind], abs=1e-6)
        assert nums["baseline"][kind] > 0.6
        assert len(nums["lesion"][kind]) == n
    plain = nums["lesion"]["plain"]
    assert plain.count(None) == 2  # the two downsampling blocks have no shortcut
    assert all(a is not None for a in nums["lesion"]["residual"])
    chance = nums["chance"]
    assert nums["median"]["plain"] < chance + 0.2
    assert nums["median"]["residual"] > nums["median"]["plain"] + 0.4
    assert nums["median"]["residual"] > nums["baseline"]["residual"] - 0.35


def test_path_counts_enumerated() -> None:
    for n in range(0, 11):
        counts = section.path_counts(n)
        assert counts == [math.comb(n, k) for k in range(n + 1)]


def test_delete_block_is_the_shortcut() -> None:
    data = load("digits", n=64)
    torch.manual_seed(0)
    model = resnet(8, width=4, in_channels=1, input_size=8, norm=None).eval()
    x = data.train.x[:4]
    name, block = section.blocks_of(model)[1]  # stage 2, block 1: a projection block
    assert block.projection
    with torch.no_grad():
        stem_to_block = model.stem(x)
        stem_to_block = model.stages.stage1(stem_to_block)
        expected = block.act(block.shortcut(stem_to_block))
        removed = section.delete_block(model, name)
        got = model.stages.stage2.block1(stem_to_block)
    assert removed is block
    torch.testing.assert_close(got, expected)


def test_split_check_direct() -> None:
    """The check finds the split of every block and leaves the model's buffers alone."""
    data = load("digits", n=64)
    torch.manual_seed(0)
    model = resnet(14, width=4, in_channels=1, input_size=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = section.split_check(model, data.train.x[:16], data.train.y[:16])
    assert len(rows) == 6
    assert max(r["err_total"] for r in rows) < 1e-5
    assert max(r["err_formula"] for r in rows) < 1e-4
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_stop_before_training_returns_quickly() -> None:
    stop = threading.Event()
    stop.set()
    result = _run("lesion", stop=stop)
    assert result.numbers["lesion"] == {}
    assert result.facts == {"paths_binomial": True}
    json.dumps(result.to_json())
    result = _run("degradation", stop=stop)
    assert result.facts == {}
    json.dumps(result.to_json())
