"""Spatial bookkeeping while a model is built, and the errors for impossible configurations.

Families track the image size layer by layer as they build. A configuration that would pool
an image below 1x1 is refused there and then, with a message that says how deep this input
allows, instead of failing with a shape error in the middle of a forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "Size",
    "as_size",
    "check_positive",
    "fmt_size",
    "max_halvings",
    "out_size",
    "refuse_too_deep",
    "refuse_too_small",
]

Size = tuple[int, int]


def as_size(input_size: int | Sequence[int]) -> Size:
    """Turn ``32`` or ``(28, 28)`` into an ``(H, W)`` pair of positive ints."""
    if isinstance(input_size, bool):
        raise TypeError(f"input_size must be an int or (H, W), got {input_size!r}")
    if isinstance(input_size, int):
        size = (input_size, input_size)
    else:
        size = tuple(input_size)
        if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) for s in size):
            raise TypeError(f"input_size must be an int or (H, W), got {input_size!r}")
    if min(size) < 1:
        raise ValueError(f"input_size must be positive, got {input_size!r}")
    return size  # type: ignore[return-value]


def fmt_size(size: Size) -> str:
    """Format ``(H, W)`` the way the messages and tables write it: ``"8x8"``."""
    return f"{size[0]}x{size[1]}"


def _a(size: Size) -> str:
    """``"a 32x32"`` but ``"an 8x8"``: the article as the number is spoken."""
    spoken_vowel = str(size[0]).startswith("8") or size[0] in (11, 18)
    return f"{'an' if spoken_vowel else 'a'} {fmt_size(size)}"


def out_size(size: Size, kernel: int, stride: int = 1, padding: int = 0) -> Size:
    """Spatial size after a conv or pool (floor mode), the formula the lecture derives."""
    return tuple((s + 2 * padding - kernel) // stride + 1 for s in size)  # type: ignore[return-value]


def max_halvings(size: Size) -> int:
    """How many 2x2 stride-2 poolings an input survives while staying at least 1x1."""
    n, s = 0, min(size)
    while s >= 2:
        s //= 2
        n += 1
    return n


def refuse_too_deep(family: str, count: int, noun: str, size: Size, fit: int) -> None:
    """Raise if ``count`` halving stages (``noun``: "blocks", "stages") exceed the ``fit``
    this input allows; the message names the limit so the learner knows what to change."""
    if count > fit:
        raise ValueError(
            f"{family} with {count} {noun} pools {_a(size)} input below 1x1: "
            f"{fit} {noun} at most for {fmt_size(size)} input"
        )


def refuse_too_small(family: str, size: Size, min_side: int) -> None:
    """Raise if a fixed-depth family would pool this input below 1x1."""
    if min(size) < min_side:
        raise ValueError(
            f"{family} pools {_a(size)} input below 1x1: "
            f"it needs an input of at least {min_side}x{min_side}"
        )


def check_positive(where: str, **values: object) -> None:
    """Raise ``ValueError`` naming the first argument that is not an int >= 1."""
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{where} needs {name} >= 1 (an int), got {value!r}")
