"""RandAugment (Cubuk et al. 2020): N ops per image, all at one shared magnitude M.

Instead of learning an augmentation policy, RandAugment draws, for every image, ``N`` ops
uniformly (with replacement) from a fixed list of 14 and applies them in order, each at the
strength given by a single integer ``M`` in 0..30. Two numbers replace a whole search.

Magnitude mapping (``OPS``), with ``t = M / 30`` and a random sign for the signed ops:

=================  ==============================  ======
op                 value at magnitude M            signed
=================  ==============================  ======
identity           none                            no
autocontrast       none                            no
equalize           none                            no
rotate             30 * t degrees                  yes
solarize           threshold (1 - t) * 256 / 255   no
color              saturation factor 1 + 0.9 * t   yes
posterize          8 - round(4 * t) bits (8 -> 4)  no
contrast           factor 1 + 0.9 * t              yes
brightness         factor 1 + 0.9 * t              yes
sharpness          factor 1 + 0.9 * t              yes
shear_x, shear_y   0.3 * t                         yes
translate_x, _y    0.45 * t of the image size      yes
=================  ==============================  ======

"Signed" means the deviation from "no change" gets a random sign (a factor 1 - 0.9 t or
1 + 0.9 t, a rotation left or right). Translations are a fraction of the image size, so
the same M means the same visual shift on 8x8 digits and 128x192 photos. Solarize inverts
the pixels at or above its threshold; the threshold runs from 256/255 (nothing, as PIL's 256
on 8-bit images) down to 0 (everything).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from vizlab.augment import functional as AF
from vizlab.augment.base import Augment, Params, uniform, where_applied

__all__ = ["RandAugment", "RandAugmentParams", "RandOp", "OPS", "MAX_MAGNITUDE"]

MAX_MAGNITUDE = 30


@dataclass(frozen=True)
class RandOp:
    """One RandAugment op: how M maps to a value, and the pure function that applies it.

    Attributes:
        name: registry key.
        fn: ``fn(x, value)`` with x (B, C, H, W) and value (B,) -> (B, C, H, W).
        base: the value that means "no change" (1 for factors, 0 for angles and shifts).
        span: value - base at M = 30 (before the sign).
        signed: whether the deviation gets a random sign.
        unit: how ``describe`` prints the value ("" for ops without a magnitude).
    """

    name: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    base: float = 0.0
    span: float = 0.0
    signed: bool = False
    unit: str = ""

    def value(self, magnitude: float, sign: torch.Tensor) -> torch.Tensor:
        """Per-example values (B,) for magnitude M and signs (B,) of +-1."""
        dev = self.span * magnitude / MAX_MAGNITUDE
        v = self.base + dev * (sign if self.signed else torch.ones_like(sign))
        if self.name == "posterize":
            v = v.round()
        return v


def _shift(axis: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def fn(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        size = x.shape[3] if axis == 0 else x.shape[2]
        shift = torch.zeros(len(v), 2, device=x.device)
        shift[:, axis] = v * size
        return AF.warp_affine(x, AF.affine_matrix(x.shape[-2:], translate=shift))

    return fn


def _shear(axis: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def fn(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        shear = torch.zeros(len(v), 2, device=x.device)
        shear[:, axis] = v
        return AF.warp_affine(x, AF.affine_matrix(x.shape[-2:], shear=shear))

    return fn


def _rotate(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return AF.warp_affine(x, AF.affine_matrix(x.shape[-2:], angle=v))


_OP_LIST = [
    RandOp("identity", lambda x, v: x.clone()),
    RandOp("autocontrast", lambda x, v: AF.autocontrast(x)),
    RandOp("equalize", lambda x, v: AF.equalize(x)),
    RandOp("rotate", _rotate, 0.0, 30.0, True, "°"),
    RandOp("solarize", AF.solarize, 256 / 255, -256 / 255, False, "threshold"),
    RandOp("color", AF.saturation, 1.0, 0.9, True, "x"),
    RandOp("posterize", lambda x, v: AF.posterize(x, v.long()), 8.0, -4.0, False, "bits"),
    RandOp("contrast", AF.contrast, 1.0, 0.9, True, "x"),
    RandOp("brightness", AF.brightness, 1.0, 0.9, True, "x"),
    RandOp("sharpness", AF.sharpness, 1.0, 0.9, True, "x"),
    RandOp("shear_x", _shear(0), 0.0, 0.3, True, "shear"),
    RandOp("shear_y", _shear(1), 0.0, 0.3, True, "shear"),
    RandOp("translate_x", _shift(0), 0.0, 0.45, True, "of size"),
    RandOp("translate_y", _shift(1), 0.0, 0.45, True, "of size"),
]
OPS: dict[str, RandOp] = {op.name: op for op in _OP_LIST}


def _format(op: RandOp, v: float) -> str:
    if not op.unit:
        return op.name
    if op.unit == "°":
        return f"{op.name} {v:+.1f}°"
    if op.unit == "x":
        return f"{op.name} x{v:.2f}"
    if op.unit == "bits":
        return f"{op.name} {int(v)} bits"
    if op.unit == "threshold":
        return f"{op.name} >={v:.2f}"
    return f"{op.name} {v:+.2f}"


@dataclass
class RandAugmentParams(Params):
    """Record of RandAugment on a batch.

    Attributes:
        ops: (B, N) int64 indices into ``names``, in the order they were applied.
        value: (B, N) the value each op used (degrees, factor, threshold, bits, fraction).
        magnitude: M, shared by every op.
        names: the op names the indices refer to.
    """

    ops: torch.Tensor
    value: torch.Tensor
    magnitude: float
    names: tuple[str, ...]

    def op_names(self, i: int) -> list[str]:
        """The names of the ops applied to example ``i``, in order."""
        return [self.names[j] for j in self.ops[i].tolist()]


class RandAugment(Augment):
    """Apply exactly ``n`` ops per image, drawn from ``OPS``, each at magnitude ``m``.

    Args:
        n: ops per image (N >= 0; drawn with replacement, so an op may repeat).
        m: magnitude M in 0..30 (see the module docstring for what it means per op).
        p: probability of augmenting each example at all (default 1).
        ops: names of the ops to draw from (default all 14 of ``OPS``).
        generator: default ``torch.Generator``.

    Shape:
        x: (B, C, H, W) -> (B, C, H, W), in [0, 1]
    """

    name = "randaugment"

    def __init__(
        self,
        n: int = 2,
        m: float = 9,
        p: float = 1.0,
        *,
        ops: tuple[str, ...] | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(p, generator=generator)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n (ops per image) must be an int >= 0, got {n!r}")
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 <= m <= MAX_MAGNITUDE:
            raise ValueError(f"m (magnitude) must lie in 0..{MAX_MAGNITUDE}, got {m!r}")
        names = tuple(OPS) if ops is None else tuple(ops)
        if not names:
            raise ValueError(
                f"ops is empty: RandAugment needs at least one op to draw from; use "
                f"ops=None for all of {list(OPS)}"
            )
        unknown = [k for k in names if k not in OPS]
        if unknown:
            raise ValueError(f"unknown RandAugment ops {unknown}; choose from {list(OPS)}")
        self.n, self.m, self.names = n, float(m), names

    def _sample(self, x, applied, generator) -> RandAugmentParams:
        b, n = x.shape[0], self.n
        u = uniform(b * n, 0, 1, device=x.device, generator=generator).view(b, n)
        ops = (u * len(self.names)).long().clamp(max=len(self.names) - 1)
        coin = uniform(b * n, 0, 1, device=x.device, generator=generator).view(b, n)
        sign = torch.where(coin < 0.5, -1.0, 1.0)
        value = torch.zeros(b, n, device=x.device)
        for j, name in enumerate(self.names):
            value = torch.where(ops == j, OPS[name].value(self.m, sign), value)
        return RandAugmentParams(
            applied=applied, ops=ops, value=value, magnitude=self.m, names=self.names
        )

    def apply(self, x: torch.Tensor, params: RandAugmentParams) -> torch.Tensor:
        out = x
        for k in range(params.ops.shape[1]):  # the k-th op of every image
            column = params.ops[:, k]
            new = out.clone()
            for j in torch.unique(column).tolist():
                idx = (column == j).nonzero().squeeze(1)
                new[idx] = OPS[params.names[j]].fn(out[idx], params.value[idx, k])
            out = new
        return where_applied(params.applied, out, x)

    def describe(self, params: RandAugmentParams, i: int) -> str:
        if not bool(params.applied[i]):
            return ""
        names, values = params.op_names(i), params.value[i].tolist()
        return ", ".join(_format(OPS[k], v) for k, v in zip(names, values))

    def extra_repr(self) -> str:
        return f"n={self.n}, m={self.m}, p={self.p}"
