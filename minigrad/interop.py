"""How a Tensor meets Python and numpy: its truth value, numpy arrays and calls, copies and pickles.

None of this is on the path a learner reads first (engine.py); `install` attaches it to `Tensor`
when the package is imported, and `ops` fills the tables of the numpy calls that run minigrad ops.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import checks
from .engine import Tensor

NUMPY_UFUNCS: dict[
    Any, Any
] = {}  # numpy ufunc -> the minigrad op it runs on Tensors (filled by ops)
NUMPY_FUNCTIONS: dict[Any, Any] = {}  # numpy function -> the minigrad op (filled by ops)


def truth_value(self: Tensor) -> bool:
    """The truth value of a one-element tensor; more (or no) elements are ambiguous."""
    if self.data.size != 1:
        amount = "no values" if self.data.size == 0 else "more than one value"
        raise RuntimeError(
            f"Boolean value of Tensor with {amount} is ambiguous (shape {self.shape}); use "
            f"(t == x).all() / .any() on the comparison's array"
        )
    return bool(self.data.item())


# --- numpy interop: np.asarray(t), np.exp(t), np.sum(t), ndarray * t ---------------------------


def as_array(self: Tensor, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
    """The float array (shared unless numpy asks for a copy), as `.numpy()`.

    Unlike PyTorch this works for a tensor that requires grad too (as `.numpy()` does): the
    array is the value, and no gradient flows through what numpy computes from it.
    """
    array = self.data if dtype is None else self.data.astype(dtype, copy=False)
    if copy:
        return np.array(array, copy=True)
    if copy is False and array is not self.data:
        raise ValueError(f"Tensor: cannot give a {dtype} array of {self.dtype} data without a copy")
    return array


def numpy_ufunc(self: Tensor, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """numpy ufuncs with a Tensor operand run the minigrad op (recorded), or raise; those
    giving booleans (np.isfinite, np.isnan) run on the values, like the comparisons."""
    op = NUMPY_UFUNCS.get(ufunc) if method == "__call__" and not kwargs else None
    if op is None and method == "__call__" and all(t.endswith("?") for t in ufunc.types):
        arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
        return ufunc(*arrays, **kwargs)  # a test (isfinite, isnan): no gradient to lose
    if op is None:
        raise checks.numpy_call(
            f"{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        )
    return op(*inputs)


def numpy_function(self: Tensor, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
    """numpy functions (np.sum(t), np.concatenate) run the minigrad op, or raise."""
    op = NUMPY_FUNCTIONS.get(func)
    if op is None:
        raise checks.numpy_call(func.__name__)
    return op(*args, **kwargs)


# --- copies: only leaves (the graph cannot be copied), each with its own memory -----------------


def deep_copy(self: Tensor, memo: dict) -> Tensor:
    if self.grad_fn is not None:
        raise checks.not_a_leaf("deepcopy")
    copy = rebuild_leaf(type(self), self.data, self.requires_grad, self.grad)
    memo[id(self)] = copy
    return copy


def reduce_ex(self: Tensor, protocol: Any) -> tuple:
    if self.grad_fn is not None:
        raise checks.not_a_leaf("pickle")
    return rebuild_leaf, (type(self), self.data, self.requires_grad, self.grad)


def rebuild_leaf(cls: Any, data: np.ndarray, requires_grad: bool, grad: Any) -> Any:
    """A leaf of type `cls` with copies of `data` and `grad` (what deepcopy and pickle make)."""
    tensor = cls.__new__(cls)
    Tensor.__init__(tensor, data, requires_grad)  # copies the array
    tensor.grad = None if grad is None else np.array(grad, copy=True)
    return tensor


def install() -> None:
    """Attach the protocols above to `Tensor`."""
    T: Any = Tensor
    T.__bool__ = truth_value
    T.__array__ = as_array
    T.__array_ufunc__ = numpy_ufunc
    T.__array_function__ = numpy_function
    T.__deepcopy__ = deep_copy
    T.__reduce_ex__ = reduce_ex


install()
