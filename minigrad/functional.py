"""Functional helpers composed from the primitives in `ops` (no derivative of their own needed)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .engine import Tensor
from .ops import concatenate, lift, reshape


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


def split(a: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """Split into pieces along `axis`, as np.split: N equal sections or at the given indices."""
    a = lift(a)
    length = a.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0 or length % sections:
            raise ValueError(
                f"split: axis {axis} of shape {a.shape} does not divide into {sections} equal "
                f"sections"
            )
        bounds = list(range(0, length + 1, length // sections))
    else:
        bounds = [0, *(min(int(i), length) for i in indices_or_sections), length]
    head = (slice(None),) * (axis % a.ndim)
    return [a[head + (slice(start, max(start, stop)),)] for start, stop in zip(bounds, bounds[1:])]


Tensor.mean = mean
