"""``fit``: the one training loop, meant to be read top to bottom.

Everything the lectures talk about happens in plain sight in :func:`fit`: the data and the
model move to the device once, the model switches between train and eval mode, penalties
are added to the loss, weight decay is decoupled, the validation split is really evaluated
every epoch, early stopping keeps the best weights. Probes and live plots attach through
callbacks, so the loop itself never draws anything or waits for a plot.

On a GPU, reading a number back to Python (``loss.item()``) makes the CPU wait for the GPU.
The loop therefore keeps per-step losses as device tensors and copies them to the host in
one block every ``log_every`` steps; epoch metrics are summed on the device and read once.
The NaN/inf check rides on that copy, so on a GPU a training step never waits for the host.
The device-specific speed-ups (bf16 autocast, channels-last, ``torch.compile``) live in
``vizlab.train.accel`` and are chosen from the device unless ``fit`` is told otherwise.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vizlab.data.dataset import Dataset, Split
from vizlab.device import configure_threads, resolve_device
from vizlab.nn import set_progress
from vizlab.train.accel import (
    autocast,
    compile_model,
    resolve_amp,
    resolve_channels_last,
    to_channels_last,
)
from vizlab.train.callbacks import EarlyStopping, FitState, as_callbacks, notify
from vizlab.train.checks import (
    check_arguments,
    check_data,
    check_layout,
    check_model,
    resolve_data,
)
from vizlab.train.history import History
from vizlab.train.optim import decay_parameters, make_optimizer, penalty

__all__ = ["fit", "evaluate"]


def fit(
    model: nn.Module,
    data: Dataset | str,
    *,
    epochs: int = 3,
    batch_size: int = 128,
    optimizer: str | Callable[[list[nn.Parameter]], torch.optim.Optimizer] = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    l2: float = 0.0,
    l1: float = 0.0,
    momentum: float = 0.9,
    augment: Callable | None = None,
    early_stopping: None | int | EarlyStopping = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    watch: Any = None,
    callbacks: Iterable[Any] = (),
    stop: Any = None,
    eval_batch_size: int = 1024,
    log_every: int | None = None,
    amp: str | None = "auto",
    channels_last: str | bool = "auto",
    compile: bool | str = False,
) -> History:
    """Train ``model`` on ``data`` with cross-entropy and return what happened.

    Args:
        model: a module mapping (B, C, H, W) images to (B, K) logits; trained in place and
            left on ``device`` in eval mode.
        data: a ``Dataset`` or a name for ``vizlab.data.load`` (e.g. ``"digits"``).
        epochs, batch_size, lr: the usual; the training split is reshuffled every epoch.
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` (with ``momentum``) or a callable
            ``params -> torch.optim.Optimizer``.
        weight_decay: decoupled decay ``w <- w * (1 - lr * wd)`` for every built-in
            optimizer ("adam" with decay is AdamW). ``l2``/``l1``: penalties
            ``l2 * sum ||w||^2`` and ``l1 * sum |w|`` added to the loss. All three act on the
            conv/linear weights only (see ``decay_parameters``).
        augment: a module (or callable) applied to training batches only, ``x = augment(x)``;
            if it has ``mixes_labels = True`` it is called ``x, y = augment(x, y)`` and may
            return soft labels (B, K) that sum to 1 (MixUp, CutMix).
        early_stopping: ``None``, a patience, or ``EarlyStopping(...)``; watches val loss.
        device: ``"auto"`` (CUDA, then MPS, then CPU) or an explicit device.
        seed: seeds torch and the shuffling, so a CPU run is reproducible bit for bit.
        watch: a probe with ``attach()``/``close()``; attached for the fit (closed at the end
            if ``fit`` attached it, even after an error) and called like a callback.
        callbacks: objects with any of ``on_fit_start/on_step/on_epoch_end/on_fit_end``.
        stop: a ``threading.Event``; once set, ``fit`` returns within one step.
        eval_batch_size: batch size of the evaluation passes.
        log_every: steps between copies of the per-step losses to the host (and divergence
            checks); default 1 on CPU, where that costs nothing, 25 on a GPU.
        amp: ``"auto"`` (bf16 autocast on a CUDA GPU that supports it, off elsewhere),
            ``"bf16"`` (on wherever torch can autocast) or ``None`` (float32 throughout).
            Parameters, optimizer state and batch-norm statistics stay float32.
        channels_last: ``"auto"`` (on for CUDA and CPU, where it measured faster; off on
            MPS) or a bool: store images and conv weights channels-last. Only the memory
            layout changes (the model's conv weights stay channels-last after the fit);
            shapes and values read the same.
        compile: ``False``, ``True`` (``torch.compile`` with its default backend) or a
            backend name. Opt-in; cannot be combined with ``watch`` (ValueError).

    Returns:
        The ``History``. A NaN/inf loss ends the run with ``diverged=True`` instead of
        raising; a stop event ends it with ``stopped=True``.

    Raises:
        ValueError, TypeError: for bad arguments, data or model, before any training:
            images that are not (N, C, H, W) float32, NaN/inf pixels, an empty training
            split, training labels of a single class (nothing to learn: the accuracy would
            read 100%), labels outside ``[0, num_classes)``, a model whose logits do not
            fit the data.
        MemoryError: the device ran out of memory; the message suggests a smaller batch.

    Shape:
        data.train.x: (N, C, H, W); data.train.y: (N,) int64; model(x): (B, K)
    """
    # ---- 1. check everything that can be checked before training ---------------------
    check_arguments(
        model=model, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
        weight_decay=weight_decay, l2=l2, l1=l1, momentum=momentum, augment=augment,
        stop=stop, eval_batch_size=eval_batch_size, log_every=log_every, seed=seed,
    )  # fmt: skip
    stopper = EarlyStopping.coerce(early_stopping)
    callbacks = as_callbacks(callbacks)
    data = resolve_data(data)
    check_layout(data)

    # ---- 2. device, threads and seeds ---------------------------------------------------
    device = resolve_device(device)
    configure_threads()
    torch.manual_seed(seed)  # initial dropout masks, augmentation draws (CPU and CUDA)
    shuffle = torch.Generator().manual_seed(seed)  # the order of the training examples
    if log_every is None:
        log_every = 1 if device.type == "cpu" else 25
    amp_dtype = resolve_amp(amp, device)  # torch.bfloat16 or None
    channels_last = resolve_channels_last(channels_last, device)

    # ---- 3. move the model and the data once; they stay there -------------------------
    model.to(device)
    data = data.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)  # 4-D conv weights; others untouched
        data = to_channels_last(data)  # every batch sliced from it is channels-last too
    check_data(data, need_val=stopper is not None)
    check_model(model, data)
    if isinstance(augment, nn.Module):
        augment.to(device)
    forward = compile_model(model, compile, watched=watch is not None)
    opt = make_optimizer(
        model, optimizer, lr=lr, weight_decay=weight_decay, momentum=momentum,
        fused=device.type == "cuda",
    )  # fmt: skip
    decayed, _ = decay_parameters(model)  # the weights l1/l2 penalise

    n = len(data.train)
    # A trailing batch of one example has no batch statistics (BatchNorm fails on it).
    drop_last = n > batch_size and n % batch_size == 1
    steps_per_epoch = n // batch_size if drop_last else math.ceil(n / batch_size)
    total_steps = epochs * steps_per_epoch

    history = History(device=str(device), config=_config(locals()))
    state = FitState(model, history, 0, 0, total_steps, device, opt, data)
    started = time.perf_counter()
    attached_here = False
    try:
        if watch is not None:
            if not getattr(watch, "attached", False):
                watch.attach()
                attached_here = True
            callbacks.append(watch)
        notify(callbacks, "on_fit_start", state)

        best_loss, best_weights = math.inf, None
        pending: list[torch.Tensor] = []  # per-step losses not yet copied to the host
        train_seconds, images = 0.0, 0
        for epoch in range(1, epochs + 1):
            state.epoch = epoch
            model.train()
            if isinstance(augment, nn.Module):
                augment.train()
            epoch_start = time.perf_counter()
            loss_sum = torch.zeros((), device=device)  # sum of example losses, on device
            correct = torch.zeros((), device=device)  # correctly classified examples
            seen = 0
            batches = data.train.batches(
                batch_size, shuffle=True, generator=shuffle, drop_last=drop_last
            )
            for x, y in batches:  # x: (B, C, H, W), y: (B,)
                if stop is not None and stop.is_set():
                    history.stopped = True
                    break
                step = state.step + 1
                set_progress(model, state.step / total_steps)  # scheduled dropout reads it
                if augment is not None:
                    if getattr(augment, "mixes_labels", False):
                        x, y = augment(x, y)  # y may become soft labels: (B, K)
                    else:
                        x = augment(x)
                with autocast(device, amp_dtype):  # bf16 matmuls/convs; norms stay fp32
                    logits = forward(x)  # (B, K)
                    loss = F.cross_entropy(logits, y)  # fp32 under autocast; soft y allowed
                pending.append(loss.detach())
                if len(pending) >= log_every and _flush(history, pending, step):
                    break  # NaN/inf: stop before this step's update touches the weights
                extra = penalty(decayed, l2=l2, l1=l1)  # l2 * sum w^2 + l1 * sum |w|
                objective = loss if extra is None else loss + extra
                opt.zero_grad(set_to_none=True)
                objective.backward()
                opt.step()  # decoupled decay, if any, happens inside the optimizer

                b = x.shape[0]
                labels = y if y.ndim == 1 else y.argmax(dim=1)  # (B,)
                loss_sum += loss.detach() * b
                correct += (logits.detach().argmax(dim=1) == labels).sum()
                seen += b
                state.step, state.loss = step, loss.detach()
                notify(callbacks, "on_step", state)
            if pending and _flush(history, pending, state.step):
                break
            if history.stopped or history.diverged:
                break
            train_loss, train_acc = (torch.stack([loss_sum, correct]) / seen).tolist()
            train_seconds += time.perf_counter() - epoch_start
            images += seen

            # ---- evaluate the validation split: eval mode, no gradients -----------------
            val = evaluate(model, data.val, batch_size=eval_batch_size, stop=stop)
            if val is None:
                history.stopped = True
                break
            val_loss, val_acc = val
            history.add_epoch(
                epoch, train_loss=train_loss, train_acc=train_acc,
                val_loss=val_loss, val_acc=val_acc, lr=opt.param_groups[0]["lr"],
            )  # fmt: skip
            min_delta = stopper.min_delta if stopper is not None else 0.0
            if val_loss < best_loss - min_delta:
                best_loss, history.best_epoch = val_loss, epoch
                if stopper is not None and stopper.restore_best:
                    # A copy on the device: no host transfer, no sync.
                    best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
            notify(callbacks, "on_epoch_end", state)
            if stopper is not None and epoch - (history.best_epoch or 0) >= stopper.patience:
                history.stopped_early = True
                break

        # ---- wrap up: restore the best weights, test, timings -----------------------------
        history.stop_epoch = history.epochs[-1] if history.epochs else None
        if best_weights is not None:
            if history.best_epoch != history.stop_epoch or history.diverged:
                model.load_state_dict(best_weights)
            history.restored_epoch = history.best_epoch
        model.eval()
        usable = not history.diverged or history.restored_epoch is not None
        if len(data.test) and not history.stopped and usable:
            test = evaluate(model, data.test, batch_size=eval_batch_size, stop=stop)
            if test is None:
                history.stopped = True
            else:
                history.test_loss, history.test_acc = test
        history.images_per_s = images / train_seconds if train_seconds > 0 else 0.0
        history.seconds = time.perf_counter() - started
        notify(callbacks, "on_fit_end", state)
    except torch.OutOfMemoryError as err:
        # Say what to change instead of a page of allocator statistics, and give the memory
        # back so the next (smaller) run in the same kernel can start.
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise MemoryError(
            f"{device} ran out of memory at step {state.step + 1} with batch_size="
            f"{batch_size} (eval_batch_size={eval_batch_size}): try batch_size="
            f"{max(1, batch_size // 2)}, a smaller eval_batch_size or a smaller model"
        ) from err
    finally:
        if attached_here:
            watch.close()
    return history


@torch.no_grad()
def evaluate(
    model: nn.Module, split: Split, *, batch_size: int = 1024, stop: Any = None
) -> tuple[float, float] | None:
    """Mean cross-entropy and accuracy of ``model`` on ``split``, in eval mode.

    Sums stay on the device and are read once at the end. An empty split gives
    ``(nan, nan)``; a ``stop`` event set during the pass gives ``None``.

    Shape:
        split.x: (N, C, H, W), split.y: (N,)
    """
    if len(split) == 0:
        return math.nan, math.nan
    model.eval()
    device = split.x.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    for x, y in split.batches(batch_size):
        if stop is not None and stop.is_set():
            return None
        logits = model(x)  # (B, K)
        loss_sum += F.cross_entropy(logits, y, reduction="sum")
        correct += (logits.argmax(dim=1) == y).sum()
    loss, acc = (torch.stack([loss_sum, correct]) / len(split)).tolist()
    return loss, acc


def _flush(history: History, pending: list[torch.Tensor], last_step: int) -> bool:
    """Copy pending step losses to ``history`` in one transfer; True if one is NaN/inf.

    The losses belong to steps ``last_step - len(pending) + 1 .. last_step``. Only the
    finite ones before the first bad value are kept; the bad step goes to ``diverged_step``.
    """
    values = torch.stack(pending).tolist()  # one device -> host copy
    first = last_step - len(values) + 1
    pending.clear()
    for i, value in enumerate(values):
        if not math.isfinite(value):
            history.add_steps(list(range(first, first + i)), values[:i])
            history.diverged, history.diverged_step = True, first + i
            return True
    history.add_steps(list(range(first, last_step + 1)), values)
    return False


def _config(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a fit as a JSON-friendly dict, for ``History.config``."""
    keys = ("epochs", "batch_size", "lr", "weight_decay", "l2", "l1", "momentum", "seed")
    config: dict[str, Any] = {k: args[k] for k in keys}
    opt = args["optimizer"]
    config["optimizer"] = opt if isinstance(opt, str) else getattr(opt, "__name__", repr(opt))
    stopper = args["stopper"]
    config["early_stopping"] = None if stopper is None else dataclasses.asdict(stopper)
    config["augment"] = None if args["augment"] is None else repr(args["augment"])
    config["device"] = str(args["device"])
    config["model"] = type(args["model"]).__name__
    config["data"] = args["data"].name
    config["log_every"] = args["log_every"]
    config["eval_batch_size"] = args["eval_batch_size"]
    amp_dtype = args["amp_dtype"]
    config["amp"] = None if amp_dtype is None else str(amp_dtype).removeprefix("torch.")
    config["channels_last"] = args["channels_last"]
    config["compile"] = args["compile"]
    return config
