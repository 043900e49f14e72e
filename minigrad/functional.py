"""Functional helpers composed from the primitives in `ops` (no derivative of their own needed)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .engine import Tensor
from .ops import lift


def mean(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Average over `axis` (all axes by default): a sum times 1/count."""
    a = lift(a)
    total = a.sum(axis=axis, keepdims=keepdims)
    return total * (total.size / a.size if a.size else np.nan)


Tensor.mean = mean
