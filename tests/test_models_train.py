"""Every family learns: a short hand-written Adam loop on the real 8x8 digits beats chance.

Digits ship with scikit-learn, so nothing is downloaded. The loops are deliberately short
(a few hundred steps at most): the point is "above chance", not a good score. Families sized
for 32x32 images are also trained on the digits upsampled to 32x32 RGB.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from vizlab import models

CHANCE = 0.1


@pytest.fixture(scope="module")
def digits() -> dict[str, torch.Tensor]:
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16  # (N, 1, 8, 8)
    y = torch.tensor(data.target, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    train, test = perm[:1400], perm[1400:]
    return {"x": x, "y": y, "train": train, "test": test}


pytestmark = pytest.mark.usefixtures("one_thread")


def upsample(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, 8, 8) digits as (N, 3, 32, 32) images, for families sized for CIFAR."""
    return F.interpolate(x, size=32, mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)


def train_and_score(
    model: torch.nn.Module, x: torch.Tensor, digits, *, steps: int, lr: float
) -> float:
    """Adam on random minibatches of 64 training digits; accuracy on the held-out ones."""
    y, train, test = digits["y"], digits["train"], digits["test"]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(1)
    model.train()
    for _ in range(steps):
        idx = train[torch.randint(len(train), (64,), generator=gen)]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return (model(x[test]).argmax(dim=1) == y[test]).float().mean().item()


# (family, builder kwargs, steps, lr): small configurations of each family on 1x8x8 digits.
CASES = [
    ("mlp", dict(hidden=(64,)), 100, 3e-3),
    ("lenet", dict(), 300, 3e-3),  # sigmoid, as in 1998: slow but it does learn
    ("vgg", dict(blocks=3, convs=2), 100, 3e-3),
    ("vgg", dict(blocks=3, convs=2, norm="batch", residual=True), 100, 3e-3),
    ("nin", dict(), 200, 1e-3),
    ("googlenet", dict(), 100, 3e-3),
    ("resnet", dict(depth=8), 100, 3e-3),
    ("resnet", dict(depth=8, residual=False), 100, 3e-3),
    ("resnet", dict(depth=11, bottleneck=True, width=8), 100, 3e-3),
    ("densenet", dict(layers=3), 100, 3e-3),
    ("convnext", dict(depths=(1, 1, 1)), 100, 3e-3),
]


@pytest.mark.parametrize(
    ("name", "kwargs", "steps", "lr"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_family_learns_digits(digits, name, kwargs, steps, lr):
    torch.manual_seed(0)
    model = models.build(name, in_channels=1, input_size=8, **kwargs)
    accuracy = train_and_score(model, digits["x"], digits, steps=steps, lr=lr)
    assert accuracy > 3 * CHANCE, f"{name} {kwargs}: accuracy {accuracy:.2f}"


@pytest.mark.slow
@pytest.mark.parametrize(("name", "steps", "lr"), [("alexnet", 120, 1e-3), ("lenet", 200, 3e-3)])
def test_family_learns_digits_upsampled_to_32x32(digits, name, steps, lr):
    torch.manual_seed(0)
    model = models.build(name, in_channels=3, input_size=32)
    accuracy = train_and_score(model, upsample(digits["x"]), digits, steps=steps, lr=lr)
    assert accuracy > 3 * CHANCE, f"{name} on 32x32: accuracy {accuracy:.2f}"


def test_sigmoid_lenet_gets_much_smaller_early_gradients_than_relu(digits):
    """Why AlexNet switched: at init, sigmoid layers shrink the gradient on its way down."""

    def first_layer_grad(activation: str) -> float:
        torch.manual_seed(0)
        model = models.lenet(activation=activation, in_channels=1, input_size=8, init="torch")
        x, y = digits["x"][:256], digits["y"][:256]
        F.cross_entropy(model(x), y).backward()
        return model.conv1.conv.weight.grad.norm().item()

    assert first_layer_grad("sigmoid") < first_layer_grad("relu") / 10
