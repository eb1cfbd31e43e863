"""Shared pytest fixtures."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():
    """Run a test single-threaded, then restore torch's thread count.

    Tests that push tiny tensors gain nothing from a second intra-op thread and pay its
    wake-up latency on every op (milliseconds on a busy 2-core machine). Modules opt in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
