"""``variant_net``: a small net whose dropout layers are all of one variant (the panel's net)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from torch import nn

from vizlab.nn import DropConnectLinear, Dropout

#: The variants ``variant_net`` builds.
VARIANTS = ("element", "channel", "cutout", "dropconnect")


def variant_net(
    variant: str,
    p: float,
    shape: tuple[int, int, int],
    num_classes: int,
    *,
    schedule: Any = None,
    hidden: int = 128,
    width: int = 16,
) -> nn.Sequential:
    """A small net whose two dropout layers (``drop1``, ``drop2``) are of one variant.

    ``element`` and ``dropconnect`` build an MLP with two hidden layers of ``hidden`` units
    (DropConnect replaces the hidden ``nn.Linear`` layers ``fc1``, ``fc2``; their masks have
    the weight's shape); ``channel`` and ``cutout`` build two 3x3 conv layers of ``width``
    maps, each followed by the dropout. ``schedule`` is passed to every dropout layer.

    Shape:
        - Input: ``(B, *shape)``; output: ``(B, num_classes)``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"dropout variant must be one of {VARIANTS}, got {variant!r}")
    c, h, w = shape
    if variant in ("channel", "cutout"):
        layers = OrderedDict(
            conv1=nn.Conv2d(c, width, 3, padding=1),
            act1=nn.ReLU(),
            drop1=Dropout(p, variant, schedule),  # (B, width, H, W)
            conv2=nn.Conv2d(width, width, 3, padding=1),
            act2=nn.ReLU(),
            drop2=Dropout(p, variant, schedule),
            flatten=nn.Flatten(),
            head=nn.Linear(width * h * w, num_classes),
        )
    elif variant == "element":
        layers = OrderedDict(
            flatten=nn.Flatten(),
            fc1=nn.Linear(c * h * w, hidden),
            act1=nn.ReLU(),
            drop1=Dropout(p, "element", schedule),  # (B, hidden)
            fc2=nn.Linear(hidden, hidden),
            act2=nn.ReLU(),
            drop2=Dropout(p, "element", schedule),
            head=nn.Linear(hidden, num_classes),
        )
    else:
        layers = OrderedDict(
            flatten=nn.Flatten(),
            fc1=DropConnectLinear(c * h * w, hidden, p, schedule=schedule),  # mask (hidden, in)
            act1=nn.ReLU(),
            fc2=DropConnectLinear(hidden, hidden, p, schedule=schedule),
            act2=nn.ReLU(),
            head=nn.Linear(hidden, num_classes),
        )
    return nn.Sequential(layers)
