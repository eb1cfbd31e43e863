"""``watch(min_interval=...)``: sampling by time as well as by step count."""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vizlab.probes import watch


def train(model: nn.Module, steps: int, pause: float = 0.0) -> None:
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        time.sleep(pause)


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def test_fast_steps_are_thinned_to_the_interval() -> None:
    net = model()
    with watch(net, every=1, min_interval=60.0) as w:
        train(net, 6)
    steps, _ = w.series("0", "mean")
    assert steps.tolist() == [0]  # step 0 is always sampled; the rest came too soon
    assert w.step == 6


def test_slow_steps_are_all_sampled_when_due() -> None:
    net = model()
    with watch(net, every=2, min_interval=0.001) as w:
        train(net, 6, pause=0.01)
    steps, _ = w.series("0", "mean")
    assert steps.tolist() == [0, 2, 4]  # every= still decides which steps are due


@pytest.mark.parametrize("bad", [0, -1.0, "0.1", True])
def test_min_interval_must_be_a_positive_number(bad) -> None:
    with pytest.raises(ValueError, match="min_interval must be a positive number"):
        watch(model(), min_interval=bad)
