"""Turning the plain data the plots accept into arrays they can draw.

Plots take records (``(step, layer, kind, stat, value)`` rows, as probes produce them),
dicts and arrays. These helpers group records into series and sanitize values so a
diverged run (NaN, inf) or an empty run draws an empty or gappy figure instead of raising.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["group", "finite", "as_float", "bounds", "thin", "as_image", "latest_value"]

Series = dict[str, dict[str, tuple[np.ndarray, list[Any]]]]


def group(records: Iterable[Sequence[Any]], kind: str | None = None) -> Series:
    """``{layer: {stat: (steps, values)}}`` from records, keeping first-seen layer order.

    Args:
        records: rows ``(step, layer, kind, stat, value)``; ``Record`` tuples or plain tuples.
        kind: keep only rows of this kind (``None`` keeps all but meta rows).
    """
    raw: dict[str, dict[str, tuple[list[int], list[Any]]]] = {}
    for row in records:
        if len(row) != 5:
            raise ValueError(
                f"a record is (step, layer, kind, stat, value); got {len(row)} fields: {row!r}"
            )
        step, layer, rkind, stat, value = row
        if rkind == "meta" or (kind is not None and rkind != kind):
            continue
        steps, values = raw.setdefault(layer, {}).setdefault(stat, ([], []))
        steps.append(int(step))
        values.append(value)
    return {
        layer: {stat: (np.asarray(s, dtype=np.int64), v) for stat, (s, v) in stats.items()}
        for layer, stats in raw.items()
    }


def as_float(values: Any) -> np.ndarray:
    """A float array with infinities turned into NaN (so they draw as gaps)."""
    arr = np.array(values, dtype=np.float64, copy=True, ndmin=1)
    arr[~np.isfinite(arr)] = np.nan
    return arr


def finite(values: Any) -> np.ndarray:
    """The finite entries of ``values``, flattened."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)]


def bounds(values: Any, *, positive: bool = False) -> tuple[float, float] | None:
    """(min, max) of the finite (and, for log axes, positive) values, or None if there are none."""
    arr = finite(values)
    if positive:
        arr = arr[arr > 0]
    if arr.size == 0:
        return None
    return float(arr.min()), float(arr.max())


def thin(x: np.ndarray, y: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep about ``width`` points by striding, always keeping the first and the newest.

    A screen cannot show more than one point per pixel column, and drawing fewer points is
    what keeps a live update cheap however long the run.
    """
    n = len(x)
    width = max(int(width), 2)
    if n <= width:
        return x, y
    stride = -(-n // width)
    idx = np.arange(0, n, stride)
    if idx[-1] != n - 1:
        idx = np.append(idx, n - 1)
    return x[idx], y[idx]


def as_image(arr: Any) -> np.ndarray:
    """An image array matplotlib can show: (H, W) or (H, W, 3|4), channels-first accepted.

    Shape:
        in: (H, W), (H, W, C) or (C, H, W) with C in {1, 3, 4}.
        out: (H, W) or (H, W, C) with C in {3, 4}, floats scaled into [0, 1] when colour.
    """
    img = np.asarray(arr, dtype=np.float64)
    if img.ndim == 3 and img.shape[0] in (1, 3, 4) and img.shape[-1] not in (1, 3, 4):
        img = np.moveaxis(img, 0, -1)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        return img
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise ValueError(
            f"an image must be (H, W), (H, W, C) or (C, H, W) with C in 1, 3, 4; "
            f"got shape {img.shape}"
        )
    ok = finite(img)
    lo, hi = (float(ok.min()), float(ok.max())) if ok.size else (0.0, 1.0)
    scaled = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    return np.nan_to_num(scaled, nan=0.0).clip(0.0, 1.0)


def latest_value(series: Mapping[str, tuple[np.ndarray, list[Any]]], stat: str) -> Any:
    """The newest value of one stat, or None if it was never recorded."""
    found = series.get(stat)
    if not found or not found[1]:
        return None
    return found[1][-1]
