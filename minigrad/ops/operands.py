"""How Python values and arguments become what the primitives take: `lift`, `constant`, `pair`,
and PyTorch's `dim=`/`keepdim=` beside numpy's `axis=`/`keepdims=`."""

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


def pick_axis(where: str, dim: Any, axis: Any) -> Any:
    """PyTorch's `dim=` or numpy's `axis=` (whichever was given; not both), as numpy takes it."""
    if dim is not None and axis is not None:
        raise TypeError(f"{where}: got both dim={dim!r} and axis={axis!r}; pass one of them")
    return as_axis(axis if dim is None else dim)


def pick_keep(where: str, keepdim: bool, keepdims: bool | None) -> bool:
    """PyTorch's `keepdim=` or numpy's `keepdims=` (whichever was given)."""
    if keepdims is None:
        return bool(keepdim)
    if keepdim and not keepdims:
        raise TypeError(f"{where}: got keepdim=True and keepdims=False; pass one of them")
    return bool(keepdims)


def pick_dims(where: str, dim: Any, keepdim: bool, axis: Any, keepdims: bool | None) -> tuple:
    """(axis, keepdims) for numpy, from PyTorch's dim/keepdim or numpy's axis/keepdims."""
    return pick_axis(where, dim, axis), pick_keep(where, keepdim, keepdims)


def check_dim(where: str, dim: Any, ndim: int) -> int:
    """One axis as a non-negative int, checked against `ndim` (0-d tensors take 0 or -1)."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{where}: dim must be an int, got {dim!r}")
    bound = max(ndim, 1)
    if not -bound <= dim < bound:
        raise IndexError(
            f"{where}: dim {dim} is out of range for a tensor of {ndim} dims "
            f"(expected {-bound} .. {bound - 1})"
        )
    return int(dim) % bound
