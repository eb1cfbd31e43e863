"""vizlab: see inside a convolutional network while it trains.

The engine, with no user interface: datasets (``vizlab.data``), teaching layers
(``vizlab.nn``), model families (``vizlab.models``), the training loop (``vizlab.train``)
the probes that look inside a model while it trains (``vizlab.watch``, ``vizlab.trace``)
batched augmentation that records what it did to each image (``vizlab.augment``), and
figures built from plain records, with live views that update in place (``vizlab.plots``).
The ipywidgets panels live in the separate ``widgets`` package, which builds on this one;
nothing here imports ipywidgets, IPython or ``matplotlib.pyplot``.
"""

from vizlab import augment, data, models, nn, plots, probes, train
from vizlab.data import Dataset, DatasetError, Split, load
from vizlab.device import resolve_device
from vizlab.probes import Trace, Watch, trace, watch
from vizlab.train import History, Run, Sweep, fit, sweep

__version__ = "0.1.0"

__all__ = [
    "augment",
    "data",
    "models",
    "nn",
    "plots",
    "train",
    "probes",
    "watch",
    "trace",
    "Watch",
    "Trace",
    "load",
    "Dataset",
    "DatasetError",
    "Split",
    "fit",
    "sweep",
    "Run",
    "History",
    "Sweep",
    "resolve_device",
    "__version__",
]
