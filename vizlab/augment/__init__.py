"""Data augmentation as batched, recorded, replayable layers.

Every op works on a whole batch (B, C, H, W) of float images in [0, 1] on whatever device
the batch is on, with its own random draw for each example. Each op is an ``nn.Module``:
in ``train()`` it augments, in ``eval()`` it returns its input object untouched, so it can
be the first layer of a model. Every op splits into ``sample_params(x)`` (the random
choices, a small dataclass kept as ``last_params``) and a pure ``apply(x, params)``;
``replay(x, params)`` redraws a recorded batch and ``describe(params, i)`` captions one
example.

Ops: ``Flip``/``VFlip``, ``Crop`` (pad + random crop), ``Translate``, ``Shear``,
``Rotate``, ``Brightness``, ``Contrast``, ``Color``, ``Cutout`` (DeVries & Taylor 2017),
``RandAugment`` (Cubuk et al. 2020) with its registry ``OPS``, the label-mixing ``MixUp``
(Zhang et al. 2018) and ``CutMix`` (Yun et al. 2019), and ``Compose``. The lowercase names
(``flip``, ``crop``, ...) are the same classes under the spelling the lectures use.
"""

from vizlab.augment import functional
from vizlab.augment.affine import Rotate, Shear, Translate
from vizlab.augment.base import Augment, Params
from vizlab.augment.compose import Compose, ComposeParams
from vizlab.augment.crop import Crop
from vizlab.augment.cutout import Cutout
from vizlab.augment.flip import Flip, VFlip
from vizlab.augment.mix import CutMix, MixParams, MixUp
from vizlab.augment.photometric import Brightness, Color, Contrast
from vizlab.augment.randaugment import OPS, RandAugment, RandOp

# Lowercase spellings of the ops, as API.md and the lectures name them.
flip = Flip
vflip = VFlip
crop = Crop
translate = Translate
shear = Shear
rotate = Rotate
brightness = Brightness
contrast = Contrast
color = Color
cutout = Cutout

__all__ = [
    "Augment",
    "Params",
    "Flip",
    "VFlip",
    "Crop",
    "Translate",
    "Shear",
    "Rotate",
    "Brightness",
    "Contrast",
    "Color",
    "Cutout",
    "MixUp",
    "CutMix",
    "MixParams",
    "RandAugment",
    "RandOp",
    "OPS",
    "Compose",
    "ComposeParams",
    "flip",
    "vflip",
    "crop",
    "translate",
    "shear",
    "rotate",
    "brightness",
    "contrast",
    "color",
    "cutout",
    "functional",
]
