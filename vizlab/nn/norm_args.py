"""Checking the arguments of ``Norm``: axes letters, groups and spatial size.

Each check names what was wrong and what to pass instead, because a learner choosing axes
by hand will mistype them.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AXES",
    "AFFINE_CHOICES",
    "parse_axes",
    "default_groups",
    "check_groups",
    "check_spatial",
]

AXES = ("N", "C", "H", "W")
AFFINE_CHOICES = ("channel", "element", None)


def parse_axes(axes: str | Sequence[str]) -> tuple[str, ...]:
    """Validate an axes choice and return it in canonical ``N, C, H, W`` order.

    Args:
        axes: letters from ``"NCHW"``, as a string (``"NHW"``) or a sequence
            (``("N", "H", "W")``); case does not matter.

    Raises:
        ValueError: on an empty choice, an unknown letter or a repeated letter.
    """
    if isinstance(axes, str):
        letters = list(axes)
    else:
        try:
            letters = list(axes)
        except TypeError:
            raise ValueError(
                f"axes must be letters from 'NCHW' such as ('N', 'H', 'W') or 'NHW'; got {axes!r}"
            ) from None
    if not letters:
        raise ValueError(
            "axes is empty: name at least one axis to normalize over, e.g. ('N', 'H', 'W') "
            "for batch norm or ('C', 'H', 'W') for layer norm"
        )
    upper = []
    for a in letters:
        if not isinstance(a, str) or a.upper() not in AXES:
            raise ValueError(
                f"unknown axis {a!r} in axes={axes!r}: use letters from 'NCHW' "
                "(N = batch, C = channels, H = height, W = width)"
            )
        upper.append(a.upper())
    if len(set(upper)) != len(upper):
        raise ValueError(f"axes={axes!r} names an axis twice: give each of N, C, H, W at most once")
    return tuple(a for a in AXES if a in upper)


def default_groups(channels: int) -> int:
    """Largest of 8, 4, 2, 1 that divides ``channels`` (the group-norm preset's default)."""
    return next(g for g in (8, 4, 2, 1) if channels % g == 0)


def check_groups(groups: int | None, channels: int, axes: tuple[str, ...]) -> int:
    """Return the number of groups (1 for ``None``) or raise ValueError."""
    if groups is None:
        return 1
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive int or None, got {groups!r}")
    if channels % groups:
        divisors = [d for d in range(1, channels + 1) if channels % d == 0]
        raise ValueError(
            f"groups={groups} does not divide channels={channels}; choose one of {divisors}"
        )
    if groups > 1 and "C" not in axes:
        raise ValueError(
            f"groups={groups} only matters when 'C' is normalized over, but axes={axes}; "
            "add 'C' to axes (group norm is ('C', 'H', 'W') with groups) or drop groups"
        )
    return groups


def check_spatial(spatial: Sequence[int] | None) -> tuple[int, int] | None:
    """Return ``spatial`` as ``(H, W)`` ints, or ``None``; raise ValueError otherwise."""
    if spatial is None:
        return None
    try:
        h, w = (int(s) for s in spatial)
    except (TypeError, ValueError):
        raise ValueError(f"spatial must be (H, W) or None, got {spatial!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"spatial sizes must be positive, got {spatial!r}")
    return (h, w)
