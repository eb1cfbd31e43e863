"""Section G (normalization) experiments: each topic runs once; the curriculum facts are
checked on the measured numbers."""

from __future__ import annotations

import json
import math

import pytest
import torch
from matplotlib.figure import Figure

from vizlab import experiments
from vizlab.experiments import normalization as G

pytestmark = pytest.mark.usefixtures("one_thread")

TOPICS = (
    "standardization",
    "norm_reference",
    "bn_inference",
    "batch_spread",
    "norm_axes",
    "smoothness",
)


@pytest.fixture(scope="module")
def results():
    """Every topic at quick scale, once (on first use)."""
    cache: dict[str, experiments.Result] = {}
    return lambda name: cache.setdefault(name, experiments.run(name, scale="quick", device="cpu"))


def test_topics_registered():
    for name in TOPICS:
        topic = experiments.TOPICS[name]
        assert topic.rows and topic.title
        assert getattr(experiments, name) is topic.run
    rows = {row for name in TOPICS for row in experiments.TOPICS[name].rows}
    assert {
        "G-STD",
        "G-BN1",
        "G-BN2",
        "G-BN3",
        "G-BNSMALL",
        "G-AXES",
        "G-LNPARAMS",
        "G-SMOOTH",
    } <= rows


@pytest.mark.parametrize("name", TOPICS)
def test_json_and_figures(results, name):
    result = results(name)
    data = result.to_json()
    json.dumps(data, allow_nan=False)
    assert data["topic"] == name and data["scale"] == "quick"
    assert all(result.facts.values()), result.facts
    figures = result.figures()
    assert figures
    for fig, caption in figures.values():
        assert isinstance(fig, Figure) and fig.axes
        assert isinstance(caption, str) and caption


@pytest.mark.parametrize("name", TOPICS)
def test_figures_from_json(results, name):
    """Drawers also work from the JSON form (string keys, lists), as the gallery reads it."""
    data = results(name).to_json()
    again = experiments.Result(
        data["topic"], tuple(data["rows"]), data["scale"], data["numbers"], data["facts"]
    )
    for fig, _ in again.figures().values():
        assert fig.axes


def test_standardization_conditions_and_steps(results):
    num = results("standardization").numbers
    raw, std = num["raw"], num["standardized"]
    assert std["condition"] < raw["condition"] / 10
    assert std["converged"] and raw["converged"]
    assert std["steps"] < raw["steps"]
    # The condition number is the Hessian's, and the path really ends at the optimum.
    for row in (raw, std):
        eig = torch.linalg.eigvalsh(torch.as_tensor(row["hessian"]))
        assert math.isclose(row["condition"], float(eig[-1] / eig[0]), rel_tol=1e-9)
        assert len(row["path"]) == row["steps"] + 1
        assert float(torch.as_tensor(row["path"][-1]).norm()) < 1e-2


def test_norm_reference_matches_torch(results):
    num = results("norm_reference").numbers
    diffs = num["diffs"]
    expected = {"batch1d", "batch2d", "layer", "layer_channel_affine", "layer1d"}
    assert expected | {"instance", "group"} == set(diffs)
    for name, row in diffs.items():
        for path in ("fused", "plain"):
            for kind, value in row["by_path"][path].items():
                assert value < 1e-4, (name, path, kind, value)
    assert diffs["batch1d"]["torch"] == "nn.BatchNorm1d"
    assert diffs["batch2d"]["torch"] == "nn.BatchNorm2d"
    # Statistics shapes: batch per column/channel, layer per example, instance (N, C), group (N, G).
    n, c = num["shape"][:2]
    assert diffs["batch2d"]["stat_shape"] == [c]
    assert diffs["layer"]["stat_shape"] == [n]
    assert diffs["instance"]["stat_shape"] == [n, c]
    assert diffs["group"]["stat_shape"] == [n, 3]


def test_layernorm_params_are_2CHW(results):
    params = results("norm_reference").numbers["params"]
    for counts in params.values():
        c, h, w = counts["shape"]
        assert counts["element"] == 2 * c * h * w == counts["torch_layernorm"]
        assert counts["channel"] == 2 * c
        assert counts["None"] == 0 == counts["torch_layernorm_no_affine"]


@pytest.mark.slow
def test_bn_inference_recomputed_equal_dataset(results):
    num = results("bn_inference").numbers
    assert not num["stopped"]
    assert num["worst_gap"]["recomputed"] < 1e-3
    assert num["worst_gap"]["running"] > num["worst_gap"]["recomputed"]
    for layer in num["layers"].values():
        rec = layer["recomputed"]
        mean = torch.as_tensor(rec["running_mean"])
        assert torch.allclose(mean, torch.as_tensor(rec["data_mean"]), atol=1e-4)
        var = torch.as_tensor(rec["running_var"])
        assert torch.allclose(var, torch.as_tensor(rec["data_var"]), rtol=1e-3)
    for acc in (*num["test_acc"].values(), *num["train_acc"].values()):
        assert 0.3 < acc <= 1.0
    assert {r[3] for r in num["records"]} >= {"batch_mean", "running_mean", "alpha", "beta"}


def test_recompute_stats_is_full_batch_statistics():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), G.Norm.batch(3))
    x = torch.randn(50, 1, 6, 6) * 2 + 1
    out = G.recompute_stats(model, x)
    conv_out = model[0](x).detach()
    var, mean = torch.var_mean(conv_out, dim=(0, 2, 3), correction=1)
    assert torch.allclose(out[1].running_mean, mean, atol=1e-5)
    assert torch.allclose(out[1].running_var, var, rtol=1e-4)
    assert out[1].momentum == 0.1 and not out.training
    assert torch.equal(model[1].running_mean, torch.zeros(3))  # the original is untouched


@pytest.mark.slow
def test_batch_spread_grows_as_batch_shrinks(results):
    num = results("batch_spread").numbers
    sizes = num["sizes"]
    spreads = [num["spread"][s] for s in sizes]
    assert all(a > b for a, b in zip(spreads, spreads[1:])), spreads
    # About 1 / sqrt(batch size): the scaled spread stays within a factor of 2.
    scaled = list(num["spread_times_sqrt_size"].values())
    assert max(scaled) < 2 * min(scaled)
    dep = num["dependence"]
    assert dep["batch"][sizes[0]] > dep["batch"][sizes[-1]] > 0
    assert max(dep["group"].values()) < 1e-5
    for norm in ("batch", "group"):
        assert all(0.0 < acc <= 1.0 for acc in num["test_acc"][norm].values())


@pytest.mark.slow
def test_norm_axes_every_choice_trains(results):
    num = results("norm_axes").numbers
    runs = num["runs"]
    assert list(runs) == list(G.AXES_CHOICES)
    assert runs["batch"]["axes"] == ["NHW"] and runs["instance"]["axes"] == ["HW"]
    assert runs["layer"]["axes"] == ["CHW"] and runs["group"]["groups"] == [4]
    assert runs["none"]["axes"] == []
    for run in runs.values():
        assert len(run["history"]["epochs"]) == num["epochs"]
        assert run["test_acc"] > 3 * num["chance"]


def test_unknown_choice_is_refused():
    with pytest.raises(ValueError, match="unknown norm choice"):
        experiments.run("norm_axes", choices=("batch", "diagonal"), device="cpu")


@pytest.mark.slow
def test_smoothness_from_real_steps(results):
    num = results("smoothness").numbers
    for name in ("batch", "none"):
        run = num["runs"][name]
        steps = [r["step"] for r in run["rows"]]
        total = len(run["history"]["steps"])
        assert steps == list(range(num["every"], total + 1, num["every"]))
        for r in run["rows"]:
            assert r["grad_norm"] > 0 and r["grad_change"] > 0 and r["loss_range"] > 0
            assert math.isfinite(r["beta"])
        assert run["test_acc"] > 0.3
    assert set(num["bn_smaller"]) == {"loss_range", "grad_change", "beta"}


class _State:
    def __init__(self, model):
        self.model, self.step, self.device = model, 4, torch.device("cpu")


def test_landscape_probe_leaves_weights_and_stats_alone():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), G.Norm.batch(4), torch.nn.Flatten(), torch.nn.Linear(64, 3)
    )
    x, y = torch.randn(8, 1, 6, 6), torch.randint(0, 3, (8,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    probe = G.LandscapeProbe(x, y, etas=[0.1, 0.2], every=2)
    probe.on_step(_State(model))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())
    (row,) = probe.rows
    assert row["step"] == 4 and row["beta"] > 0
