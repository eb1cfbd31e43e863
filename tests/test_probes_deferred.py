"""Layer outputs measured when the forward ends instead of in each layer's hook.

After the first sampled step, a watch measures the outputs that were not changed in place
later in the forward once the forward is over (see ``layer.measure_deferred``). These
tests check the numbers over several steps against the tensors the test captures itself,
with outputs changed in place always, never, and only at some steps.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vizlab.probes import watch

pytestmark = pytest.mark.usefixtures("one_thread")


class Capture:
    """Each step's output (as the layer returned it) and output gradient of some modules."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        self.out: dict[str, list[torch.Tensor]] = {n: [] for n in names}
        self.grad: dict[str, list[torch.Tensor]] = {n: [] for n in names}
        modules = dict(model.named_modules())
        self.handles = [modules[n].register_forward_hook(self._hook(n)) for n in names]

    def _hook(self, name):
        def hook(module, args, out):
            self.out[name].append(out.detach().clone())
            out.register_hook(lambda g: self.grad[name].append(g.detach().clone()))

        return hook

    def close(self) -> None:
        for h in self.handles:
            h.remove()


class InPlaceAt(nn.Module):
    """Doubles its input in place at the given calls, and returns it."""

    def __init__(self, calls: set[int]) -> None:
        super().__init__()
        self.calls, self.count = calls, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.count in self.calls:
            x.mul_(2.0)
        self.count += 1
        return x


def train(model: nn.Module, x, y, steps: int, **kw):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with watch(model, every=1, what=("activations", "gradients"), **kw) as w:
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return w


def test_deferred_outputs_match_the_layers_own_over_steps() -> None:
    # The conv's output is changed in place by the ReLU after it, which returns the same
    # tensor object: the conv must show its own output and the gradient reaching it, the
    # ReLU its own, so the conv stays measured in its hook. Every other layer is deferred
    # after step 0.
    torch.manual_seed(11)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(6, 4, 3, padding=1),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 5),
    )
    x, y = torch.randn(4, 3, 6, 6), torch.randint(0, 5, (4,))
    names = ["0", "1", "2", "3", "5"]
    cap = Capture(model, names)
    w = train(model, x, y, steps=3, layers=names)
    cap.close()
    assert {p.name: p.defer for p in w._probes} == {
        "0": False,
        "1": True,
        "2": True,
        "3": True,
        "5": True,
    }
    for n in names:
        steps, mean = w.series(n, "mean")
        _, zeros = w.series(n, "zeros")
        _, grad = w.series(n, "act_grad_norm")
        assert steps.tolist() == [0, 1, 2], n
        for k in range(3):
            out, g = cap.out[n][k], cap.grad[n][k]
            assert mean[k] == pytest.approx(out.mean().item(), rel=1e-4, abs=1e-6), (n, k)
            assert zeros[k] == pytest.approx((out == 0).float().mean().item(), abs=1e-6)
            assert grad[k] == pytest.approx(g.norm().item(), rel=1e-4), (n, k)
    assert torch.equal(cap.grad["0"][0] != 0, cap.out["0"][0] > 0)  # the conv's own gradient


def test_an_output_changed_in_place_only_later_loses_that_step_and_no_more() -> None:
    # The linear layer's output is left alone at steps 0 and 1 (so it is deferred), then
    # doubled in place by the next module from step 2 on: step 2's values are gone when
    # the forward ends, and from step 3 on the layer is measured in its hook again.
    torch.manual_seed(12)
    model = nn.Sequential(nn.Linear(3, 4), InPlaceAt({2, 3, 4}), nn.Linear(4, 2))
    x, y = torch.randn(6, 3), torch.randint(0, 2, (6,))
    cap = Capture(model, ["0"])
    w = train(model, x, y, steps=5, layers=["0", "2"])
    cap.close()
    steps, mean = w.series("0", "mean")
    assert steps.tolist() == [0, 1, 3, 4]
    want = [cap.out["0"][k].mean().item() for k in (0, 1, 3, 4)]
    assert mean.tolist() == pytest.approx(want, rel=1e-5)
    steps, grad = w.series("0", "act_grad_norm")
    assert steps.tolist() == [0, 1, 3, 4]
    assert grad.tolist() == pytest.approx([cap.grad["0"][k].norm().item() for k in (0, 1, 3, 4)])
    assert w.series("2", "mean")[0].tolist() == [0, 1, 2, 3, 4]  # the other layer: every step
