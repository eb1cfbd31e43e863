"""Teaching layers: normalization over any axes, dropout that keeps its mask, residual blocks
that expose their gradient split, and taps (named places where probes look)."""

from vizlab.nn.dropout import DROPOUT_KINDS, DropConnectLinear, Dropout
from vizlab.nn.norm import Norm
from vizlab.nn.norm_args import AFFINE_CHOICES, AXES, default_groups, parse_axes
from vizlab.nn.residual import Residual
from vizlab.nn.resolve import NORM_PRESETS, NormFactory, resolve_norm
from vizlab.nn.schedule import Schedule, set_progress
from vizlab.nn.tap import Tap

__all__ = [
    "Tap",
    "Norm",
    "resolve_norm",
    "NormFactory",
    "NORM_PRESETS",
    "AXES",
    "AFFINE_CHOICES",
    "parse_axes",
    "default_groups",
    "Dropout",
    "DropConnectLinear",
    "DROPOUT_KINDS",
    "Schedule",
    "set_progress",
    "Residual",
]
