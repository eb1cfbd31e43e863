"""Checks ``fit`` runs before the first step, so mistakes fail fast and say what to do.

A bad argument found after ten minutes of training, or a shape error deep inside a
convolution, teaches nothing. Every check here raises ``ValueError`` or ``TypeError`` with a
message naming the argument, the value, and the fix.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
from torch import nn

from vizlab.data.dataset import Dataset
from vizlab.train.optim import OPTIMIZERS

__all__ = ["check_arguments", "resolve_data", "check_layout", "check_data", "check_model"]


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def _non_negative(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}; use 0 to turn it off")


def check_arguments(
    *,
    model: Any,
    epochs: Any,
    batch_size: Any,
    optimizer: Any,
    lr: Any,
    weight_decay: Any,
    l2: Any,
    l1: Any,
    momentum: Any,
    augment: Any,
    stop: Any,
    eval_batch_size: Any,
    log_every: Any,
    seed: Any = 0,
) -> None:
    """Validate the plain arguments of ``fit`` (and that the model is a module at all)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int (the same seed gives the same run), got {seed!r}")
    _positive_int("epochs", epochs)
    _positive_int("batch_size", batch_size)
    _positive_int("eval_batch_size", eval_batch_size)
    if log_every is not None:
        _positive_int("log_every", log_every)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        raise TypeError(f"lr must be a number, got {lr!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr}; try lr=1e-3 for Adam")
    for name, value in (("weight_decay", weight_decay), ("l2", l2), ("l1", l1)):
        _non_negative(name, value)
    _non_negative("momentum", momentum)
    if momentum >= 1:
        raise ValueError(f"momentum must be below 1, got {momentum}; 0.9 is the usual value")
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise ValueError(
                f"unknown optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)} "
                "or a callable params -> torch.optim.Optimizer"
            )
    elif callable(optimizer):
        if weight_decay:
            raise ValueError(
                "weight_decay applies to the built-in optimizers ('adam', 'adamw', 'sgd'); "
                "with an optimizer callable, set the decay inside the callable"
            )
    else:
        raise TypeError(f"optimizer must be a name or a callable, got {optimizer!r}")
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be a module or callable taking x, got {augment!r}")
    if stop is not None and not callable(getattr(stop, "is_set", None)):
        raise TypeError(f"stop must be a threading.Event (anything with is_set()), got {stop!r}")


def resolve_data(data: Any) -> Dataset:
    """A ``Dataset`` as is, or a name such as ``"digits"`` loaded with ``vizlab.data.load``."""
    if isinstance(data, str):
        from vizlab.data import load

        return load(data)
    if not isinstance(data, Dataset):
        raise TypeError(
            f"data must be a vizlab Dataset or a dataset name such as 'digits', "
            f"got {type(data).__name__}; build one with vizlab.data.load(name)"
        )
    return data


def check_layout(data: Dataset) -> None:
    """Images are (N, C, H, W) float tensors in every split; labels are tensors.

    Only shapes and dtypes are read here (no values), so this costs nothing on any device
    and runs before the data moves.
    """
    for split_name in ("train", "val", "test"):
        split = getattr(data, split_name)
        x, y = split.x, split.y
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError(
                f"the {split_name} split of {data.name!r} must hold torch tensors, got "
                f"x: {type(x).__name__}, y: {type(y).__name__}; convert with torch.as_tensor"
            )
        if x.ndim != 4:
            raise ValueError(
                f"the {split_name} images of {data.name!r} have shape {tuple(x.shape)}; fit "
                "needs (N, C, H, W) images: add a channel axis with x.unsqueeze(1) for "
                "(N, H, W) grayscale images"
            )
        if x.dtype != torch.float32:
            fix = "x.float() / 255" if not x.is_floating_point() else "x.float()"
            raise TypeError(
                f"the {split_name} images of {data.name!r} have dtype {x.dtype}; fit needs "
                f"float32 images in [0, 1]: convert with {fix}"
            )


def check_data(data: Dataset, *, need_val: bool) -> None:
    """Non-empty training split with two classes or more, integer labels, finite pixels
    (data already on device)."""
    if len(data.train) == 0:
        raise ValueError(
            f"the training split of {data.name!r} is empty: nothing to train on; load it "
            "with a larger n= (or check the filter that built it)"
        )
    if need_val and len(data.val) == 0:
        raise ValueError(
            f"early stopping watches the validation loss, but {data.name!r} has no "
            "validation split; load it with val_fraction > 0 or use early_stopping=None"
        )
    for split_name in ("train", "val", "test"):
        split = getattr(data, split_name)
        if len(split) == 0:
            continue
        if split.y.dtype.is_floating_point or split.y.dtype == torch.bool or split.y.ndim != 1:
            raise TypeError(
                f"{split_name} labels must be a 1-D integer tensor of class indices, got "
                f"dtype {split.y.dtype} and shape {tuple(split.y.shape)}"
            )
        if not bool(torch.isfinite(split.x).all()):
            raise ValueError(
                f"the {split_name} images of {data.name!r} contain NaN or infinite values; "
                "clean or re-create the data before training"
            )
    # One class only: every prediction of that class is right, so the loss falls to zero
    # and the accuracy reads 100% without anything having been learned. Refuse it.
    low, high = torch.stack([data.train.y.min(), data.train.y.max()]).tolist()
    if low == high:
        raise ValueError(
            f"every training label of {data.name!r} is class {int(low)}: a classifier needs "
            "examples of at least two classes to learn anything; use more (or other) data"
        )


def check_model(model: nn.Module, data: Dataset) -> None:
    """Run the model on two training images and check the logits and the labels fit it.

    The forward runs in eval mode under ``no_grad``, so it changes no running statistics and
    draws no random numbers: the checked fit stays reproducible.
    """
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("the model has no trainable parameters: nothing for fit to learn")
    x = data.train.x[:2]  # (2, C, H, W)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(x)
    except (RuntimeError, ValueError) as err:
        raise ValueError(
            f"the model failed on a batch of shape {tuple(x.shape)} from {data.name!r}: {err}. "
            f"Build it for {data.shape[0]} input channels and {data.shape[1]}x{data.shape[2]} "
            "images (in_channels=..., input_size=...)"
        ) from err
    finally:
        model.train(was_training)
    k = data.num_classes
    if k < 2:
        raise ValueError(
            f"{data.name!r} names {k} class(es) ({data.classes!r}); a classifier needs at "
            "least 2: give the Dataset one name per class"
        )
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (x.shape[0], k):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits)
        raise ValueError(
            f"the model must return logits of shape (B, {k}) for {data.name!r} ({k} classes); "
            f"it returned {shape} for B={x.shape[0]}. Build it with num_classes={k}"
        )
    for split_name in ("train", "val", "test"):
        y = getattr(data, split_name).y
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
            raise ValueError(
                f"{split_name} labels range over [{int(y.min())}, {int(y.max())}] but the model "
                f"has {k} outputs: labels must lie in [0, {k - 1}]"
            )
