"""The primitive operations: each a `Function` whose derivative sits right under its forward.

One file per family: `elementwise.py` (arithmetic, exp/log/tanh/sigmoid/relu/sqrt/abs,
maximum/minimum/clamp), `reductions.py` (sum, max, mean, broadcasting), `shape.py` (reshape,
transpose, indexing, concatenate/split, stack/unstack), `linalg.py` (matmul, linear);
`operands.py` turns Python values into Tensors.
Every backward is written with Tensor ops, so the engine can record it (`create_graph=True`) and
second derivatives come for free. Below, Tensor's operators and methods are attached to these
primitives, all in one place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import NUMPY_FUNCTIONS, NUMPY_UFUNCS, Function, Tensor
from .elementwise import (
    Abs,
    Add,
    Clamp,
    Div,
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
    Sqrt,
    Sub,
    Tanh,
    TanhGrad,
    Where,
    abs,
    add,
    clamp,
    clip,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    pow,
    relu,
    sigmoid,
    sqrt,
    sub,
    tanh,
    where,
)
from .inplace import Cast, add_, copy_, div_, fill_, mul_, sub_, zero_
from .linalg import Linear, MatMul, linear, matmul
from .operands import constant, lift, pair
from .reductions import BroadcastTo, Max, Sum, SumTo, broadcast_to, max, mean, sum, sum_to
from .shape import (
    Concatenate,
    Index,
    IndexAdd,
    Reshape,
    Split,
    Stack,
    Transpose,
    Unstack,
    concatenate,
    getitem,
    reshape,
    split,
    stack,
    transpose,
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
    T.__eq__ = lambda self, other: self.data == _array(other)  # type: ignore[assignment]
    T.__ne__ = lambda self, other: self.data != _array(other)  # type: ignore[assignment]
    T.exp, T.log, T.tanh, T.sigmoid, T.relu = exp, log, tanh, sigmoid, relu
    T.sqrt, T.abs, T.minimum, T.clamp, T.clip = sqrt, abs, minimum, clamp, clip
    T.sum, T.max, T.mean = sum, max, mean
    T.reshape, T.transpose, T.broadcast_to = reshape, transpose, broadcast_to
    T.T = property(lambda self: Transpose.apply(self, None), doc="Axes reversed.")  # type: ignore[assignment]


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


# numpy ufuncs and functions given a Tensor run these (so `ndarray * Tensor`, np.exp(t) and
# np.sum(t) are recorded ops); any other numpy call on a Tensor raises a TypeError.
NUMPY_UFUNCS.update(
    {
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
)
NUMPY_FUNCTIONS.update(
    {
        np.sum: sum,
        np.mean: mean,
        np.max: max,
        np.amax: max,
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
_VALUE_QUESTIONS = (np.all, np.any, np.allclose, np.isclose, np.array_equal, np.argmax, np.argmin)
_VALUE_QUESTIONS += (np.argsort, np.count_nonzero, np.nonzero, np.shape, np.ndim, np.size)
NUMPY_FUNCTIONS.update({f: _on_values(f) for f in _VALUE_QUESTIONS})


install_tensor_methods()

__all__ = [
    "Abs",
    "Add",
    "BroadcastTo",
    "Cast",
    "Clamp",
    "Concatenate",
    "Div",
    "Exp",
    "Index",
    "IndexAdd",
    "Linear",
    "Log",
    "MatMul",
    "Max",
    "Maximum",
    "Minimum",
    "Mul",
    "Neg",
    "Pow",
    "Relu",
    "Reshape",
    "Sigmoid",
    "SigmoidGrad",
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
    "Where",
    "abs",
    "add",
    "add_",
    "broadcast_to",
    "clamp",
    "clip",
    "concatenate",
    "constant",
    "copy_",
    "div",
    "div_",
    "exp",
    "fill_",
    "getitem",
    "install_tensor_methods",
    "lift",
    "linear",
    "log",
    "matmul",
    "max",
    "maximum",
    "mean",
    "minimum",
    "mul",
    "mul_",
    "pair",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "split",
    "sqrt",
    "stack",
    "sub",
    "sub_",
    "sum",
    "sum_to",
    "tanh",
    "transpose",
    "unstack",
    "where",
    "zero_",
]
