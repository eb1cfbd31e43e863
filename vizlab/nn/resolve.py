"""``resolve_norm``: turn any ``norm=`` argument into one way of building a norm layer.

Model builders take ``norm=`` in many spellings so that a learner can write what they mean:
``"batch"``, ``("C", "H", "W")``, ``"NHW"``, ``Norm.group``, ``partial(Norm, axes="HW")`` or
even ``nn.BatchNorm2d``. Resolving all of them to a single factory ``make(channels, spatial)``
keeps the model code free of special cases.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from vizlab.nn.norm import Norm
from vizlab.nn.norm_args import AXES, parse_axes

__all__ = ["resolve_norm", "NormFactory", "NORM_PRESETS"]

NormFactory = Callable[..., nn.Module]
NORM_PRESETS = ("batch", "layer", "instance", "group")

_CHOICES = (
    "None or 'none'; a preset name ('batch', 'layer', 'instance', 'group'); an axes tuple "
    "such as ('N', 'H', 'W') or a string such as 'NHW'; a Norm preset such as Norm.batch; "
    "or a callable taking channels (and optionally spatial=) that returns a module"
)


def resolve_norm(spec: Any) -> NormFactory | None:
    """Return a factory ``make(channels, spatial=None) -> nn.Module``, or ``None`` for no norm.

    Args:
        spec: ``None`` or ``"none"`` (no normalization); a preset name ``"batch"``,
            ``"layer"``, ``"instance"`` or ``"group"``; an axes choice like
            ``("N", "H", "W")`` or ``"NHW"`` (built as ``Norm(channels, axes)``); a ``Norm``
            preset such as ``Norm.batch``; or any callable taking the channel count, such as
            ``functools.partial(Norm, axes="HW")`` or ``nn.BatchNorm2d``. The spatial size
            is passed as ``spatial=`` only to callables that accept that keyword.

    Returns:
        ``None`` when no norm is wanted, else ``make(channels, spatial=None)``.

    Raises:
        ValueError: for anything else (including a module *instance*: one module cannot be
            shared by every layer, so pass a factory instead).
    """
    if spec is None or (isinstance(spec, str) and spec.lower() == "none"):
        return None
    if isinstance(spec, str) and spec.lower() in NORM_PRESETS:
        preset = getattr(Norm, spec.lower())
        return functools.partial(_call_with_spatial, preset, True)
    if _looks_like_axes(spec):
        axes = parse_axes(spec)
        return functools.partial(_call_with_spatial, functools.partial(Norm, axes=axes), True)
    if isinstance(spec, nn.Module):
        raise ValueError(
            f"norm={type(spec).__name__}(...) is a module instance; pass a factory instead "
            f"(e.g. the class, or functools.partial(...)). Valid choices: {_CHOICES}"
        )
    if callable(spec):
        return functools.partial(_call_with_spatial, spec, _accepts_spatial(spec))
    raise ValueError(f"unknown norm={spec!r}. Valid choices: {_CHOICES}")


def _looks_like_axes(spec: Any) -> bool:
    if isinstance(spec, str):
        return bool(spec) and all(c.upper() in AXES for c in spec)
    if isinstance(spec, Sequence):
        return bool(spec) and all(isinstance(a, str) for a in spec)
    return False


def _accepts_spatial(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature
        return False
    return any(p.name == "spatial" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _call_with_spatial(
    fn: Callable[..., nn.Module],
    pass_spatial: bool,
    channels: int,
    spatial: tuple[int, int] | None = None,
) -> nn.Module:
    if pass_spatial:
        return fn(channels, spatial=spatial)
    return fn(channels)
