"""The fast path of ``fit``: mixed precision, channels-last memory and ``torch.compile``.

None of these change what a network computes, only how quickly a device computes it, so
``fit`` decides them from the device unless told otherwise:

- **bf16 autocast** runs convolutions and matrix products in bfloat16 on a GPU that supports
  it. bfloat16 keeps float32's exponent range, so no loss scaling is needed, and autocast
  keeps reductions that need precision (batch-norm statistics, softmax, cross-entropy) in
  float32. Parameters and optimizer state stay float32.
- **channels-last** stores images as (N, H, W, C) in memory while the tensor still reads as
  (N, C, H, W); GPU convolution kernels (tensor cores) prefer it, and so do the CPU
  convolution kernels torch uses on x86 (measured 13 % faster for the lecture VGG and 39 %
  for a ResNet-20 on a 2-core CPU, see ``benchmarks/RESULTS.md``), so "auto" turns it on for
  both. Apple's MPS backend is left as it is.
- **torch.compile** fuses the model's forward and backward into fewer kernels. It is opt-in:
  compiling costs time up front and not every platform has a compiler backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from vizlab.data.dataset import Dataset, Split

__all__ = [
    "AMP_CHOICES",
    "resolve_amp",
    "resolve_channels_last",
    "autocast",
    "to_channels_last",
    "compile_model",
]

AMP_CHOICES = ("auto", "bf16", None)


def resolve_amp(amp: Any, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``: ``torch.bfloat16`` or ``None`` (off).

    ``"auto"`` turns bf16 on for CUDA devices that support it and leaves it off elsewhere
    (CPU bf16 is slower than float32 on most CPUs without AMX). ``"bf16"`` forces it on any
    device torch can autocast on, which also lets the code path be tested on a CPU.

    Raises:
        ValueError: for anything but ``"auto"``, ``"bf16"``, ``None`` or ``False``.
    """
    if amp is None or amp is False:
        return None
    if amp == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return None
    if amp == "bf16":
        return torch.bfloat16
    raise ValueError(
        f"amp must be 'auto', 'bf16' or None, got {amp!r}; float16 needs loss scaling and "
        "is not offered (bf16 does not)"
    )


def resolve_channels_last(channels_last: Any, device: torch.device) -> bool:
    """Whether to store images and conv weights channels-last: ``"auto"`` means CUDA and CPU.

    Raises:
        ValueError: for anything but ``"auto"``, ``True`` or ``False``.
    """
    if channels_last == "auto":
        return device.type in ("cuda", "cpu")
    if isinstance(channels_last, bool):
        return channels_last
    raise ValueError(f"channels_last must be 'auto', True or False, got {channels_last!r}")


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``device`` in ``dtype``, or a no-op context when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_channels_last(data: Dataset) -> Dataset:
    """A dataset whose 4-D image tensors are channels-last (labels and 2-D inputs unchanged).

    Converting once, where the data lives, makes every batch slice channels-last for free.

    Shape:
        split.x: (N, C, H, W) in value, stored as (N, H, W, C)
    """

    def convert(split: Split) -> Split:
        if split.x.ndim != 4:
            return split
        return Split(split.x.contiguous(memory_format=torch.channels_last), split.y)

    return Dataset(
        data.name, list(data.classes), convert(data.train), convert(data.val),
        convert(data.test), dict(data.info),
    )  # fmt: skip


def compile_model(model: nn.Module, compile: bool | str, *, watched: bool) -> Callable:
    """The callable ``fit`` uses for training forwards: ``model`` itself or its compiled form.

    Args:
        compile: ``False`` (eager), ``True`` (torch's default backend, inductor) or the name
            of a ``torch.compile`` backend such as ``"eager"`` or ``"aot_eager"``.
        watched: a probe is attached. Probes read tensors inside hooks and copy them to the
            host, which a compiled graph cannot contain, so the two are refused together.

    Raises:
        ValueError: ``compile`` combined with a probe, an unknown backend, or a platform where
            ``torch.compile`` is unavailable. Nothing is compiled before the first step.
    """
    if compile is False or compile is None:
        return model
    if not (compile is True or isinstance(compile, str)):
        raise TypeError(f"compile must be a bool or a torch.compile backend name, got {compile!r}")
    if watched:
        raise ValueError(
            "compile cannot be combined with watch: the probes' hooks copy statistics to the "
            "host, which breaks the compiled graph; train with compile=False while watching "
            "and compile the runs that need no probes"
        )
    dynamo = getattr(torch, "_dynamo", None)
    if not hasattr(torch, "compile") or dynamo is None or not dynamo.is_dynamo_supported():
        raise ValueError(
            "torch.compile is not available on this platform (Python or torch version); "
            "use compile=False"
        )
    backend = "inductor" if compile is True else compile
    if backend not in dynamo.list_backends(exclude_tags=()):
        raise ValueError(
            f"unknown torch.compile backend {backend!r}; choose one of "
            f"{sorted(dynamo.list_backends(exclude_tags=()))} or use compile=True"
        )
    return torch.compile(model, backend=backend)
