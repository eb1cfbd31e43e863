"""Checks shared by the headless panel tests (tests/test_widgets_*.py).

``PNG`` is the signature every rendered picture in ``panel.figures`` starts with, and
``runs_alive()`` counts the panel training threads (``vizlab.train.Run`` names its thread
``vizlab-run``) still running, so a test can assert that a restart left exactly one run.
"""

from __future__ import annotations

import threading

PNG = b"\x89PNG"


def runs_alive() -> int:
    """How many ``vizlab-run`` training threads are alive right now."""
    return sum(t.name == "vizlab-run" and t.is_alive() for t in threading.enumerate())
