"""Out of device memory: a clear message that suggests a smaller batch, and nothing stuck.

A CPU machine cannot run out of GPU memory on demand, so a layer raises torch's own
``OutOfMemoryError`` at a chosen step, exactly where a real CUDA allocation would fail.
"""

from __future__ import annotations

import pytest
import torch
from small_data import digits_dataset
from torch import nn

from vizlab.train import Run, fit


class OOMAt(nn.Module):
    """Identity that raises torch's out-of-memory error from its ``fail_at``-th forward on."""

    def __init__(self, fail_at: int | None) -> None:
        super().__init__()
        self.fail_at, self.calls = fail_at, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return x


def net(fail_at: int | None) -> nn.Sequential:
    return nn.Sequential(OOMAt(fail_at), nn.Flatten(), nn.Linear(64, 10))


def test_fit_says_what_to_change():
    with pytest.raises(MemoryError, match=r"batch_size=32.*try batch_size=16") as info:
        # forward 1 is fit's shape check before training, so forward 4 is step 3
        fit(net(4), digits_dataset(96, 32, 32), epochs=1, batch_size=32, device="cpu")
    assert "step 3" in str(info.value)
    assert isinstance(info.value.__cause__, torch.OutOfMemoryError)


def test_a_background_run_reports_it_and_the_next_run_works():
    data = digits_dataset(96, 32, 32)
    run = Run(fit, net(2), data, epochs=1, batch_size=32, device="cpu").start()
    assert run.join(60) and run.status == "failed"
    assert isinstance(run.error, MemoryError) and "try batch_size=16" in str(run.error)
    again = Run(fit, net(None), data, epochs=1, batch_size=16, device="cpu").start()
    assert again.join(60) and again.status == "done"


def test_a_panel_shows_it_in_place_and_stays_usable():
    pytest.importorskip("ipywidgets")
    from widgets import LivePanel

    model = net(2)
    panel = LivePanel(model, digits_dataset(96, 32, 32), epochs=1, batch_size=32, refresh=0.05)
    try:
        panel.train()
        assert panel.wait(60) and panel.run.status == "failed"
        assert "ran out of memory" in panel.error_text and "batch_size=16" in panel.error_text
        model[0].fail_at = None  # the learner picks a setting that fits
        panel.controls["batch_size"].value = 16
        panel.train()
        assert panel.wait(60) and panel.run.status == "done"
        assert panel.error_text == ""
    finally:
        panel.close()
