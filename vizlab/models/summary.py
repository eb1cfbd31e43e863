"""A layer table: name, type, output shape and parameter count of every module.

The table is measured, not computed from formulas: one forward pass on a zeros tensor with a
forward hook on every module records what each module really returned. Parameters are
counted per module without recursion, so the column adds up to ``sum(p.numel())`` of the
model (containers show 0 unless they own parameters themselves).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["SummaryRow", "format_summary", "summary"]


@dataclass(frozen=True)
class SummaryRow:
    """One module of the table.

    Attributes:
        name: dotted module path, as in ``model.named_modules()``.
        type: class name of the module.
        output_shape: shape of the tensor it returned (batch included); a tuple of shapes
            for modules returning several tensors; ``None`` if it did not run.
        params: number of parameters the module owns itself (not its children's).
    """

    name: str
    type: str
    output_shape: tuple | None
    params: int

    def __getitem__(self, index: int):
        """Index like the tuple ``(name, type, output_shape, params)`` (what plots take)."""
        return (self.name, self.type, self.output_shape, self.params)[index]

    def __len__(self) -> int:
        return 4


def _shape_of(out: object) -> tuple | None:
    if isinstance(out, torch.Tensor):
        return tuple(out.shape)
    if isinstance(out, (tuple, list)):
        shapes = tuple(_shape_of(o) for o in out)
        return shapes if any(s is not None for s in shapes) else None
    return None


def summary(
    model: nn.Module, input_shape: Sequence[int], *, device: torch.device | str | None = None
) -> list[SummaryRow]:
    """Run one forward pass and tabulate every submodule in definition order.

    The forward runs in eval mode and without gradients (the model's mode is restored
    afterwards), so dropout is off and batch-statistic norms use their running statistics;
    a batch of one is therefore fine. The hooks are removed even if the forward fails.

    Args:
        model: any ``torch.nn.Module``.
        input_shape: ``(C, H, W)`` (a batch of one is added), ``(B, C, H, W)``, or
            ``(B, F)`` / ``(F,)`` for fully connected models.
        device: where to build the zeros input; defaults to the model's parameters' device.

    Returns:
        One ``SummaryRow`` per submodule (the model itself is not a row). Modules that did
        not run in this forward keep ``output_shape=None``.

    Shape:
        - Input: ``input_shape`` (a zeros tensor is built from it).
    """
    shape = tuple(int(s) for s in input_shape)
    if not 1 <= len(shape) <= 4 or min(shape) < 1:
        raise ValueError(
            f"input_shape must be (C, H, W), (B, C, H, W), (F,) or (B, F) with positive sizes, "
            f"got {tuple(input_shape)!r}; e.g. data.shape for a vizlab Dataset"
        )
    if len(shape) in (1, 3):
        shape = (1, *shape)
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    names = [(name, module) for name, module in model.named_modules() if name]
    outputs: dict[str, tuple | None] = {}
    handles = []

    def record(name: str):
        def hook(_module: nn.Module, _inputs: object, out: object) -> None:
            outputs[name] = _shape_of(out)

        return hook

    modes = {m: m.training for m in model.modules()}
    try:
        for name, module in names:
            handles.append(module.register_forward_hook(record(name)))
        model.eval()
        with torch.no_grad():
            try:
                model(torch.zeros(shape, device=device))
            except RuntimeError as err:  # a shape mismatch deep inside a layer: say which
                raise RuntimeError(
                    f"the model cannot run on an input of shape {shape}: {err}. Pass the "
                    "input_shape it was built for (its in_channels and input_size)"
                ) from err
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes.items():
            module.training = mode
    return [
        SummaryRow(
            name=name,
            type=type(module).__name__,
            output_shape=outputs.get(name),
            params=sum(p.numel() for p in module.parameters(recurse=False)),
        )
        for name, module in names
    ]


def format_summary(rows: Sequence[SummaryRow], *, taps: bool = False) -> str:
    """Format rows as a fixed-width text table with a total line.

    Args:
        rows: the output of ``summary``.
        taps: include the identity ``Tap`` rows (hidden by default; they repeat the shape
            of the module before them and own no parameters).
    """
    shown = [r for r in rows if taps or r.type != "Tap"]
    header = ("layer", "type", "output shape", "params")
    body = [
        (r.name, r.type, "-" if r.output_shape is None else str(r.output_shape), f"{r.params:,}")
        for r in shown
    ]
    total = sum(r.params for r in rows)
    footer = ("total", "", "", f"{total:,}")
    widths = [max(len(line[i]) for line in [header, *body, footer]) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        left = [c.ljust(w) for c, w in zip(cells[:3], widths[:3])]
        return "  ".join([*left, cells[3].rjust(widths[3])])

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *(line(b) for b in body), rule, line(footer)])
