"""One contract for every probe kind on every kind of model.

Each probe kind is run on four models (a vizlab VGG with batch norm and dropout, a vizlab
ResNet, a foreign ``nn.Sequential`` CNN and a foreign module with a functional residual and
torch's own BatchNorm2d) with a hand-written training loop, and must: record the expected
stats with the expected shapes, leave the model's outputs and gradients bit-for-bit
unchanged, leave no hook behind (also after an exception), and sample exactly the steps
``every=`` asks for, ignoring eval-mode forwards.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vizlab import models
from vizlab.nn import Dropout, Norm, Residual
from vizlab.probes import KINDS, Record, select_layers, watch

BINS = 12


pytestmark = pytest.mark.usefixtures("one_thread")


class FunctionalResidual(nn.Module):
    """A foreign net: ``x + f(x)`` written inline, with torch's BatchNorm2d."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.f = nn.Sequential(nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6), nn.Sigmoid())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.stem(x))
        h = h + self.f(h)
        return self.head(self.pool(h).flatten(1))


def build(name: str) -> nn.Module:
    torch.manual_seed(0)
    if name == "vgg":
        return models.vgg(blocks=2, convs=1, width=4, norm="batch", dropout=0.2, input_size=8)
    if name == "resnet":
        return models.resnet(depth=8, width=4, input_size=8)
    if name == "sequential":
        return nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=1),
            nn.Tanh(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, 10),
        )
    return FunctionalResidual()


MODELS = ("vgg", "resnet", "sequential", "functional")
WHATS = [(k,) for k in KINDS] + [KINDS]


def expected_stats(module: nn.Module, what: tuple[str, ...]) -> set[str]:
    """The stats a layer must record, written from the issue's list (not from the code)."""
    own = list(module.parameters(recurse=False))
    out: set[str] = set()
    if "activations" in what:
        out |= {"mean", "std", "zeros", "hist", "hist_range"}
        if isinstance(module, (nn.Sigmoid, nn.Tanh)):
            out.add("saturated")
        if isinstance(module, Residual):
            out |= {"var_branch", "var_skip", "var_ratio"}
    if "gradients" in what:
        out.add("act_grad_norm")
        if own:
            out.add("param_grad_norm")
        if isinstance(module, Residual):
            out |= {"grad_skip", "grad_branch", "grad_total"}
    if "norms" in what and isinstance(module, (Norm, nn.BatchNorm2d)):
        out |= {"batch_mean", "batch_var", "running_mean", "running_var", "alpha", "beta"}
    if "dropout" in what and isinstance(module, Dropout):
        out |= {"kept", "mask"}
    if "weights" in what and own:
        out |= {"weight_norm", "near_zero", "weight_hist", "weight_hist_range"}
    return out


def train_steps(model: nn.Module, steps: int, *, seed: int = 1, eval_every: int = 0) -> list:
    """A plain loop: returns per step the logits and every parameter's gradient."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(6, 3, 8, 8, generator=gen)
    y = torch.randint(0, 10, (6,), generator=gen)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    torch.manual_seed(seed)
    seen = []
    for step in range(steps):
        model.train()
        opt.zero_grad()
        logits = model(x)
        F.cross_entropy(logits, y).backward()
        seen.append((logits.detach().clone(), [p.grad.clone() for p in model.parameters()]))
        opt.step()
        if eval_every and step % eval_every == 0:
            model.eval()
            with torch.no_grad():
                model(x)
    return seen


def hooks_left(model: nn.Module) -> list[str]:
    left = []
    for name, m in model.named_modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks"):
            if getattr(m, attr):
                left.append(f"{name or '<root>'}.{attr}")
    for name, p in model.named_parameters():
        if p._post_accumulate_grad_hooks or p._backward_hooks:
            left.append(f"{name} param hook")
    return left


@pytest.mark.parametrize("what", WHATS, ids=lambda w: "all" if len(w) > 1 else w[0])
@pytest.mark.parametrize("name", MODELS)
def test_contract(name: str, what: tuple[str, ...]) -> None:
    model = build(name)
    twin = copy.deepcopy(model)
    with watch(model, every=2, what=what, bins=BINS) as w:
        assert w.attached
        watched = train_steps(model, 5, eval_every=2)
    plain = train_steps(twin, 5, eval_every=2)

    # the model computes exactly what it computes unwatched
    for (logits_a, grads_a), (logits_b, grads_b) in zip(watched, plain):
        assert torch.equal(logits_a, logits_b)
        assert all(torch.equal(a, b) for a, b in zip(grads_a, grads_b))

    # nothing is left behind
    assert not w.attached
    assert hooks_left(model) == []

    # every= counted training forwards only; records sit exactly at the sampled steps
    assert w.step == 5
    rows = w.records()
    modules = dict(model.named_modules())
    if not any(expected_stats(modules[layer], what) for layer in w.layers):
        assert rows == []  # e.g. dropout on a model without vizlab dropout layers
        return
    assert all(isinstance(r, Record) for r in rows)
    assert {r.step for r in rows} == {0, 2, 4}

    # expected layers and stats, with the expected shapes
    recorded: dict[str, set[str]] = {}
    for r in rows:
        recorded.setdefault(r.layer, set()).add(r.stat)
        assert r.kind in (*KINDS, "residual")
    for layer in w.layers:
        want = expected_stats(modules[layer], what)
        assert recorded.get(layer, set()) == want, layer
        assert set(w.stats()[layer]) == want
    for r in rows:
        _check_shape(r, modules[r.layer])


def _check_shape(r: Record, module: nn.Module) -> None:
    if r.stat in ("hist", "weight_hist"):
        assert r.value.shape == (BINS,)
        assert r.value.sum() == pytest.approx(1.0, abs=1e-5)
    elif r.stat.endswith("hist_range"):
        assert r.value.shape == (2,) and r.value[0] < r.value[1]
    elif r.kind == "norms":
        channels = getattr(module, "num_features", None) or module.channels
        assert r.value.shape == (channels,)
    elif r.stat == "mask":
        assert r.value.dtype == bool and r.value.shape[0] <= 8 and r.value.shape[1] <= 256
    else:
        assert isinstance(r.value, float) and np.isfinite(r.value), r


@pytest.mark.parametrize("name", MODELS)
def test_no_hook_left_after_an_exception_mid_forward(name: str) -> None:
    model = build(name)

    def boom(module, args, out):
        raise RuntimeError("stop in the middle of a step")

    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    handle = last.register_forward_hook(boom)
    with pytest.raises(RuntimeError, match="middle of a step"):
        with watch(model, every=1):
            model(torch.rand(4, 3, 8, 8))
    handle.remove()
    assert hooks_left(model) == []


def test_exception_between_forward_and_backward_leaves_no_tensor_hook() -> None:
    model = build("vgg")
    x = torch.rand(4, 3, 8, 8)
    with pytest.raises(KeyError, match="stopped"):
        with watch(model, every=1):
            model(x)  # tensor hooks registered on this step's outputs; no backward follows
            raise KeyError("stopped")
    assert hooks_left(model) == []
    model(x).sum().backward()  # the old graph's hooks are gone: nothing fires, nothing fails


def test_every_with_a_hand_written_loop_and_eval_passes() -> None:
    model = build("sequential")
    with watch(model, every=3, what=("activations",)) as w:
        train_steps(model, 10, eval_every=1)  # an eval forward after every step
    steps, means = w.series("0", "mean")
    assert steps.tolist() == [0, 3, 6, 9]
    assert means.shape == (4,)
    assert w.step == 10


def test_rewatching_replaces_the_old_watch() -> None:
    model = build("vgg")
    old = watch(model, every=1).attach()
    new = watch(model, every=1).attach()
    assert not old.attached and new.attached
    train_steps(model, 2)
    new.close()
    assert hooks_left(model) == []
    assert {r.step for r in new.records()} == {0, 1}
    assert {r.step for r in old.records()} == set()


def test_two_watches_can_coexist() -> None:
    model = build("vgg")
    a = watch(model, every=1, what=("weights",)).attach()
    b = watch(model, every=2, what=("activations",), replace=False).attach()
    assert a.attached and b.attached
    train_steps(model, 3)
    a.close()
    b.close()
    assert hooks_left(model) == []
    assert {r.step for r in a.records()} == {0, 1, 2}
    assert {r.step for r in b.records()} == {0, 2}


def test_series_latest_and_flush() -> None:
    model = build("vgg")
    w = watch(model, every=1).attach()
    train_steps(model, 2)
    w.flush()
    layer = "features.block1.conv1.act"
    steps, zeros = w.series(layer, "zeros", kind="activations")
    assert steps.tolist() == [0, 1] and zeros.shape == (2,)
    hist_steps, hists = w.series(layer, "hist")
    assert hists.shape == (2, 40)
    assert w.latest()[layer]["zeros"] == zeros[-1]
    assert w.latest_step == 1
    with pytest.raises(KeyError, match="records no 'kept'"):
        w.series(layer, "kept")
    with pytest.raises(KeyError, match="not watched"):
        w.series("nope", "mean")
    w.close()
    w.close()  # closing twice is fine


def test_layer_selection() -> None:
    model = build("vgg")
    names = [n for n, _ in model.named_modules()]
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert [n for n, _ in select_layers(model, "head")] == ["head"]
    assert [n for n, _ in select_layers(model, "features.*.conv")] == convs
    assert [n for n, _ in select_layers(model, nn.Conv2d)] == convs
    both = select_layers(model, (nn.Conv2d, nn.Linear))
    assert [n for n, _ in both] == convs + ["head"]
    pred = select_layers(model, lambda name, m: name.endswith("hook_post_act"))
    assert [n for n, _ in pred] == [n for n in names if n.endswith("hook_post_act")]
    mixed = select_layers(model, ["head", nn.Conv2d])
    assert [n for n, _ in mixed] == convs + ["head"]
    default = [n for n, _ in select_layers(model)]
    assert "gap" in default and "flatten" not in default
    assert not any(n.endswith(("hook_pre_norm", "hook_mask")) for n in default)
    assert "features" not in default and "" not in default


def test_default_selection_includes_residual_blocks() -> None:
    model = build("resnet")
    default = dict(select_layers(model))
    blocks = [n for n, m in model.named_modules() if isinstance(m, Residual)]
    assert blocks and all(b in default for b in blocks)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"what": ("activations", "colours")}, r"unknown probe kind.*activations"),
        ({"every": 0}, "every must be an int >= 1"),
        ({"bins": 1}, "bins must be an int >= 2"),
        ({"layers": "features.blok1.*"}, "no layer of Sequential matches.*Available layers"),
        ({"layers": "head2"}, "head"),
        ({"layers": nn.LSTM}, "no layer"),
        ({"mask_sample": (8,)}, "mask_sample must be"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        watch(build("vgg"), **kwargs)


def test_bad_selector_type() -> None:
    with pytest.raises(TypeError, match="cannot select layers with 3"):
        select_layers(build("vgg"), 3)


def test_fit_attaches_counts_its_steps_and_closes() -> None:
    from vizlab import fit
    from vizlab.data import Dataset, Split

    gen = torch.Generator().manual_seed(0)

    def split(n: int) -> Split:
        return Split(
            torch.rand(n, 3, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen)
        )

    data = Dataset("toy", [str(i) for i in range(10)], split(48), split(16), split(16))
    model = build("vgg")
    w = watch(model, every=2)
    history = fit(model, data, epochs=2, batch_size=16, watch=w, device="cpu")
    torch.set_num_threads(1)  # fit sets the thread count for training; undo it for the tests
    assert not w.attached and hooks_left(model) == []
    assert w.step == 6  # 3 training steps per epoch; validation passes are not steps
    assert {r.step for r in w.records() if r.kind != "meta"} == {0, 2, 4}
    assert history.epochs == [1, 2]


def test_trace_between_steps_does_not_disturb_the_residual_split() -> None:
    from vizlab.probes import trace

    model = build("resnet")
    block = next(m for m in model.modules() if isinstance(m, Residual))
    x, y = torch.rand(6, 3, 8, 8), torch.randint(0, 10, (6,))
    with watch(model, every=1, what=("gradients",)) as w:
        model.train()
        F.cross_entropy(model(x), y).backward()
        want = block.grad_skip.norm().item()
        trace(model, torch.rand(6, 3, 8, 8), y, train=True)  # overwrites block.grad_skip
        model(x)  # the next step is when the watch would have read the split
    name = next(n for n, m in model.named_modules() if m is block)
    steps, skip = w.series(name, "grad_skip")
    assert steps[0] == 0 and skip[0] == pytest.approx(want, rel=1e-5)
