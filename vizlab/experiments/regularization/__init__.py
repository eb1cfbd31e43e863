"""Section E: optimization strategies and regularization, reproduced by real runs.

Five curriculum rows, four topics, one module each:

- ``early_stopping`` (E-ES, :mod:`.stopping`): stop ``patience`` epochs after the best
  validation epoch and return the best epoch's weights.
- ``l2_sweep`` (E-L2, :mod:`.l2_penalty`): ``lambda * ||w||^2`` from 0 to too large.
- ``weight_decay`` (E-WD, :mod:`.decoupled_decay`): L2 and decoupled decay are the same update
  for plain SGD and different ones for Adam (Loshchilov & Hutter 2019).
- ``sparsity`` (E-L1, E-REPARAM, :mod:`.sparse_weights`): L1 zeros more weights than L2;
  ``w = a * b`` with L2 on ``a, b`` reaches exact zeros (Ziyin & Wang 2022).

Shared by the topics: :mod:`.models` (``mlp_for`` and :class:`ReparamLinear`, the only new
module here) and :mod:`.weights` (per-layer weights, norms, zero fractions, ``WeightRecorder``).
The penalties and the decay live in ``vizlab.train.optim`` and act on the weights of linear and
conv layers (not biases).
"""

from vizlab.experiments.regularization.models import ReparamLinear, mlp_for, reparameterize
from vizlab.experiments.regularization.weights import (
    EXACT_ZERO,
    NEAR_ZERO,
    WeightRecorder,
    layer_weights,
    weight_norms,
)

# Importing a topic module registers its topic: keep this order (the order of TOPICS).
# isort: off
from vizlab.experiments.regularization.stopping import early_stopping
from vizlab.experiments.regularization.l2_penalty import l2_sweep
from vizlab.experiments.regularization.decoupled_decay import weight_decay
from vizlab.experiments.regularization.sparse_weights import sparsity
# isort: on

__all__ = [
    "NEAR_ZERO",
    "EXACT_ZERO",
    "ReparamLinear",
    "reparameterize",
    "layer_weights",
    "weight_norms",
    "WeightRecorder",
    "mlp_for",
    "early_stopping",
    "l2_sweep",
    "weight_decay",
    "sparsity",
]
