"""Section A: convolution basics and the classic architectures, checked on real tensors.

Five topics, one module each, registered in this order:

- ``conv_arithmetic`` (``arithmetic``; A-CH, A-1x1, A-POOL): conv and pooling by hand.
- ``receptive_field`` (``receptive_fields``; A-RF): computed field == nonzero gradient.
- ``activation_gradients`` (``activations``; A-ACT): sigmoid vs ReLU gradients at init.
- ``zoo`` (``architectures``; A-ZOO): every model family's table, parameters and training.
- ``first_filters`` (``learned_filters``; A-FILT): trained filters and feature maps.

The arithmetic topics run in float64 on the CPU (``float64``), so "equal" means equal to
rounding.
"""

# The import order is the topics' registration order in ``vizlab.experiments.TOPICS``, so
# keep it by hand. Names outside ``__all__`` (drawers, ``RF_NETS``, ``CPU64``) stay importable
# from here, as from the old single module.
# isort: off
from vizlab.experiments.conv.arithmetic import (  # noqa: F401
    conv_arithmetic,
    draw_conv_arithmetic,
    xcorr2d,
)
from vizlab.experiments.conv.receptive_fields import (  # noqa: F401
    RF_NETS,
    computed_field,
    draw_receptive_field,
    receptive_field,
    rf_geometry,
)
from vizlab.experiments.conv.activations import (  # noqa: F401
    activation_gradients,
    draw_activation_gradients,
)
from vizlab.experiments.conv.architectures import draw_zoo, zoo, zoo_model  # noqa: F401
from vizlab.experiments.conv.learned_filters import draw_first_filters, first_filters  # noqa: F401
from vizlab.experiments.conv.float64 import CPU64  # noqa: F401

# isort: on

__all__ = [
    "conv_arithmetic",
    "receptive_field",
    "activation_gradients",
    "zoo",
    "first_filters",
    "xcorr2d",
    "rf_geometry",
    "computed_field",
    "zoo_model",
]
