"""``Twin``: a second model trained in lockstep with a ``fit``, for side-by-side runs."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vizlab.train import History, evaluate
from vizlab.train.accel import autocast, resolve_amp

__all__ = ["Twin"]


class Twin:
    """A callback that trains a second model in lockstep with the one ``fit`` trains.

    At every step of the fit the twin takes one Adam step of its own on the batch the fit
    just used (same shuffling seed, same batch size, same lr): equal budget, one thread, and
    the fit's ``stop`` event stops both. After each epoch the twin's validation split is
    evaluated. ``history`` is a ``History`` filled like ``fit``'s, so the two can be drawn
    side by side while they train.

    Args:
        model: the twin (trained in place, moved to the fit's device).
        lr, batch_size, seed: must match the fit's for an equal budget.
    """

    def __init__(self, model: nn.Module, *, lr: float = 1e-3, batch_size: int = 64, seed=0):
        self.model, self.lr, self.batch_size, self.seed = model, lr, batch_size, seed
        self.history = History()
        self._batches: Any = None

    def on_fit_start(self, state: Any) -> None:
        self.model.to(state.device)
        self.history.device = str(state.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        self.amp = resolve_amp("auto", state.device)
        self.shuffle = torch.Generator().manual_seed(self.seed)  # the fit's batch order
        self._new_epoch(state)

    def _new_epoch(self, state: Any) -> None:
        n = len(state.data.train)
        drop_last = n > self.batch_size and n % self.batch_size == 1  # as fit does
        self._batches = iter(
            state.data.train.batches(
                self.batch_size, shuffle=True, generator=self.shuffle, drop_last=drop_last
            )
        )
        self._sums = [0.0, 0.0, 0]  # loss sum, correct, seen

    def on_step(self, state: Any) -> None:
        x, y = next(self._batches)  # (B, C, H, W), (B,)
        self.model.train()
        with autocast(state.device, self.amp):
            logits = self.model(x)  # (B, K)
            loss = F.cross_entropy(logits, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        value = float(loss.detach())
        self.history.add_steps([state.step], [value])
        self._sums[0] += value * len(y)
        self._sums[1] += float((logits.detach().argmax(dim=1) == y).sum())
        self._sums[2] += len(y)

    def on_epoch_end(self, state: Any) -> None:
        loss_sum, correct, seen = self._sums
        val_loss, val_acc = evaluate(self.model, state.data.val)
        self.history.add_epoch(
            state.epoch, train_loss=loss_sum / max(seen, 1), train_acc=correct / max(seen, 1),
            val_loss=val_loss, val_acc=val_acc, lr=self.lr,
        )  # fmt: skip
        self._new_epoch(state)

    def on_fit_end(self, state: Any) -> None:
        self.model.eval()
