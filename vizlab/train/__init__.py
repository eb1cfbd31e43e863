"""Training: one readable loop (``fit``), grids of runs (``sweep``), background runs (``Run``).

``fit`` returns a ``History``; ``sweep`` returns a ``Sweep`` of rows and histories; ``Run``
wraps either in a thread that a notebook panel can watch and stop. Probes and plots follow
training through callbacks (``Callback``, ``FitState``).
"""

from vizlab.train.callbacks import Callback, EarlyStopping, FitState
from vizlab.train.executor import init_worker
from vizlab.train.history import History
from vizlab.train.loop import evaluate, fit
from vizlab.train.optim import OPTIMIZERS, SGDW, decay_parameters
from vizlab.train.pools import device_pool, worker_device
from vizlab.train.run import Run
from vizlab.train.sweeps import Sweep, SweepProgress, sweep

__all__ = [
    "fit",
    "evaluate",
    "History",
    "Callback",
    "FitState",
    "EarlyStopping",
    "OPTIMIZERS",
    "SGDW",
    "decay_parameters",
    "sweep",
    "Sweep",
    "SweepProgress",
    "init_worker",
    "device_pool",
    "worker_device",
    "Run",
]
