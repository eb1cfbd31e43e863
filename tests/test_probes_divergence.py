"""A diverging run under watch is marked diverged by fit; the probes never crash on NaN."""

from __future__ import annotations

import torch

import vizlab
from vizlab import models
from vizlab.probes.stats import histogram


def test_histogram_of_nan_and_inf_does_not_raise():
    x = torch.tensor([0.1, float("nan"), float("inf"), float("-inf"), 0.9])
    counts = histogram(x, 0.0, 1.0, 4)
    assert counts.sum().item() == x.numel()
    assert counts[-1].item() == 2  # 0.9 and +inf in the top bin


def test_watched_fit_with_nan_weights_is_marked_diverged():
    data = vizlab.load("digits")
    model = models.vgg(blocks=2, convs=1, in_channels=1, input_size=8)

    class Poison:
        """Corrupts one conv's weights after step 5, as an exploding update would."""

        def on_step(self, state):
            if state.step == 5:
                with torch.no_grad():
                    model.features.block1.conv1.conv.weight.fill_(float("nan"))

    with vizlab.watch(model, every=1) as w:
        history = vizlab.fit(model, data, epochs=2, watch=w, callbacks=[Poison()])
    assert history.diverged and history.diverged_step == 6
    steps, means = w.series("features.block1.conv1.conv", "mean")
    assert steps.max() >= 5 and not torch.isnan(torch.tensor(means[:5])).any()
