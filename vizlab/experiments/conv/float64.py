"""Exact arithmetic for section A: tensors on the CPU in float64.

The arithmetic topics (``conv_arithmetic``, ``receptive_field``) run in float64 on the CPU,
so "equal" means equal to rounding.
"""

from __future__ import annotations

import torch

CPU64 = dict(device="cpu", dtype=torch.float64)
