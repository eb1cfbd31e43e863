"""Building and rendering every kind of figure leaves pyplot unloaded and its registry empty."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CODE = """
import io, sys
import numpy as np
from vizlab import plots
figs = [
    plots.curves({"epochs": [1, 2], "train_loss": [1, .5], "val_loss": [1, .6],
                  "train_acc": [.1, .5], "val_acc": [.1, .4]}),
    plots.grid_heatmap(np.random.rand(2, 3, 3), params=np.ones((3, 3))),
    plots.norm_axes_cube(("C", "H", "W"), groups=2),
    plots.lasso_ridge(),
    plots.dropout_mask(np.random.rand(4, 8) > 0.5),
]
for fig in figs:
    fig.savefig(io.BytesIO(), format="png", dpi=30)
dash = plots.Dashboard(figsize=(6, 4))
dash.update([(0, "a", "gradients", "act_grad_norm", 1.0)], history={"epochs": [1],
            "train_loss": [1.0], "val_loss": [1.0]})
dash.png()
pyplot_loaded = "matplotlib.pyplot" in sys.modules
import matplotlib._pylab_helpers as helpers
print("RESULT", pyplot_loaded, len(helpers.Gcf.get_all_fig_managers()),
      "ipywidgets" in sys.modules)
"""


def test_plots_never_touch_pyplot():
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "RESULT False 0 False" in proc.stdout, proc.stdout
