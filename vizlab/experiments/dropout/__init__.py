"""Section F, dropout: masks and their variants, inverted scaling, MC dropout, schedules.

Topics, registered in this order: ``dropout_masks`` (F-MASK, F-VAR, module ``masks``),
``inverted_dropout`` (F-INV, ``inverted``), ``mc_dropout`` (F-MC, ``monte_carlo``) and
``dropout_schedule`` (F-SCHED, ``schedule``). ``variant_net`` (``variants``), ``mc_passes``
and ``RateLog`` are shared with the dropout panel.
"""

# Import order is registration order (TOPICS): masks, inverted, monte_carlo, schedule.
# isort: off
from vizlab.experiments.dropout.masks import MASK_LAYERS, dropout_masks, mask_net
from vizlab.experiments.dropout.inverted import inverted_dropout
from vizlab.experiments.dropout.monte_carlo import (
    mc_dropout,
    mc_passes,
    predictive_entropy,
    set_rate,
)
from vizlab.experiments.dropout.schedule import RateLog, dropout_schedule

# isort: on
from vizlab.experiments.dropout.variants import VARIANTS, variant_net

__all__ = [
    "dropout_masks",
    "inverted_dropout",
    "mc_dropout",
    "dropout_schedule",
    "mask_net",
    "mc_passes",
    "predictive_entropy",
    "set_rate",
    "variant_net",
    "RateLog",
    "MASK_LAYERS",
    "VARIANTS",
]
