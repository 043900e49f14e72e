"""Elementwise primitives: arithmetic with numpy broadcasting (gradients reduced back with
`sum_to`), the functions whose derivatives reuse their saved output, and the piecewise ones
(maximum, minimum, abs, clamp) with PyTorch's gradients at their kinks."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import Function, Tensor, from_numpy
from .operands import constant, lift, pair
from .reductions import sum_to


def _broadcast_error(name: str, *shapes: tuple) -> ValueError:
    """numpy could not broadcast the operands of `name`: say which op and which shapes."""
    listed = ", ".join(str(s) for s in shapes[:-1]) + f" and {shapes[-1]}"
    return ValueError(f"{name}: operands could not be broadcast together: shapes {listed}")


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        try:
            return a.data + b.data
        except ValueError:
            raise _broadcast_error("add", a.shape, b.shape) from None

    @staticmethod
    def backward(ctx, g):
        return sum_to(g, ctx.shapes[0]), sum_to(g, ctx.shapes[1])


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        try:
            return a.data - b.data
        except ValueError:
            raise _broadcast_error("sub", a.shape, b.shape) from None

    @staticmethod
    def backward(ctx, g):
        return sum_to(g, ctx.shapes[0]), sum_to(-g, ctx.shapes[1])


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a.data * b.data
        except ValueError:
            raise _broadcast_error("mul", a.shape, b.shape) from None

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
        try:
            out = from_numpy(a.data / b.data)
        except ValueError:
            raise _broadcast_error("div", a.shape, b.shape) from None
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
    """a**b. At the edges the gradients are PyTorch's: d/da is 0 where a == 0 and b == 0
    (b a^(b-1) would be 0 * inf), and d/db is 0 where a == 0 and b >= 0 (0^b log 0)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = from_numpy(a.data**b.data)
        except ValueError:
            raise _broadcast_error("pow", a.shape, b.shape) from None
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_b = None
        if need_a:  # b a^(b-1)
            flat = (b.data == 0) & (a.data == 0)
            if flat.any():  # 0 * 0^-1 is 0 there (PyTorch's); keep 0 * inf out of the arithmetic
                one = lift(1.0, b)
                grad_a = _masked_zero(flat, b * a ** Where.apply(flat, one, b - one))
            else:
                grad_a = b * a ** (b - 1)
            grad_a = sum_to(g * grad_a, a.shape)
        if need_b:  # a^b log a
            at_zero = (a.data == 0) & (b.data >= 0)
            if at_zero.any():  # 0^b log 0 is 0 there; log is taken of 1 instead, then masked
                safe = Where.apply(at_zero, lift(1.0, a), a)
                grad_b = _masked_zero(at_zero, out * log(safe))
            else:
                grad_b = out * log(a)
            grad_b = sum_to(g * grad_b, b.shape)
        return grad_a, grad_b


def _masked_zero(mask: np.ndarray, x: Tensor) -> Tensor:
    """`x` with zeros where `mask` holds (broadcast to x's shape; recorded, so differentiable)."""
    return Where.apply(mask, lift(0.0, x), x)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a.data

    @staticmethod
    def backward(ctx, g):
        return -g


class Maximum(Function):
    """Elementwise max, with PyTorch's gradient rule: the larger operand gets it all, ties share
    it half and half, and where one operand is NaN (so is the result) both get it all."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return np.maximum(a.data, b.data)
        except ValueError:
            raise _broadcast_error("maximum", a.shape, b.shape) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _share_by_winner(g, a, b, a.data > b.data, a.data < b.data)


def _share_by_winner(g: Tensor, a: Tensor, b: Tensor, a_wins: Any, b_wins: Any) -> tuple:
    """The gradient of maximum or minimum, as PyTorch: all to the winner, half and half on ties,
    and to both where either is NaN (neither wins nor ties there)."""
    half_tie = 0.5 * (a.data == b.data)
    share_a = constant(1.0 - b_wins - half_tie, g.dtype)
    share_b = constant(1.0 - a_wins - half_tie, g.dtype)
    return sum_to(g * share_a, a.shape), sum_to(g * share_b, b.shape)


class Where(Function):
    """`cond ? a : b` elementwise; `cond` is a boolean array (no gradient)."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond, ctx.shapes = cond, (a.shape, b.shape)
        try:
            return np.where(cond, a.data, b.data)
        except ValueError:
            raise _broadcast_error("where", cond.shape, a.shape, b.shape) from None

    @staticmethod
    def backward(ctx, g):
        zero = lift(0.0, g)
        return (
            None,
            sum_to(Where.apply(ctx.cond, g, zero), ctx.shapes[0]),
            sum_to(Where.apply(ctx.cond, zero, g), ctx.shapes[1]),
        )


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = from_numpy(np.exp(a.data))
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
        out = from_numpy(np.tanh(a.data))
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
        out = from_numpy(np.reciprocal(out, out=out))  # 1 / (1 + exp(-a)), computed in place
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
        out = from_numpy(np.maximum(a.data, 0))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * constant(out.data > 0, g.dtype)  # 1 where a > 0, else 0 (0 at a = 0)


def add(a: Any, b: Any) -> Tensor:
    return Add.apply(*pair(a, b))


def sub(a: Any, b: Any) -> Tensor:
    return Sub.apply(*pair(a, b))


def mul(a: Any, b: Any) -> Tensor:
    return Mul.apply(*pair(a, b))


def div(a: Any, b: Any) -> Tensor:
    return Div.apply(*pair(a, b))


def pow(a: Any, b: Any) -> Tensor:  # noqa: A001 - mirrors torch.pow
    return Pow.apply(*pair(a, b))


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum of two broadcastable operands."""
    return Maximum.apply(*pair(a, b))


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """Pick `a` where `cond` is true, else `b` (broadcasting all three)."""
    a, b = pair(a, b)
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


# --- sqrt, abs, minimum, clamp: PyTorch's derivatives, kinks and edge points included ----------


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = from_numpy(np.sqrt(a.data))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):  # at 0: g / 0 = inf, as PyTorch
            return g / (out * 2)  # d sqrt(a) = 1 / (2 sqrt(a))


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a.data)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * constant(np.sign(a.data), g.dtype)  # d|a| = sign(a), 0 at a = 0 (PyTorch's)


class Minimum(Function):
    """Elementwise min; on ties the gradient is shared half and half, as in PyTorch."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.minimum(a.data, b.data)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _share_by_winner(g, a, b, a.data < b.data, a.data > b.data)


class Clamp(Function):
    """min(max(a, lo), hi) elementwise, `lo` or `hi` None for no bound; PyTorch's gradients.

    `a` gets the gradient where lo <= a <= hi (bounds included); a Tensor bound gets it where it
    is the result: `lo` where a < lo < hi, `hi` where a > hi or hi < lo (the result is `hi`
    wherever lo > hi). Where a < lo == hi nothing gets it, as in PyTorch.
    """

    @staticmethod
    def forward(ctx, a, lo, hi):
        ctx.save_for_backward(a, lo, hi)
        out = a.data if lo is None else np.maximum(a.data, lo.data)
        return out if hi is None else np.minimum(out, hi.data)

    @staticmethod
    def backward(ctx, g):
        a, lo, hi = ctx.saved_tensors
        need_a, need_lo, need_hi = ctx.needs_input_grad
        x = a.data
        low = -np.inf if lo is None else lo.data  # a missing bound is no bound
        high = np.inf if hi is None else hi.data
        passes = (x >= low) & (x <= high)  # d out / d a = 1
        below = (x < low) & (low < high)  # out = lo
        above = (x > high) | (high < low)  # out = hi
        return (
            _masked(g, passes, a.shape) if need_a else None,
            _masked(g, below, lo.shape) if need_lo else None,
            _masked(g, above, hi.shape) if need_hi else None,
        )


def _masked(g: Tensor, mask: np.ndarray, shape: tuple) -> Tensor:
    """g where `mask` holds, 0 elsewhere, summed back to an input's `shape`."""
    return sum_to(Where.apply(np.broadcast_to(mask, g.shape), g, lift(0.0, g)), shape)


def sqrt(a: Any) -> Tensor:
    """Elementwise square root; its derivative at 0 is inf, as PyTorch's."""
    return Sqrt.apply(lift(a))


def abs(a: Any) -> Tensor:  # noqa: A001 - mirrors torch.abs
    """Elementwise |a|; its derivative at 0 is 0, as PyTorch's."""
    return Abs.apply(lift(a))


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum of two broadcastable operands."""
    return Minimum.apply(*pair(a, b))


def clamp(a: Any, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - torch's names
    """Limit `a` to [min, max] elementwise (as torch.clamp); a bound is a number or a Tensor."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of 'min' or 'max' must not be None")
    a = lift(a)
    lo = None if min is None else lift(min, a)
    hi = None if max is None else lift(max, a)
    return Clamp.apply(a, lo, hi)


clip = clamp  # numpy's name for the same operation
