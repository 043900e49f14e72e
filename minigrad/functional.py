"""Functional helpers composed from the primitives in `ops` (no derivative of their own needed)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .engine import Tensor
from .ops import concatenate, lift, reshape, split  # noqa: F401 - split is re-exported


def mean(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Average over `axis` (all axes by default): a sum times 1/count."""
    a = lift(a)
    total = a.sum(axis=axis, keepdims=keepdims)
    return total * (total.size / a.size if a.size else np.nan)


def stack(tensors: Any, axis: int = 0) -> Tensor:
    """Join tensors along a new axis, as np.stack: each gains a size-1 axis, then concatenate."""
    tensors = [lift(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    ndim = tensors[0].ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"stack: axis {axis} is out of bounds for a result of {ndim} dimensions")
    axis %= ndim
    expanded = [reshape(t, t.shape[:axis] + (1,) + t.shape[axis:]) for t in tensors]
    return concatenate(expanded, axis=axis)


Tensor.mean = mean
