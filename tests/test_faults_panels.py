"""A classroom at a panel: 50 rapid control changes mid-training, then checks.

Exactly one training thread may be alive at any moment, none once stopped, no hook may
stay on the model, memory must stay flat, and the panel must still train afterwards.
"""

from __future__ import annotations

import gc

import pytest
from small_data import digits_dataset
from test_faults_runtime import hooks_left, rss_mib, run_threads

pytest.importorskip("ipywidgets")

from vizlab import models  # noqa: E402
from widgets import LivePanel  # noqa: E402


def test_50_rapid_control_changes_leave_one_run_no_hooks_flat_memory(capsys):
    for leftover in run_threads():  # runs of earlier tests still winding down
        leftover.join(30)
    model = models.vgg(blocks=2, convs=1, width=8, in_channels=1, input_size=(8, 8))
    panel = LivePanel(model, digits_dataset(256, 64, 64), epochs=30, refresh=0.05)
    try:
        panel.train()
        for i in range(20):  # warm-up: first figures, kernels and allocator pools
            panel.controls["lr"].value = 1e-3 if i % 2 else 2e-3
        gc.collect()  # figures hold reference cycles: count what survives a collection
        rss_before = rss_mib()
        most_alive = 0
        for i in range(50):
            panel.controls["lr"].value = 1e-3 if i % 2 else 2e-3  # each change restarts
            most_alive = max(most_alive, len(run_threads()))
        assert panel.runs_started == 71
        assert most_alive == 1 and panel.alive
        gc.collect()
        growth = rss_mib() - rss_before
        panel.stop()
        assert panel.wait(30)
        assert run_threads() == [] and hooks_left(model) == []
        assert growth < 64, f"memory grew by {growth:.0f} MiB over 50 restarts"
        with capsys.disabled():
            print(f"\n50 panel restarts: RSS {growth:+.1f} MiB")
        panel.controls["epochs"].value = 1
        panel.train()  # still usable
        assert panel.wait(60) and panel.run.status == "done"
    finally:
        panel.close()
