"""The settings of a watch, checked when it is made.

A watch runs inside someone else's training loop, where a bad setting would only show up
as an odd plot much later; so every setting is checked up front, and each error message says
what was wrong and what would be accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["KINDS", "check_what", "check_int", "check_positive", "check_mask_sample"]

KINDS = ("activations", "gradients", "norms", "dropout", "weights")


def check_what(what: Sequence[str]) -> tuple[str, ...]:
    """The requested kinds in canonical order; one kind may be given as a plain string."""
    kinds = (what,) if isinstance(what, str) else tuple(what)
    if not kinds:
        raise ValueError(f"what is empty: name at least one probe kind from {KINDS}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown probe kind(s) {unknown or kinds!r}; choose from {KINDS}")
    return tuple(k for k in KINDS if k in kinds)


def check_int(name: str, value: object, low: int, why: str) -> int:
    """``value`` if it is an int (not a bool) of at least ``low``; ``why`` goes into the
    error message, to say what the bound means."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low} ({why}), got {value!r}")
    return value


def check_mask_sample(mask_sample: object) -> tuple[int, int]:
    """``(rows, units)`` of the dropout-mask sample, two positive ints."""
    ok = (
        isinstance(mask_sample, (tuple, list))
        and len(mask_sample) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in mask_sample)
    )
    if not ok:
        raise ValueError(
            f"mask_sample must be (rows, units), two positive ints such as (8, 256); "
            f"got {mask_sample!r}"
        )
    return int(mask_sample[0]), int(mask_sample[1])


def check_positive(name: str, value: Any, example: str = "a threshold such as 1e-3") -> Any:
    """``value`` if it is a number greater than zero (a threshold such as ``near_zero``);
    ``example`` goes into the error message, to say what kind of number is meant."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number ({example}), got {value!r}")
    return value
