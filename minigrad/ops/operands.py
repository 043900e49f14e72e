"""How Python values become the Tensor operands of the primitives: `lift`, `constant`, `pair`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import Tensor, as_float_array, from_numpy

_scalars: dict[tuple, Tensor] = {}  # (value, dtype) -> read-only constant: code repeats 1, 0.5...


def lift(value: Any, like: Tensor | None = None) -> Tensor:
    """Make `value` a Tensor; a scalar (Python or numpy, or a 0-d array) takes `like`'s dtype,
    so it never upcasts it; an array keeps numpy's promotion."""
    if isinstance(value, Tensor):
        return value
    if like is None:
        return from_numpy(as_float_array(value))
    if type(value) is not float and isinstance(value, (np.generic, np.ndarray)):
        if value.ndim == 0 and value.dtype.kind in "fiub":
            value = value.item()  # a numpy scalar or 0-d array is a scalar (PyTorch keeps float32)
    if isinstance(value, (int, float, bool)):
        key = (value, like.data.dtype)
        scalar = _scalars.get(key)
        if scalar is None:
            array = np.asarray(value, dtype=like.data.dtype)
            array.flags.writeable = False  # no one can write into it: sharing it is safe
            scalar = from_numpy(array)
            if value and value == value and len(_scalars) < 256:  # not ±0 (same key) or NaN
                _scalars[key] = scalar
        return scalar
    return from_numpy(as_float_array(value))


def constant(array: np.ndarray, dtype: np.dtype) -> Tensor:
    """A Tensor of `array` in `dtype` that no gradient flows into (masks, weights)."""
    return from_numpy(np.asarray(array, dtype=dtype))


def pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors; a scalar takes the dtype of the Tensor beside it."""
    if isinstance(a, Tensor):
        return a, lift(b, a)
    b = lift(b)
    return lift(a, b), b


def as_axis(axis: Any) -> Any:
    """An axis argument as numpy takes it (a list of axes becomes a tuple)."""
    return tuple(axis) if isinstance(axis, list) else axis
