"""Rates that change during training: early and late dropout, and ``set_progress``.

Liu et al. (2023), "Dropout Reduces Underfitting", found that dropout helps an *underfitting*
model when it is used only at the start of training (early dropout: it lowers the variance of
the mini-batch gradients while the model finds its way), and helps an *overfitting* model
when it is switched on only later (late dropout). A ``Schedule`` maps the fraction of training
done, ``progress`` in [0, 1], to the rate to use now; the training loop announces progress to
every scheduled module with ``set_progress(model, progress)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

__all__ = [
    "Schedule",
    "ScheduleSpec",
    "Scheduled",
    "set_progress",
    "check_rate",
    "resolve_schedule",
]

_KINDS = ("constant", "early", "late")


def check_rate(p: float, what: str = "p") -> float:
    """Return ``p`` as a float if it is a valid drop rate in [0, 1), else raise ValueError."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p < 1.0:
        raise ValueError(
            f"{what} must be a drop probability in [0, 1), got {p!r} "
            "(p = 1 would drop everything and make the 1/(1-p) rescaling infinite)"
        )
    return float(p)


@dataclass(frozen=True)
class Schedule:
    """When a rate is active during training.

    Attributes:
        kind: ``"constant"`` (always ``p``), ``"early"`` (``p`` until ``switch``, then 0) or
            ``"late"`` (0 until ``switch``, then ``p``).
        switch: fraction of training, in [0, 1], at which an early schedule stops and a late
            one starts.
    """

    kind: str = "constant"
    switch: float = 0.25

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"Schedule kind must be one of {_KINDS}, got {self.kind!r}")
        if not 0.0 <= self.switch <= 1.0:
            raise ValueError(
                f"Schedule switch is a fraction of training in [0, 1], got {self.switch!r}"
            )

    @classmethod
    def early(cls, until: float = 0.25) -> Schedule:
        """Active for the first ``until`` fraction of training, off afterwards."""
        return cls("early", until)

    @classmethod
    def late(cls, start: float = 0.25) -> Schedule:
        """Off for the first ``start`` fraction of training, active afterwards."""
        return cls("late", start)

    def rate(self, p: float, progress: float) -> float:
        """The rate to use at ``progress`` for a nominal rate ``p``."""
        if self.kind == "early":
            return p if progress < self.switch else 0.0
        if self.kind == "late":
            return p if progress >= self.switch else 0.0
        return p


ScheduleSpec = None | str | Schedule | Callable[[float], float]


def resolve_schedule(schedule: ScheduleSpec) -> Schedule | Callable[[float], float]:
    """Turn a ``schedule=`` argument into a ``Schedule`` or a callable ``progress -> rate``."""
    if schedule is None:
        return Schedule()
    if isinstance(schedule, str):
        if schedule not in _KINDS:
            raise ValueError(
                f"schedule must be None, one of {_KINDS}, a Schedule or a callable "
                f"progress -> rate; got {schedule!r}"
            )
        return Schedule(schedule)
    if isinstance(schedule, Schedule) or callable(schedule):
        return schedule
    raise ValueError(
        f"schedule must be None, one of {_KINDS}, a Schedule or a callable progress -> rate; "
        f"got {schedule!r}"
    )


class Scheduled:
    """Mixin for modules whose rate ``p`` follows a schedule over training progress.

    The class using it sets ``self.p``, ``self.schedule`` (from ``resolve_schedule``) and
    ``self.progress``.
    """

    p: float
    progress: float
    schedule: Schedule | Callable[[float], float]

    @property
    def rate(self) -> float:
        """The drop rate in effect now (``p`` filtered through the schedule)."""
        if isinstance(self.schedule, Schedule):
            return self.schedule.rate(self.p, self.progress)
        return check_rate(self.schedule(self.progress), "the schedule's rate")

    def set_progress(self, progress: float) -> None:
        """Record how far training is (fraction in [0, 1])."""
        self.progress = _check_progress(progress)


def _check_progress(progress: float) -> float:
    if isinstance(progress, bool) or not isinstance(progress, numbers.Real):
        raise ValueError(f"progress must be a number in [0, 1], got {progress!r}")
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress is the fraction of training done, in [0, 1]; got {progress!r}")
    return float(progress)


def set_progress(model: nn.Module, progress: float) -> int:
    """Tell every scheduled module in ``model`` how far training is.

    Args:
        model: any module; its submodules (and itself) that follow a schedule are updated.
        progress: fraction of training done, in [0, 1] (e.g. ``step / total_steps``).

    Returns:
        How many modules were updated (0 means the model has no scheduled module).
    """
    progress = _check_progress(progress)
    count = 0
    for module in model.modules():
        if isinstance(module, Scheduled):
            module.set_progress(progress)
            count += 1
    return count
