"""vizlab's notebook panels (ipywidgets), built on the ``vizlab`` engine.

This is the only package of the project that imports ipywidgets. Every panel is a
``widgets.base.Panel``: controls, Train / Stop / Reset, a status line, an error box and live
pictures drawn from a background thread while a ``vizlab.Run`` trains. ``widgets.catalog``
lists which panel shows which lecture topic (the names ``vizlab app`` takes).
"""

from widgets.augment import AugmentPanel
from widgets.base import Panel
from widgets.conv import ArchitecturePanel, ConvPanel
from widgets.depth import DepthPanel
from widgets.dropout import DropoutPanel
from widgets.live import LivePanel
from widgets.normalization import NormPanel
from widgets.notebook import show_figures_inline
from widgets.phenomena import PhenomenaPanel
from widgets.regularization import RegularizationPanel
from widgets.residual import ResidualPanel

__all__ = [
    "Panel",
    "LivePanel",
    "ConvPanel",
    "ArchitecturePanel",
    "DepthPanel",
    "PhenomenaPanel",
    "AugmentPanel",
    "RegularizationPanel",
    "DropoutPanel",
    "NormPanel",
    "ResidualPanel",
    "show_figures_inline",
]

show_figures_inline()
