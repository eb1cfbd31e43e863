"""Shared pytest fixtures."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def single_threaded_session():
    """The whole suite runs torch single-threaded.

    Test models are tiny: a second intra-op thread buys nothing and, on a shared 2-core
    machine, its spin-waiting can make a test ten times slower. ``fit``'s own thread setting
    only ever lowers the count, so it keeps this one.
    """
    from vizlab.device import configure_threads

    configure_threads()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def one_thread():
    """Run a test single-threaded, then restore torch's thread count.

    Tests that push tiny tensors gain nothing from a second intra-op thread and pay its
    wake-up latency on every op (milliseconds on a busy 2-core machine). Modules opt in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    from vizlab.device import configure_threads

    configure_threads()  # fit's once-per-process setting, done now so it cannot undo ours
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
