"""The primitive operations: each a `Function` whose derivative sits right under its forward.

One file per family: `elementwise.py` (arithmetic, exp/log/tanh/sigmoid/relu/sqrt/abs,
maximum/minimum/clamp, casts, sin/cos, PyTorch's activations, masked_fill), `reductions.py` (sum,
max/min, mean, var/std, prod, cumsum, logsumexp, broadcasting), `shape.py` (reshape,
transpose/permute, indexing and gather, concatenate/split/chunk, stack/unstack), `linalg.py`
(matmul, linear, einsum); `operands.py` turns Python values (and `dim=`/`axis=` arguments) into
what the primitives take.
Every backward is written with Tensor ops, so the engine can record it (`create_graph=True`) and
second derivatives come for free. Below, Tensor's operators and methods are attached to these
primitives, all in one place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import Function, Tensor
from ..interop import NUMPY_FUNCTIONS, NUMPY_UFUNCS
from .elementwise import (
    Abs,
    Add,
    Clamp,
    Copy,
    Cos,
    Div,
    Erf,
    Exp,
    Log,
    Maximum,
    Minimum,
    Mul,
    Neg,
    Pow,
    Relu,
    Sigmoid,
    SigmoidGrad,
    Sign,
    Sin,
    Softplus,
    Sqrt,
    Sub,
    Tanh,
    TanhGrad,
    Where,
    abs,
    add,
    clamp,
    clip,
    cos,
    div,
    erf,
    exp,
    gelu,
    leaky_relu,
    log,
    masked_fill,
    maximum,
    minimum,
    mul,
    pow,
    reciprocal,
    relu,
    sigmoid,
    sign,
    silu,
    sin,
    softplus,
    sqrt,
    square,
    sub,
    tanh,
    to,
    where,
)
from .inplace import Cast, add_, copy_, div_, fill_, mul_, sub_, zero_
from .linalg import Einsum, Linear, MatMul, einsum, linear, matmul
from .operands import constant, lift, pair
from .reductions import (
    BroadcastTo,
    Cumsum,
    LogSumExp,
    Max,
    Prod,
    RootOfVariance,
    Sum,
    SumTo,
    ValuesIndices,
    ZeroSafeInverse,
    argmax,
    argmin,
    broadcast_to,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    prod,
    std,
    sum,
    sum_to,
    var,
)
from .shape import (
    Concatenate,
    Index,
    IndexAdd,
    Reshape,
    Split,
    Stack,
    Transpose,
    Unstack,
    cat,
    chunk,
    concatenate,
    expand,
    flatten,
    gather,
    getitem,
    index_select,
    permute,
    reshape,
    split,
    split_sizes,
    squeeze,
    stack,
    swapdims,
    transpose,
    unsqueeze,
    unstack,
)

# --- Tensor's operators and methods ------------------------------------------------------------


def install_tensor_methods() -> None:
    """Attach the operators and methods listed in `Tensor`'s docstring to the primitives."""
    T = Tensor
    T.__add__, T.__radd__ = _binary(Add)
    T.__sub__, T.__rsub__ = _binary(Sub)
    T.__mul__, T.__rmul__ = _binary(Mul)
    T.__truediv__, T.__rtruediv__ = _binary(Div)
    T.__pow__, T.__rpow__ = _binary(Pow)
    T.__matmul__, T.__rmatmul__ = _binary(MatMul)
    T.__neg__ = lambda self: Neg.apply(self)
    T.__abs__ = abs
    T.__iadd__, T.__isub__, T.__imul__, T.__itruediv__ = add_, sub_, mul_, div_
    T.add_, T.sub_, T.mul_, T.div_ = add_, sub_, mul_, div_
    T.zero_, T.fill_, T.copy_ = zero_, fill_, copy_
    T.__getitem__ = getitem
    T.__iter__ = _iterate
    # Comparisons, `==` and `!=` too, are elementwise and give boolean numpy arrays (no
    # gradient), handy as `where` conditions; Tensors still hash by identity (engine.py).
    T.__lt__ = lambda self, other: self.data < _array(other)
    T.__le__ = lambda self, other: self.data <= _array(other)
    T.__gt__ = lambda self, other: self.data > _array(other)
    T.__ge__ = lambda self, other: self.data >= _array(other)
    T.__eq__ = _equal  # type: ignore[assignment]
    T.__ne__ = _not_equal  # type: ignore[assignment]
    T.exp, T.log, T.tanh, T.sigmoid, T.relu = exp, log, tanh, sigmoid, relu
    T.sqrt, T.abs, T.minimum, T.clamp, T.clip = sqrt, abs, minimum, clamp, clip
    T.sum, T.max, T.mean = sum, max, mean
    T.reshape, T.broadcast_to = reshape, broadcast_to
    T.T = property(lambda self: Transpose.apply(self, None), doc="Axes reversed.")  # type: ignore[assignment]
    # PyTorch's surface. Where PyTorch and numpy differ, the method follows PyTorch
    # (`transpose(dim0, dim1)`, `split(sizes)`) and the module-level function numpy.
    # (Tensor.float is not declared in engine.py: there it would shadow the type float.)
    T.float = lambda self: to(self, "float32")  # type: ignore[attr-defined]
    T.double = lambda self: to(self, "float64")
    T.to, T.astype = to, to
    T.clone = lambda self: Copy.apply(self, self.dtype)
    T.contiguous = lambda self: self if self.data.flags.c_contiguous else self.clone()
    T.tolist = lambda self: self.data.tolist()
    T.numel = lambda self: self.data.size
    T.dim = lambda self: self.data.ndim
    T.size = _size
    T.requires_grad_ = _requires_grad_
    T.view, T.flatten, T.squeeze, T.unsqueeze = reshape, flatten, squeeze, unsqueeze
    T.permute, T.transpose, T.swapdims, T.expand = permute, _transpose, swapdims, expand
    T.chunk, T.split = chunk, split_sizes
    T.gather, T.index_select, T.masked_fill = gather, index_select, masked_fill
    T.min, T.argmax, T.argmin, T.prod, T.cumsum = min, argmax, argmin, prod, cumsum
    T.var, T.std, T.logsumexp = var, std, logsumexp
    T.softmax, T.log_softmax = _softmax, _log_softmax
    T.square, T.reciprocal, T.sign, T.sin, T.cos, T.erf = square, reciprocal, sign, sin, cos, erf


def _softmax(self: Tensor, dim: Any = None, *, axis: Any = None) -> Tensor:
    """nn.functional.softmax(self, dim) (imported here: nn builds on ops, not the reverse)."""
    from ..nn import functional

    _require_dim("softmax", dim, axis)
    return functional.softmax(self, dim, axis=axis)


def _log_softmax(self: Tensor, dim: Any = None, *, axis: Any = None) -> Tensor:
    """nn.functional.log_softmax(self, dim)."""
    from ..nn import functional

    _require_dim("log_softmax", dim, axis)
    return functional.log_softmax(self, dim, axis=axis)


def _require_dim(where: str, dim: Any, axis: Any) -> None:
    if dim is None and axis is None:
        raise TypeError(f"{where}: dim is required (as in PyTorch's Tensor.{where})")


def _size(self: Tensor, dim: int | None = None) -> Any:
    """The shape (as PyTorch's `size()`, a tuple), or the length of axis `dim`."""
    if dim is None:
        return self.data.shape
    if not isinstance(dim, int):
        raise TypeError(f"size: dim must be an int, got {dim!r}")
    if not -self.data.ndim <= dim < self.data.ndim:
        raise IndexError(f"size: dim {dim} is out of range for a tensor of shape {self.shape}")
    return self.data.shape[dim]


def _requires_grad_(self: Tensor, requires_grad: bool = True) -> Tensor:
    """Turn gradient tracking of this leaf on (or off) in place; returns the tensor."""
    if not self.is_leaf and not requires_grad:
        raise RuntimeError(
            "requires_grad_: only a leaf's flag can be turned off; use detach() to get a tensor "
            "of the same data outside the graph"
        )
    self.requires_grad = bool(requires_grad)
    return self


def _transpose(self: Tensor, *dims: Any) -> Tensor:
    """PyTorch's Tensor.transpose(dim0, dim1): swap two axes."""
    if len(dims) != 2:
        raise TypeError(
            f"Tensor.transpose(dim0, dim1) swaps two axes, as in PyTorch; got {dims}. To reorder "
            f"all the axes use permute(*dims) (or minigrad.transpose(t, *axes), numpy's)"
        )
    return swapdims(self, *dims)


def _equal(self: Tensor, other: Any) -> np.ndarray:
    return self.data == _array(other)


def _not_equal(self: Tensor, other: Any) -> np.ndarray:
    return self.data != _array(other)


def _binary(fn: type[Function]) -> tuple:
    """The operator and its reflected twin (`x - 2` and `2 - x`) for a binary primitive."""

    def operator(self: Tensor, other: Any) -> Tensor:
        return fn.apply(self, other if isinstance(other, Tensor) else lift(other, self))

    def reflected(self: Tensor, other: Any) -> Tensor:
        return fn.apply(lift(other, self), self)

    return operator, reflected


def _array(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def _iterate(self: Tensor) -> Any:
    """Iterate over the first axis (as torch.unbind), each piece keeping its gradient."""
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return iter(unstack(self, 0))


def _compare(ufunc: Any) -> Any:
    return lambda a, b: ufunc(_array(a), _array(b))


def _on_values(func: Any) -> Any:
    """`func` called with the arrays of its Tensor arguments (for answers without gradient)."""
    return lambda *args, **kwargs: func(
        *[_array(a) for a in args], **{k: _array(v) for k, v in kwargs.items()}
    )


def _numpy_extreme(op: Any) -> Any:
    """np.max / np.min on a Tensor: the axis (positional too) is numpy's, as amax/amin."""
    return lambda a, axis=None, keepdims=False: op(a, axis=axis, keepdims=keepdims)


# numpy ufuncs and functions given a Tensor run these (so `ndarray * Tensor`, np.exp(t) and
# np.sum(t) are recorded ops); any other numpy call on a Tensor raises a TypeError.
_UFUNC_OPS: dict[Any, Any] = {  # (numpy's stubs give each ufunc its own type)
    np.add: add,
    np.subtract: sub,
    np.multiply: mul,
    np.true_divide: div,
    np.power: pow,
    np.matmul: matmul,
    np.maximum: maximum,
    np.negative: lambda a: -lift(a),
    np.exp: exp,
    np.log: log,
    np.tanh: tanh,
    **{
        u: _compare(u)
        for u in (np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal)
    },
}
NUMPY_UFUNCS.update(_UFUNC_OPS)
NUMPY_FUNCTIONS.update(
    {
        np.sum: sum,
        np.mean: mean,
        np.max: _numpy_extreme(max),  # numpy's axis is amax's, never PyTorch's (values, indices)
        np.amax: _numpy_extreme(max),
        np.min: _numpy_extreme(min),
        np.amin: _numpy_extreme(min),
        np.reshape: reshape,
        np.transpose: transpose,
        np.broadcast_to: broadcast_to,
        np.concatenate: concatenate,
        np.stack: stack,
        np.split: split,
        np.where: where,
    }
)
# Questions about the values, whose answers carry no gradient, run on the arrays.
_VALUE_QUESTIONS: tuple[Any, ...] = (np.all, np.any, np.allclose, np.isclose, np.array_equal)
_VALUE_QUESTIONS += (np.argmax, np.argmin, np.argsort, np.count_nonzero, np.nonzero, np.shape)
_VALUE_QUESTIONS += (np.ndim, np.size)
NUMPY_FUNCTIONS.update({f: _on_values(f) for f in _VALUE_QUESTIONS})


install_tensor_methods()

__all__ = [
    "Abs",
    "Add",
    "BroadcastTo",
    "Cast",
    "Clamp",
    "Concatenate",
    "Copy",
    "Cos",
    "Cumsum",
    "Div",
    "Einsum",
    "Erf",
    "Exp",
    "Index",
    "IndexAdd",
    "Linear",
    "Log",
    "LogSumExp",
    "MatMul",
    "Max",
    "Maximum",
    "Minimum",
    "Mul",
    "Neg",
    "Pow",
    "Prod",
    "RootOfVariance",
    "Relu",
    "Reshape",
    "Sigmoid",
    "SigmoidGrad",
    "Sign",
    "Sin",
    "Softplus",
    "Split",
    "Sqrt",
    "Stack",
    "Sub",
    "Sum",
    "SumTo",
    "Tanh",
    "TanhGrad",
    "Transpose",
    "Unstack",
    "ValuesIndices",
    "Where",
    "ZeroSafeInverse",
    "abs",
    "add",
    "add_",
    "argmax",
    "argmin",
    "broadcast_to",
    "cat",
    "chunk",
    "clamp",
    "clip",
    "concatenate",
    "constant",
    "copy_",
    "cos",
    "cumsum",
    "div",
    "div_",
    "einsum",
    "erf",
    "exp",
    "expand",
    "fill_",
    "flatten",
    "gather",
    "gelu",
    "getitem",
    "index_select",
    "install_tensor_methods",
    "leaky_relu",
    "lift",
    "linear",
    "log",
    "logsumexp",
    "masked_fill",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mul",
    "mul_",
    "pair",
    "permute",
    "pow",
    "prod",
    "reciprocal",
    "relu",
    "reshape",
    "sigmoid",
    "sign",
    "silu",
    "sin",
    "softplus",
    "split",
    "split_sizes",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "sub",
    "sub_",
    "sum",
    "sum_to",
    "swapdims",
    "tanh",
    "to",
    "transpose",
    "unsqueeze",
    "unstack",
    "var",
    "where",
    "zero_",
]
