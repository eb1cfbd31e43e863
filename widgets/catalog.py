"""Which panel shows which lecture topic: the list ``vizlab app`` and the tests go through.

Panels are imported lazily, so asking for one topic never imports the others.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["PANELS", "make"]

# topic -> (module, class, curriculum section)
PANELS: dict[str, tuple[str, str, str]] = {
    "conv": ("widgets.conv", "ConvPanel", "A"),
    "architecture": ("widgets.conv", "ArchitecturePanel", "A"),
    "depth": ("widgets.depth", "DepthPanel", "B"),
    "phenomena": ("widgets.phenomena", "PhenomenaPanel", "C"),
    "augment": ("widgets.augment", "AugmentPanel", "D"),
    "regularization": ("widgets.regularization", "RegularizationPanel", "E"),
    "dropout": ("widgets.dropout", "DropoutPanel", "F"),
    "normalization": ("widgets.normalization", "NormPanel", "G"),
    "residual": ("widgets.residual", "ResidualPanel", "H"),
    "live": ("widgets.live", "LivePanel", "-"),
}


def panel_class(topic: str) -> type:
    if topic not in PANELS:
        raise ValueError(f"unknown panel topic {topic!r}; choose one of: {', '.join(PANELS)}")
    module, name, _ = PANELS[topic]
    return getattr(importlib.import_module(module), name)


def make(topic: str, **kwargs: Any):
    """A new panel for ``topic``; ``live`` gets a small VGG on the embedded digits."""
    cls = panel_class(topic)
    if topic == "live" and "model" not in kwargs:
        from vizlab import models

        model = models.vgg(
            blocks=2, convs=2, width=16, norm="batch", in_channels=1, input_size=(8, 8)
        )
        return cls(model, kwargs.pop("data", "digits"), **kwargs)
    return cls(**kwargs)
