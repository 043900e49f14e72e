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

from ..engine import Function, Tensor
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
    T.__getitem__ = getitem
    # Comparisons give boolean arrays (no gradient), handy as `where` conditions.
    T.__lt__ = lambda self, other: self.data < _array(other)
    T.__le__ = lambda self, other: self.data <= _array(other)
    T.__gt__ = lambda self, other: self.data > _array(other)
    T.__ge__ = lambda self, other: self.data >= _array(other)
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


install_tensor_methods()

__all__ = [
    "Abs",
    "Add",
    "BroadcastTo",
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
    "broadcast_to",
    "clamp",
    "clip",
    "concatenate",
    "constant",
    "div",
    "exp",
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
    "pair",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "split",
    "sqrt",
    "stack",
    "sub",
    "sum",
    "sum_to",
    "tanh",
    "transpose",
    "unstack",
    "where",
]
