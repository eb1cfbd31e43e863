"""Probes: look inside any torch model while it trains (``watch``) or at one batch (``trace``).

``watch`` records cheap per-layer statistics over training (activations, gradients,
normalization statistics, dropout masks, weights) as tidy records; ``trace`` keeps every
tensor of one batch (feature maps, gradients, masks, residual gradient split, filters,
receptive fields). Both work on vizlab's teaching models and on any foreign ``nn.Module``.
"""

from vizlab.probes.receptive import receptive_field
from vizlab.probes.select import default_layers, select_layers
from vizlab.probes.store import Record, Thinning
from vizlab.probes.trace import NormStats, ResidualSplit, Trace, trace
from vizlab.probes.watch import KINDS, Watch, watch

__all__ = [
    "watch",
    "Watch",
    "trace",
    "Trace",
    "Record",
    "Thinning",
    "NormStats",
    "ResidualSplit",
    "receptive_field",
    "select_layers",
    "default_layers",
    "KINDS",
]
