"""The small vocabulary that lets other code ride along with ``fit``.

Probes, live plots and the background ``Run`` all need to see training as it happens without
``fit`` knowing about any of them. They do it through a callback: any object with some of
the methods of :class:`Callback`. Each receives a :class:`FitState`, one mutable record that
``fit`` updates in place, so a callback reads the current step, epoch, model and history
from it instead of from a long argument list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from vizlab.train.history import History

__all__ = ["Callback", "FitState", "EarlyStopping", "HOOKS", "as_callbacks", "notify"]

HOOKS = ("on_fit_start", "on_step", "on_epoch_end", "on_fit_end")


class Callback(Protocol):
    """What ``fit`` may call. Every method is optional: ``fit`` looks each one up, so a
    callback defines only the ones it needs.

    - ``on_fit_start(state)``: after the model and data are on the device, before step 1.
    - ``on_step(state)``: after every optimizer update; ``state.loss`` is that step's loss
      as a device tensor (reading it with ``float()`` forces a GPU sync, so do it rarely).
    - ``on_epoch_end(state)``: after the epoch's metrics are in ``state.history``.
    - ``on_fit_end(state)``: once, when the fit returns normally (finished, stopped early,
      stopped by the event, or diverged). Not called when an exception escapes.

    Callbacks run in the training thread: a slow callback slows training.
    """

    def on_fit_start(self, state: FitState) -> None: ...

    def on_step(self, state: FitState) -> None: ...

    def on_epoch_end(self, state: FitState) -> None: ...

    def on_fit_end(self, state: FitState) -> None: ...


@dataclass
class FitState:
    """The live state of one ``fit``, shared with callbacks and updated in place.

    Attributes:
        model, optimizer, data: what is being trained, on ``device``.
        history: the ``History`` being filled (the same object ``fit`` returns).
        epoch: current epoch (1-based; 0 before the first).
        step: optimizer updates done so far; ``total_steps``: updates the fit would do if
            nothing stopped it.
        loss: the last step's loss, a 0-d tensor on ``device`` (``None`` before step 1).
    """

    model: torch.nn.Module
    history: History
    epoch: int
    step: int
    total_steps: int
    device: torch.device
    optimizer: torch.optim.Optimizer
    data: Any
    loss: torch.Tensor | None = None

    @property
    def progress(self) -> float:
        """Fraction of the planned updates done, in [0, 1]."""
        return self.step / self.total_steps if self.total_steps else 0.0


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when the validation loss has not improved for ``patience`` epochs.

    An epoch improves when its validation loss is below the best so far by more than
    ``min_delta``. The run stops exactly ``patience`` epochs after the best epoch; with
    ``restore_best`` the model gets the best epoch's weights back, so what ``fit`` returns
    is the model the validation split liked most, not the last one trained.
    """

    patience: int = 5
    min_delta: float = 0.0
    restore_best: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.patience, bool) or not isinstance(self.patience, int):
            raise TypeError(f"patience must be an int, got {self.patience!r}")
        if self.patience < 1:
            raise ValueError(
                f"patience must be at least 1 epoch, got {self.patience}; "
                "use early_stopping=None to train for all epochs"
            )
        if not self.min_delta >= 0:
            raise ValueError(f"min_delta must be >= 0, got {self.min_delta}")

    @classmethod
    def coerce(cls, spec: None | int | EarlyStopping) -> EarlyStopping | None:
        """Accept ``None``, a patience as an int, or an ``EarlyStopping``."""
        if spec is None or isinstance(spec, EarlyStopping):
            return spec
        if isinstance(spec, int) and not isinstance(spec, bool):
            return cls(patience=spec)
        raise TypeError(
            "early_stopping must be None, a patience (int) or EarlyStopping(patience=...), "
            f"got {spec!r}"
        )


def as_callbacks(callbacks: Any) -> list[Any]:
    """A list of callbacks from a tuple/list of them, a single one, or ``None``."""
    if callbacks is None:
        return []
    if any(hasattr(callbacks, hook) for hook in HOOKS):
        return [callbacks]
    if not isinstance(callbacks, Iterable):
        raise TypeError(
            f"callbacks must be a list of objects with on_step/on_epoch_end/... methods, "
            f"got {callbacks!r}"
        )
    return list(callbacks)


def notify(callbacks: Iterable[Any], hook: str, state: Any) -> None:
    """Call ``hook(state)`` on every callback that defines it."""
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(state)
