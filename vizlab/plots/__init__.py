"""``vizlab.plots``: every lecture figure as a pure function of plain data, plus live views.

Builders take records ``(step, layer, kind, stat, value)``, dicts and numpy arrays (never a
model or a probe) and return a new ``matplotlib.figure.Figure``; nothing here touches pyplot
or displays anything. Most come with a ``draw_*(ax, ...)`` form that draws into any axes and
returns the artists, so a panel can compose several into one figure.

Live views (``LiveCurves``, ``LiveGradFlow``, ... and the four-view ``Dashboard``) keep their
artists, update them in place from new records and render PNG bytes by redrawing only what
changed; see ``live.py``.
"""

from vizlab.plots.conv import (
    conv1x1,
    conv_channels,
    param_bars,
    pool2d,
    pooling_windows,
    summary_table,
    xcorr2d,
)
from vizlab.plots.dashboard import Dashboard
from vizlab.plots.images import (
    augment_gallery,
    draw_image,
    feature_maps,
    filters,
    mix_labels,
    receptive_field,
)
from vizlab.plots.live import LiveView, Renderer, encode_png
from vizlab.plots.live_views import (
    LiveActivationHist,
    LiveCurves,
    LiveDropoutMask,
    LiveGradFlow,
    LiveNormStats,
    LiveResidualSplit,
    LiveWeightNorms,
)
from vizlab.plots.norms import (
    batch_spread,
    descent_paths,
    draw_norm_axes_cube,
    norm_axes_cube,
    norm_stats,
    shared_mask,
)
from vizlab.plots.regularize import (
    constrained_optimum,
    draw_dropout_mask,
    draw_weight_norms,
    dropout_mask,
    dropout_schedule,
    lasso_ridge,
    mc_dropout,
    weight_hist,
)
from vizlab.plots.signals import (
    activation_hist,
    draw_activation_hist,
    draw_grad_flow,
    draw_residual_split,
    grad_flow,
    path_lengths,
    residual_split,
    variance_ratio,
)
from vizlab.plots.style import PALETTE, layer_color
from vizlab.plots.training import (
    curves,
    draw_curves,
    draw_grid_heatmap,
    draw_spatial_sizes,
    grid_heatmap,
    spatial_sizes,
)

__all__ = [
    # training runs
    "curves",
    "draw_curves",
    "grid_heatmap",
    "draw_grid_heatmap",
    "spatial_sizes",
    "draw_spatial_sizes",
    # signals through the layers
    "activation_hist",
    "draw_activation_hist",
    "grad_flow",
    "draw_grad_flow",
    "residual_split",
    "draw_residual_split",
    "variance_ratio",
    "path_lengths",
    # normalization
    "norm_stats",
    "batch_spread",
    "shared_mask",
    "norm_axes_cube",
    "draw_norm_axes_cube",
    "descent_paths",
    # regularization
    "dropout_mask",
    "draw_dropout_mask",
    "mc_dropout",
    "dropout_schedule",
    "weight_hist",
    "draw_weight_norms",
    "lasso_ridge",
    "constrained_optimum",
    # images and convolution
    "augment_gallery",
    "mix_labels",
    "filters",
    "feature_maps",
    "receptive_field",
    "draw_image",
    "conv_channels",
    "conv1x1",
    "pooling_windows",
    "summary_table",
    "param_bars",
    "xcorr2d",
    "pool2d",
    # live views
    "LiveView",
    "Renderer",
    "encode_png",
    "LiveCurves",
    "LiveActivationHist",
    "LiveGradFlow",
    "LiveResidualSplit",
    "LiveNormStats",
    "LiveDropoutMask",
    "LiveWeightNorms",
    "Dashboard",
    # style
    "PALETTE",
    "layer_color",
]
