"""Section G, normalization: why standardizing helps, what each norm layer computes, and
what batch statistics cost.

Topics, one module each (curriculum rows in brackets):

- ``standardization`` [G-STD] (``standardizing``): gradient descent on least squares with raw
  and with standardized inputs.
- ``norm_reference`` [G-BN1, G-BN3, G-AXES, G-LNPARAMS] (``torch_reference``): ``Norm``
  against torch's own norm layers; the affine parameter counts.
- ``bn_inference`` [G-BN2] (``inference_stats``): running averages vs statistics recomputed
  over the training set, and test accuracy with each.
- ``batch_spread`` [G-BNSMALL] (``small_batches``): noisy batch statistics, examples that
  depend on their batch, accuracy vs batch size.
- ``norm_axes`` [G-AXES] (``trained_axes``): the same small net trained with every choice of
  axes.
- ``smoothness`` [G-SMOOTH, optional row] (``landscape``): how much the loss and the gradient
  change along real training steps, with and without batch norm.

Shared: ``nets`` (the section's net, ``AXES_CHOICES``, norm-layer helpers) and ``drawing``.
"""

from __future__ import annotations

# Importing a topic's module registers it; this order is the order of ``TOPICS``: keep it.
# isort: off
from vizlab.experiments.normalization.standardizing import standardization
from vizlab.experiments.normalization.torch_reference import norm_reference
from vizlab.experiments.normalization.inference_stats import (
    batch_stat_accuracy as batch_stat_accuracy,
    bn_inference,
    recompute_stats as recompute_stats,
)
from vizlab.experiments.normalization.small_batches import batch_spread
from vizlab.experiments.normalization.trained_axes import norm_axes
from vizlab.experiments.normalization.landscape import LandscapeProbe, smoothness

# isort: on
from vizlab.experiments.normalization.nets import AXES_CHOICES, norm_net
from vizlab.nn import Norm as Norm  # re-exported as before (tests build layers with it)

__all__ = [
    "AXES_CHOICES",
    "standardization",
    "norm_reference",
    "bn_inference",
    "batch_spread",
    "norm_axes",
    "smoothness",
    "norm_net",
    "LandscapeProbe",
]
