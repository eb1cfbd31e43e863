"""What the dropout topics share: the result a topic returns when it is stopped."""

from __future__ import annotations

from vizlab.experiments.base import Result


def stopped_result(topic: str, rows: tuple[str, ...], scale: str, done: dict) -> Result:
    """The ``Result`` of a topic stopped early: ``{"stopped": True}`` plus what was done."""
    return Result(topic, rows, scale, {"stopped": True, **done}, {}, {})
