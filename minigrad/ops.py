"""The primitive operations: each a `Function` whose derivative sits right under its forward.

Every backward is written with Tensor ops, so the engine can record it (`create_graph=True`) and
second derivatives come for free. At the bottom, the operators and methods of `Tensor` are
attached to these primitives.
"""

from __future__ import annotations

import builtins
import itertools
from typing import Any

import numpy as np

from .engine import Function, Node, Tensor, _wrap, as_float_array

# --- Helpers shared by the primitives ---------------------------------------------------------


_scalars: dict[tuple, Tensor] = {}  # (value, dtype) -> read-only constant: code repeats 1, 0.5...


def lift(value: Any, like: Tensor | None = None) -> Tensor:
    """Make `value` a Tensor; a Python scalar takes `like`'s dtype, so it never upcasts it."""
    if isinstance(value, Tensor):
        return value
    if like is not None and isinstance(value, (int, float, bool)):
        key = (value, like.data.dtype)
        scalar = _scalars.get(key)
        if scalar is None:
            array = np.asarray(value, dtype=like.data.dtype)
            array.flags.writeable = False  # no one can write into it: sharing it is safe
            scalar = _wrap(array)
            if value and value == value and len(_scalars) < 256:  # not ±0 (same key) or NaN
                _scalars[key] = scalar
        return scalar
    return _wrap(as_float_array(value))


def constant(array: np.ndarray, dtype: np.dtype) -> Tensor:
    """A Tensor of `array` in `dtype` that no gradient flows into (masks, weights)."""
    return _wrap(np.asarray(array, dtype=dtype))


def sum_to(grad: Tensor, shape: tuple) -> Tensor:
    """Reduce a broadcast gradient back to an input's `shape` (identity when already equal)."""
    return grad if grad.data.shape == shape else SumTo.apply(grad, shape)


def _read_only_view(array: np.ndarray) -> np.ndarray:
    """Views of an input are handed out read-only, so no write can reach a saved array."""
    if array.base is not None:
        array.flags.writeable = False
    return array


# --- Elementwise arithmetic (numpy broadcasting; gradients reduced back with sum_to) ----------


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a.data + b.data

    @staticmethod
    def backward(ctx, g):
        return sum_to(g, ctx.shapes[0]), sum_to(g, ctx.shapes[1])


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a.data - b.data

    @staticmethod
    def backward(ctx, g):
        return sum_to(g, ctx.shapes[0]), sum_to(-g, ctx.shapes[1])


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a.data * b.data

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (
            sum_to(g * b, a.shape) if need_a else None,
            sum_to(g * a, b.shape) if need_b else None,
        )


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = _wrap(a.data / b.data)
        ctx.shape_a = a.shape
        ctx.save_for_backward(b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        b, out = ctx.saved_tensors
        grad_a = g / b  # d(a/b)/da = 1/b
        need_a, need_b = ctx.needs_input_grad
        return (
            sum_to(grad_a, ctx.shape_a) if need_a else None,
            sum_to(-grad_a * out, b.shape) if need_b else None,  # d(a/b)/db = -(a/b)/b
        )


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = _wrap(a.data**b.data)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (
            sum_to(g * b * a ** (b - 1), a.shape) if need_a else None,  # b a^(b-1)
            sum_to(g * out * log(a), b.shape) if need_b else None,  # a^b log a
        )


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a.data

    @staticmethod
    def backward(ctx, g):
        return -g


class Maximum(Function):
    """Elementwise max; on ties the gradient is shared half and half, as in PyTorch."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a.data, b.data)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        share_a = constant((a.data > b.data) + 0.5 * (a.data == b.data), g.dtype)
        return sum_to(g * share_a, a.shape), sum_to(g * (1 - share_a), b.shape)


class Where(Function):
    """`cond ? a : b` elementwise; `cond` is a boolean array (no gradient)."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond, ctx.shapes = cond, (a.shape, b.shape)
        return np.where(cond, a.data, b.data)

    @staticmethod
    def backward(ctx, g):
        zero = lift(0.0, g)
        return (
            None,
            sum_to(Where.apply(ctx.cond, g, zero), ctx.shapes[0]),
            sum_to(Where.apply(ctx.cond, zero, g), ctx.shapes[1]),
        )


# --- Elementwise functions (derivatives reuse the saved output where they can) ---------------


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = _wrap(np.exp(a.data))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out  # d exp(a) = exp(a)


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a.data)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a  # d log(a) = 1/a


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = _wrap(np.tanh(a.data))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return TanhGrad.apply(g, out)


class TanhGrad(Function):
    """g (1 - t^2), tanh's derivative from its output t, as one op (itself differentiable)."""

    @staticmethod
    def forward(ctx, g, t):
        ctx.save_for_backward(g, t)
        g_t2 = t.data * t.data
        g_t2 *= g.data
        return g.data - g_t2  # g - g t^2, with one temporary

    @staticmethod
    def backward(ctx, gg):
        g, t = ctx.saved_tensors
        return gg * (1 - t * t), gg * g * t * -2


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.empty_like(a.data)
        with np.errstate(over="ignore"):  # exp(-a) overflows to inf for a << 0: 1/(1+inf) = 0
            np.exp(np.negative(a.data, out=out), out=out)
        out += 1
        out = _wrap(np.reciprocal(out, out=out))  # 1 / (1 + exp(-a)), computed in place
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return SigmoidGrad.apply(g, out)


class SigmoidGrad(Function):
    """g s (1 - s), sigmoid's derivative from its output s, as one op (itself differentiable)."""

    @staticmethod
    def forward(ctx, g, s):
        ctx.save_for_backward(g, s)
        grad = 1 - s.data
        grad *= s.data
        grad *= g.data
        return grad

    @staticmethod
    def backward(ctx, gg):
        g, s = ctx.saved_tensors
        return gg * s * (1 - s), gg * g * (1 - 2 * s)


class Relu(Function):
    @staticmethod
    def forward(ctx, a):
        out = _wrap(np.maximum(a.data, 0))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * constant(out.data > 0, g.dtype)  # 1 where a > 0, else 0 (0 at a = 0)


# --- Reductions ---------------------------------------------------------------------------------


def _kept_shape(shape: tuple, axis: Any) -> tuple:
    """The shape a reduction over `axis` has with keepdims=True."""
    if axis is None:
        return (1,) * len(shape)
    if not shape:  # numpy (and PyTorch) accept axis 0 or -1 on a 0-d array
        return ()
    axes = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _expand_reduced(g: Tensor, ctx: Node) -> Tensor:
    """Spread the gradient of a reduction over `ctx.axis` back over the input's shape."""
    return g.reshape(_kept_shape(ctx.shape, ctx.axis)).broadcast_to(ctx.shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis = a.shape, axis
        return a.data.sum(axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        return _expand_reduced(g, ctx), None, None  # every summed term gets g


class Max(Function):
    """Max over axes; ties share the gradient equally (so the result is a true subgradient)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis = a.shape, axis
        out = _wrap(a.data.max(axis=axis, keepdims=keepdims))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        is_max = a.data == out.data.reshape(_kept_shape(ctx.shape, ctx.axis))
        share = constant(is_max / is_max.sum(axis=ctx.axis, keepdims=True), g.dtype)
        return _expand_reduced(g, ctx) * share, None, None


class SumTo(Function):
    """Sum a broadcast array down to `shape` (the adjoint of broadcast_to)."""

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        lead = a.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(shape) if n == 1 and a.shape[lead + i] != 1
        )
        return a.data.sum(axis=axes, keepdims=True).reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.broadcast_to(ctx.shape), None


class BroadcastTo(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return np.broadcast_to(a.data, shape)  # a read-only view
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast shape {a.shape} to {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return sum_to(g, ctx.shape), None


# --- Shape and indexing ----------------------------------------------------------------------


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return _read_only_view(a.data.reshape(shape))
        except ValueError:
            raise ValueError(f"reshape: cannot reshape shape {a.shape} into {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Transpose(Function):
    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return _read_only_view(np.transpose(a.data, axes))

    @staticmethod
    def backward(ctx, g):
        inverse = None if ctx.axes is None else tuple(np.argsort(ctx.axes))
        return Transpose.apply(g, inverse), None


def _is_basic_index(index: Any) -> bool:
    """True if `index` cannot select an element twice (ints, slices, None, ..., masks)."""
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if isinstance(part, np.ndarray) and part.dtype == bool:
            continue
        if not (isinstance(part, (int, np.integer, slice)) or part is None or part is Ellipsis):
            return False
    return True


class Index(Function):
    """`a[index]` with numpy semantics; repeated integer indices accumulate in backward."""

    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.index = a.shape, index
        try:
            return _read_only_view(np.asarray(a.data[index]))
        except IndexError as error:
            raise IndexError(f"index: {error} (indexing a tensor of shape {a.shape})") from None

    @staticmethod
    def backward(ctx, g):
        return IndexAdd.apply(g, ctx.index, ctx.shape), None


class IndexAdd(Function):
    """Scatter-add `g` into zeros of `shape` at `index` (the adjoint of indexing)."""

    @staticmethod
    def forward(ctx, g, index, shape):
        ctx.index = index
        out = np.zeros(shape, dtype=g.dtype)
        if _is_basic_index(index):
            out[index] = g.data
        else:
            np.add.at(out, index, g.data)
        return out

    @staticmethod
    def backward(ctx, gg):
        return Index.apply(gg, ctx.index), None, None


def _normalize_index(index: Any) -> Any:
    """Tensors inside an index are replaced by their arrays; lists become arrays (as numpy)."""
    if isinstance(index, tuple):
        return tuple(_normalize_index(part) for part in index)
    if isinstance(index, Tensor):
        return index.data.astype(np.intp) if index.dtype != bool else index.data
    if isinstance(index, list):
        array = np.asarray(index)
        return array.astype(np.intp) if array.dtype.kind == "f" else array
    return index


class Concatenate(Function):
    @staticmethod
    def forward(ctx, axis, *tensors):
        arrays = [t.data for t in tensors]
        try:
            out = np.concatenate(arrays, axis=axis)
        except ValueError as error:
            shapes = [a.shape for a in arrays]
            raise ValueError(f"concatenate: {error} (shapes {shapes}, axis {axis})") from None
        ctx.axis = axis % out.ndim
        ctx.bounds = (0, *itertools.accumulate(a.shape[ctx.axis] for a in arrays))
        return out

    @staticmethod
    def backward(ctx, g):
        return (None, *Split.apply(g, ctx.bounds, ctx.axis))  # each input gets its own piece


class Split(Function):
    """Cut `a` along `axis` at `bounds` (0 = b0 < b1 < ... = length), one output per piece.

    The adjoint of concatenate: backward joins the pieces' gradients with a single concatenate,
    which is why the LSTM's four gates come out of one matmul cheaply.
    """

    @staticmethod
    def forward(ctx, a, bounds, axis):
        ctx.axis = axis
        head = (slice(None),) * axis
        return tuple(
            _read_only_view(a.data[head + (slice(start, stop),)])
            for start, stop in zip(bounds[:-1], bounds[1:])
        )

    @staticmethod
    def backward(ctx, *grads):
        return Concatenate.apply(ctx.axis, *grads), None, None


class Stack(Function):
    """Join same-shaped tensors along a new axis; backward hands each its slice (unstack)."""

    @staticmethod
    def forward(ctx, axis, *tensors):
        shapes = {t.shape for t in tensors}
        if len(shapes) != 1:
            raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
        ndim = tensors[0].ndim + 1
        if not -ndim <= axis < ndim:
            raise ValueError(f"stack: axis {axis} is out of bounds for a result of {ndim} dims")
        ctx.axis = axis % ndim
        return np.stack([t.data for t in tensors], axis=ctx.axis)

    @staticmethod
    def backward(ctx, g):
        return (None, *Unstack.apply(g, ctx.axis))


class Unstack(Function):
    """Take a tensor apart along `axis` into its slices (torch.unbind); the adjoint of stack."""

    @staticmethod
    def forward(ctx, a, axis):
        ctx.axis = axis
        head = (slice(None),) * axis
        return tuple(_read_only_view(a.data[head + (k,)]) for k in range(a.shape[axis]))

    @staticmethod
    def backward(ctx, *grads):
        return Stack.apply(ctx.axis, *grads), None


class MatMul(Function):
    """`a @ b` with np.matmul's rules: 1-D operands and broadcast batch dimensions."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            if a.ndim > 2 and b.ndim == 2:  # a stack of rows times one matrix: one BLAS call
                rows = a.data.reshape(-1, a.shape[-1]) @ b.data
                return rows.reshape(a.shape[:-1] + b.shape[-1:])
            return np.matmul(a.data, b.data)
        except ValueError:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned") from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        if a.ndim >= 2 and b.ndim == 2:  # the common case: rows times a matrix
            if a.ndim > 2:  # fold a stack of rows into one matrix: one product for b's grad
                a, g_rows = a.reshape(-1, a.shape[-1]), g.reshape(-1, g.shape[-1])
                return (g @ b.T if need_a else None), (a.T @ g_rows if need_b else None)
            return (g @ b.T if need_a else None), (a.T @ g if need_b else None)
        a2 = a if a.ndim > 1 else a.reshape(1, -1)  # 1-D operands act as a row / a column
        b2 = b if b.ndim > 1 else b.reshape(-1, 1)
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g2 = g.reshape(batch + (a2.shape[-2], b2.shape[-1]))
        grad_a = sum_to(g2 @ _swap_last(b2), a2.shape).reshape(a.shape) if need_a else None
        grad_b = sum_to(_swap_last(a2) @ g2, b2.shape).reshape(b.shape) if need_b else None
        return grad_a, grad_b


class Linear(Function):
    """x @ weight.T + bias as one op (PyTorch's F.linear): what every layer and cell computes."""

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        if x.ndim == 0 or weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
                f"(the input's last axis must equal the weight's second)"
            )
        if bias is not None and bias.shape != weight.shape[:1]:
            raise ValueError(f"linear: bias of shape {bias.shape} for weight {weight.shape}")
        ctx.save_for_backward(x, weight)
        rows = x.data.reshape(-1, x.shape[-1]) if x.ndim > 2 else x.data
        out = rows @ weight.data.T
        if bias is not None:
            out += bias.data
        return out.reshape(x.shape[:-1] + weight.shape[:1]) if x.ndim > 2 else out

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        need_x, need_weight, need_bias = ctx.needs_input_grad
        g_rows = g if g.ndim == 2 else g.reshape(-1, weight.shape[0])  # every leading axis
        x_rows = x if x.ndim == 2 else x.reshape(-1, weight.shape[1])  # is a batch of rows
        return (
            g @ weight if need_x else None,  # d/dx (x W^T) = g W
            g_rows.T @ x_rows if need_weight else None,  # d/dW = g^T x, summed over rows
            g_rows.sum(axis=0) if need_bias else None,  # d/db = sum of g over rows
        )


def _swap_last(t: Tensor) -> Tensor:
    axes = list(range(t.ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return Transpose.apply(t, tuple(axes))


# --- Public functions ---------------------------------------------------------------------------


def add(a: Any, b: Any) -> Tensor:
    return Add.apply(*_pair(a, b))


def sub(a: Any, b: Any) -> Tensor:
    return Sub.apply(*_pair(a, b))


def mul(a: Any, b: Any) -> Tensor:
    return Mul.apply(*_pair(a, b))


def div(a: Any, b: Any) -> Tensor:
    return Div.apply(*_pair(a, b))


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - mirrors torch.pow
    return Pow.apply(*_pair(a, b))


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with np.matmul's semantics."""
    return MatMul.apply(*_pair(a, b))


def linear(x: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, for x of shape (..., in) and weight (out, in), as F.linear."""
    return Linear.apply(lift(x, weight), weight, bias)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum of two broadcastable operands."""
    return Maximum.apply(*_pair(a, b))


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """Pick `a` where `cond` is true, else `b` (broadcasting all three)."""
    a, b = _pair(a, b)
    cond = np.asarray(cond.data if isinstance(cond, Tensor) else cond, dtype=bool)
    return Where.apply(cond, a, b)


def exp(a: Any) -> Tensor:
    return Exp.apply(lift(a))


def log(a: Any) -> Tensor:
    return Log.apply(lift(a))


def tanh(a: Any) -> Tensor:
    return Tanh.apply(lift(a))


def sigmoid(a: Any) -> Tensor:
    """1 / (1 + exp(-a)), computed without overflow for any finite a."""
    return Sigmoid.apply(lift(a))


def relu(a: Any) -> Tensor:
    return Relu.apply(lift(a))


def sum(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return Sum.apply(lift(a), _axis(axis), keepdims)


def max(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return Max.apply(lift(a), _axis(axis), keepdims)


def mean(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Average over `axis` (all axes by default): a sum times 1/count (no derivative of its own)."""
    a = lift(a)
    total = a.sum(axis=axis, keepdims=keepdims)
    return total * (total.size / a.size if a.size else np.nan)


def reshape(a: Any, *shape: Any) -> Tensor:
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Reshape.apply(lift(a), tuple(shape))


def transpose(a: Any, *axes: Any) -> Tensor:
    """Permute axes (reverse them when none are given), as np.transpose."""
    axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
    return Transpose.apply(lift(a), tuple(axes) if axes else None)


def broadcast_to(a: Any, shape: tuple) -> Tensor:
    return BroadcastTo.apply(lift(a), tuple(shape))


def concatenate(tensors: Any, axis: int = 0) -> Tensor:
    """Join tensors along an existing axis, as np.concatenate."""
    tensors = [lift(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    return Concatenate.apply(axis, *tensors)


def stack(tensors: Any, axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis, as np.stack."""
    tensors = [lift(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    return Stack.apply(axis, *tensors)


def unstack(a: Any, axis: int = 0) -> list[Tensor]:
    """The slices of `a` along `axis`, each without that axis (torch.unbind)."""
    a = lift(a)
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"unstack: axis {axis} is out of bounds for shape {a.shape}")
    return list(Unstack.apply(a, axis % a.ndim))


def split(a: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """Split into pieces along `axis`, as np.split: N equal sections or at the given indices."""
    a = lift(a)
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"split: axis {axis} is out of bounds for shape {a.shape}")
    axis %= a.ndim
    length = a.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0 or length % sections:
            raise ValueError(
                f"split: axis {axis} of shape {a.shape} does not divide into {sections} equal "
                f"sections"
            )
        bounds = tuple(range(0, length + 1, length // sections))
    else:  # np.split takes piece k as a[points[k]:points[k+1]], with Python's slice rules
        points = [0, *(int(i) for i in indices_or_sections), length]
        spans = [slice(start, stop).indices(length)[:2] for start, stop in zip(points, points[1:])]
        bounds = (0, *(builtins.max(start, stop) for start, stop in spans))
        if any(start != bound for (start, _), bound in zip(spans, bounds)):  # pieces overlap
            head = (slice(None),) * axis
            return [a[head + (slice(start, stop),)] for start, stop in spans]
    return list(Split.apply(a, bounds, axis))


def getitem(a: Tensor, index: Any) -> Tensor:
    return Index.apply(a, _normalize_index(index))


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors; a scalar takes the dtype of the Tensor beside it."""
    if isinstance(a, Tensor):
        return a, lift(b, a)
    b = lift(b)
    return lift(a, b), b


def _axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


# --- Tensor's operators and methods ---------------------------------------------------------


def _install_tensor_methods() -> None:
    T = Tensor
    T.__add__, T.__radd__ = _binary(Add)
    T.__sub__, T.__rsub__ = _binary(Sub)
    T.__mul__, T.__rmul__ = _binary(Mul)
    T.__truediv__, T.__rtruediv__ = _binary(Div)
    T.__pow__, T.__rpow__ = _binary(Pow)
    T.__matmul__, T.__rmatmul__ = _binary(MatMul)
    T.__neg__ = lambda self: Neg.apply(self)
    T.__getitem__ = getitem
    # Comparisons give boolean arrays (no gradient), handy as `where` conditions.
    T.__lt__ = lambda self, other: self.data < _array(other)
    T.__le__ = lambda self, other: self.data <= _array(other)
    T.__gt__ = lambda self, other: self.data > _array(other)
    T.__ge__ = lambda self, other: self.data >= _array(other)
    T.exp, T.log, T.tanh, T.sigmoid, T.relu = exp, log, tanh, sigmoid, relu
    T.sum, T.max, T.mean = sum, max, mean
    T.reshape, T.transpose, T.broadcast_to = reshape, transpose, broadcast_to
    T.T = property(lambda self: Transpose.apply(self, None), doc="Axes reversed.")


def _binary(fn: type[Function]) -> tuple:
    """The operator and its reflected twin (`x - 2` and `2 - x`) for a binary primitive."""

    def operator(self: Tensor, other: Any) -> Tensor:
        return fn.apply(self, other if isinstance(other, Tensor) else lift(other, self))

    def reflected(self: Tensor, other: Any) -> Tensor:
        return fn.apply(lift(other, self), self)

    return operator, reflected


def _array(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


_install_tensor_methods()

__all__ = [
    "Function",
    "Node",
    "add",
    "broadcast_to",
    "concatenate",
    "constant",
    "div",
    "exp",
    "lift",
    "log",
    "matmul",
    "max",
    "maximum",
    "mean",
    "mul",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "sub",
    "sum",
    "sum_to",
    "tanh",
    "transpose",
    "where",
]
