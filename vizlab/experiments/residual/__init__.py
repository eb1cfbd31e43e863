"""Section H: residual connections, measured on real runs.

Topics, one module each (registered in this order):

- ``degradation`` (H-DEGRADE, ``depth_degradation``): deeper plain nets train worse;
  residual nets do not.
- ``gradient_split`` (H-GRAD, H-BLOCK, ``skip_branch_gradients``): the gradient at each block
  input is the skip part plus the branch part, ``v^T df/dx + v``.
- ``branch_ratio`` (H-BNID, ``branch_variance``): at init, batch norm on the branch makes the
  skip path dominate more and more with depth.
- ``lesion`` (H-ENSEMBLE, ``lesion_study``): ``2**n`` paths; deleting one block barely hurts a
  residual net and wrecks a plain one.

``common`` holds what the topics share; ``twin`` the lockstep trainer the panel uses.
"""

# isort: off
# Importing a topic module registers its topic: this order is the order of ``TOPICS``.
from vizlab.experiments.residual.depth_degradation import degradation
from vizlab.experiments.residual.skip_branch_gradients import gradient_split, split_check
from vizlab.experiments.residual.branch_variance import branch_ratio
from vizlab.experiments.residual.lesion_study import (
    delete_block,
    lesion,
    lesion_accuracies,
    path_counts,
)

# isort: on
# The rows and settings constants stay importable from here as before (not in __all__).
from vizlab.experiments.residual.branch_variance import ROWS_BNID, SETTINGS  # noqa: F401
from vizlab.experiments.residual.common import blocks_of
from vizlab.experiments.residual.depth_degradation import ROWS_DEGRADE  # noqa: F401
from vizlab.experiments.residual.lesion_study import ROWS_ENSEMBLE  # noqa: F401
from vizlab.experiments.residual.skip_branch_gradients import ROWS_GRAD  # noqa: F401
from vizlab.experiments.residual.twin import Twin

__all__ = [
    "degradation",
    "gradient_split",
    "branch_ratio",
    "lesion",
    "blocks_of",
    "delete_block",
    "lesion_accuracies",
    "path_counts",
    "split_check",
    "Twin",
]
