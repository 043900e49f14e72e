"""In-place updates: `t += x`, `add_`, `sub_`, `mul_`, `div_`, `zero_`, `fill_`, `copy_`.

They follow PyTorch where it matters for training code:

- Outside recording (inside `no_grad()`, or when nothing involved requires grad) the new values
  are written into the tensor's own array, so `with no_grad(): p -= lr * p.grad` updates the
  parameter, and every tensor sharing the array sees it.
- While recording, a leaf that requires grad cannot be updated in place (PyTorch's error). Any
  other tensor gets the recorded out-of-place result in its place (its `.data` and its edge are
  rebound), which extends its history as PyTorch's in-place ops do; the arrays the graph saved
  are never touched, so earlier uses still get correct gradients.
- An array a live graph saved for backward is read-only (saved.py): writing into it is refused
  with a message saying so. An array that an op made is read-only from birth, but nothing
  records whether a graph still holds it, so an in-place op gives such a tensor a fresh array
  instead of writing (copy on write): tensors sharing the old array (`detach()`, views) keep
  the old values, and the graph keeps what it saved.

The tensor keeps its shape and dtype: a result that broadcasts to a larger shape is refused,
and a float64 operand is cast to a float32 tensor's dtype (as PyTorch).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import saved
from ..engine import Function, Tensor
from ..grad_mode import is_grad_enabled
from .elementwise import Add, Div, Mul, Sub, Where
from .operands import lift

_ALL = np.ones((), dtype=bool)  # the condition of a `where` that takes its first operand everywhere


class Cast(Function):
    """The same values in another float dtype; the gradient goes back in the input's dtype."""

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.data.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return Cast.apply(g, ctx.dtype), None


def _binary(name: str, fn: type[Function], ufunc: np.ufunc) -> Any:
    def update(self: Tensor, other: Any) -> Tensor:
        other = lift(other, self)
        if _recording(self, other):
            _check_not_leaf(name, self)
            return _take_place(name, self, fn.apply(self, other))
        shape = _result_shape(name, self, other)
        if self.data.flags.writeable:
            ufunc(self.data, other.data, out=self.data, casting="same_kind")
        else:
            _replace(name, self, ufunc(self.data, other.data), shape)
        return self

    update.__name__ = name
    update.__doc__ = f"`{name}(other)`: update this tensor in place (see minigrad.ops.inplace)."
    return update


def copy_(self: Tensor, src: Any) -> Tensor:
    """Copy `src` (broadcast to this tensor's shape, cast to its dtype) into this tensor."""
    src = lift(src, self)
    if _recording(self, src):
        _check_not_leaf("copy_", self)
        return _take_place("copy_", self, Where.apply(_ALL, src, self))  # self gets no gradient
    shape = _result_shape("copy_", self, src)
    if self.data.flags.writeable:
        np.copyto(self.data, src.data, casting="same_kind")
    else:
        _replace("copy_", self, np.broadcast_to(src.data, shape), shape)
    return self


def fill_(self: Tensor, value: Any) -> Tensor:
    """Set every element to `value` (a number, or a one-element Tensor)."""
    if isinstance(value, Tensor) and value.size != 1:
        raise ValueError(
            f"fill_: the value must be a number or one element, got shape {value.shape}"
        )
    if isinstance(value, Tensor):
        value = value.reshape(())
    elif not isinstance(value, (int, float, np.number)) or isinstance(value, complex):
        raise TypeError(f"fill_: the value must be a real number, got {value!r}")
    return copy_(self, value)


def zero_(self: Tensor) -> Tensor:
    """Set every element to 0."""
    return copy_(self, 0.0)


def _recording(tensor: Tensor, other: Tensor) -> bool:
    return is_grad_enabled() and (tensor.requires_grad or other.requires_grad)


def _check_not_leaf(name: str, tensor: Tensor) -> None:
    if tensor.is_leaf and tensor.requires_grad:
        raise RuntimeError(
            f"{name}: a leaf tensor that requires grad is used in an in-place operation (shape "
            f"{tensor.shape}); update parameters inside `with minigrad.no_grad():`, or write "
            f"`t = t + x` to make a new tensor"
        )


def _result_shape(name: str, tensor: Tensor, other: Tensor) -> tuple:
    """The shape of the update; it must be the tensor's own."""
    try:
        shape = np.broadcast_shapes(tensor.shape, other.shape)
    except ValueError:
        shape = None
    if shape != tensor.shape:
        raise ValueError(
            f"{name}: cannot update a tensor of shape {tensor.shape} in place with an operand "
            f"of shape {other.shape}: the result would "
            + ("not broadcast" if shape is None else f"have shape {shape}")
        )
    return shape


def _take_place(name: str, tensor: Tensor, result: Tensor) -> Tensor:
    """Make `tensor` the recorded `result` (same shape, cast to its dtype)."""
    if result.shape != tensor.shape:
        _result_shape(name, tensor, result)  # raises, naming both shapes
    if result.dtype != tensor.dtype:
        result = Cast.apply(result, tensor.dtype)
    tensor.data, tensor._edge, tensor.requires_grad = result.data, result._edge, True
    return tensor


def _replace(name: str, tensor: Tensor, values: np.ndarray, shape: tuple) -> None:
    """Give a read-only tensor a fresh array of `values`, unless a live graph saved its array."""
    if saved.is_locked(tensor.data):
        raise RuntimeError(
            f"{name}: cannot modify a tensor of shape {shape} in place: its array is read-only "
            f"because a recorded op saved it for backward, and changing it would make those "
            f"gradients wrong. Run backward first (without retain_graph=True), or drop the "
            f"graph (del the loss), or write `t = t + x` to make a new tensor"
        )
    tensor.data = np.array(np.broadcast_to(values, shape), dtype=tensor.dtype)


add_ = _binary("add_", Add, np.add)
sub_ = _binary("sub_", Sub, np.subtract)
mul_ = _binary("mul_", Mul, np.multiply)
div_ = _binary("div_", Div, np.true_divide)
