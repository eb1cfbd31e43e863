"""Choosing the layers a probe looks at, in any ``nn.Module``.

Layers are named by their dotted paths from ``model.named_modules()``, the same names PyTorch
prints. A selection can be written the way one thinks about it: an exact name
(``"features.block1.conv1.act"``), a glob on names (``"features.*.act"``), a module type
(``nn.Conv2d``, or a tuple of types), a predicate ``(name, module) -> bool``, or a list mixing
these. Without a selection, probes look at every module that computes something a lecture
talks about: convolutions, linear layers, norms, activations, pooling, dropout and residual
blocks; containers, taps, identities and reshapes are skipped because they only repeat a
tensor another layer already shows.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from vizlab.nn import Residual, Tap

__all__ = ["LayerSpec", "select_layers", "default_layers", "is_leaf", "has_mask_tap"]

LayerSpec = None | str | type | tuple | Callable[[str, nn.Module], bool] | Sequence[Any]

# Modules that pass a tensor through (or only reshape it): watching them repeats a neighbour.
_PASS_THROUGH = (
    Tap,
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
    nn.Sequential,
    nn.ModuleList,
    nn.ModuleDict,
)
_GLOB_CHARS = set("*?[")


def is_leaf(module: nn.Module) -> bool:
    """Whether ``module`` computes by itself: it has no children other than taps.

    vizlab's dropout layers carry a ``hook_mask`` tap; they still count as leaves.
    """
    return all(isinstance(child, Tap) for child in module.children())


def has_mask_tap(module: nn.Module) -> bool:
    """Whether ``module`` is a dropout layer that shows its mask through a ``hook_mask`` tap."""
    return isinstance(getattr(module, "hook_mask", None), Tap)


def default_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers watched when no selection is given (see the module docstring)."""
    chosen = []
    for name, module in model.named_modules():
        if isinstance(module, Residual):
            chosen.append((name, module))
        elif is_leaf(module) and not isinstance(module, _PASS_THROUGH):
            chosen.append((name, module))
    return chosen


def select_layers(model: nn.Module, layers: LayerSpec = None) -> list[tuple[str, nn.Module]]:
    """Resolve a layer selection to ``(name, module)`` pairs in model order.

    Args:
        model: any module.
        layers: ``None`` for the default selection; a name or glob (``fnmatch`` on dotted
            names); a module class or tuple of classes; a predicate ``(name, module) ->
            bool``; or a list mixing these (their union). The root module itself (name
            ``""``) is only chosen by the default selection, when it is a single layer.

    Returns:
        The selected layers, each once, in the order of ``model.named_modules()``.

    Raises:
        ValueError: when a name or glob matches no layer, or when nothing is selected; the
            message lists some of the available layer names.
        TypeError: for a selector that is none of the above.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module, got {type(model).__name__}")
    named = list(model.named_modules())
    if layers is None:
        chosen = default_layers(model)
        if not chosen:
            raise ValueError(
                f"{type(model).__name__} has no layer that computes anything to watch "
                "(only containers, taps or identities); pass layers=... to choose some. "
                f"Available layers: {_some_names(named)}"
            )
        return chosen
    specs = list(layers) if isinstance(layers, (list, tuple)) else [layers]
    if isinstance(layers, tuple) and layers and all(isinstance(s, type) for s in layers):
        specs = [layers]  # a tuple of classes is one type selector, as for isinstance
    keep: set[int] = set()
    for spec in specs:
        hits = _match(named, spec)
        if isinstance(spec, str) and not hits:
            raise ValueError(_no_match_message(model, named, spec))
        keep.update(hits)
    if not keep:
        raise ValueError(_no_match_message(model, named, layers))
    return [named[i] for i in sorted(keep)]


def _match(named: list[tuple[str, nn.Module]], spec: Any) -> list[int]:
    """Indices into ``named`` chosen by one selector."""
    if isinstance(spec, str):
        if not _GLOB_CHARS & set(spec):
            return [i for i, (name, _) in enumerate(named) if name == spec]
        return [i for i, (name, _) in enumerate(named) if name and fnmatch.fnmatchcase(name, spec)]
    if isinstance(spec, type) or (
        isinstance(spec, tuple) and spec and all(isinstance(s, type) for s in spec)
    ):
        return [i for i, (name, m) in enumerate(named) if name and isinstance(m, spec)]
    if callable(spec):
        return [i for i, (name, m) in enumerate(named) if name and spec(name, m)]
    raise TypeError(
        f"cannot select layers with {spec!r} ({type(spec).__name__}): use a name, a glob such "
        "as 'features.*.conv', a module class such as nn.Conv2d, a predicate "
        "(name, module) -> bool, or a list of these"
    )


def _some_names(named: list[tuple[str, nn.Module]], near: str | None = None, k: int = 8) -> str:
    names = [name for name, _ in named if name]
    if near is not None:
        close = difflib.get_close_matches(near, names, n=k, cutoff=0.4)
        if close:
            return ", ".join(close) + f" ({len(names)} layers in all)"
    shown = ", ".join(names[:k])
    return shown + (f", ... ({len(names)} layers in all)" if len(names) > k else "")


def _no_match_message(model: nn.Module, named: list[tuple[str, nn.Module]], spec: Any) -> str:
    near = spec if isinstance(spec, str) else None
    return (
        f"no layer of {type(model).__name__} matches layers={spec!r}; select by name, glob "
        "('features.*.conv'), type (nn.Conv2d) or predicate (name, module) -> bool. "
        f"Available layers: {_some_names(named, near)}"
    )
