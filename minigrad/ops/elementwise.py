"""Elementwise primitives: arithmetic with numpy broadcasting (gradients reduced back with
`sum_to`), the functions whose derivatives reuse their saved output, and the piecewise ones
(maximum, minimum, abs, clamp) with PyTorch's gradients at their kinks."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import Function, Tensor, from_numpy
from .operands import constant, lift, pair
from .reductions import sum_to


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a.data + b.data

    @staticmethod
    def backward(ctx, g):
        return sum_to(g, ctx.shapes[0]), sum_to(g, ctx.shapes[1])

    @staticmethod
    def lower(out, a, b):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.add({a}, {b}, out={out})"


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a.data - b.data

    @staticmethod
    def backward(ctx, g):
        return sum_to(g, ctx.shapes[0]), sum_to(-g, ctx.shapes[1])

    @staticmethod
    def lower(out, a, b):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.subtract({a}, {b}, out={out})"


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

    @staticmethod
    def lower(out, a, b):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.multiply({a}, {b}, out={out})"


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = from_numpy(a.data / b.data)
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

    @staticmethod
    def lower(out, a, b):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.divide({a}, {b}, out={out})"


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = from_numpy(a.data**b.data)
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

    @staticmethod
    def lower(out, a, b):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.power({a}, {b}, out={out})"


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a.data

    @staticmethod
    def backward(ctx, g):
        return -g

    @staticmethod
    def lower(out, a):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.negative({a}, out={out})"


class Maximum(Function):
    """Elementwise max; on ties the gradient is shared half and half, as in PyTorch."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a.data, b.data)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _share_by_winner(g, a, b, a.data > b.data)

    @staticmethod
    def lower(out, a, b):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.maximum({a}, {b}, out={out})"


def _share_by_winner(g: Tensor, a: Tensor, b: Tensor, a_wins: np.ndarray) -> tuple:
    """The gradient of maximum or minimum: all to the winner, half and half on ties."""
    share_a = constant(a_wins + 0.5 * (a.data == b.data), g.dtype)
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

    @staticmethod
    def lower(out, cond, a, b):
        return f"np.copyto({out}, {b})\nnp.copyto({out}, {a}, where={cond})"


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

    @staticmethod
    def lower(out, a):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.exp({a}, out={out})"


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a.data)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a  # d log(a) = 1/a

    @staticmethod
    def lower(out, a):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.log({a}, out={out})"


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

    @staticmethod
    def lower(out, a):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.tanh({a}, out={out})"


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

    @staticmethod
    def lower(out, g, t):  # the same steps as forward: g - g t^2
        return f"np.multiply({t}, {t}, out={out})\nnp.multiply({out}, {g}, out={out})\n" + (
            f"np.subtract({g}, {out}, out={out})"
        )


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

    @staticmethod
    def lower(out, a):  # 0.5 tanh(a/2) + 0.5: the same function, and it cannot overflow
        return f"np.multiply({a}, 0.5, out={out})\nnp.tanh({out}, out={out})\n" + (
            f"np.multiply({out}, 0.5, out={out})\nnp.add({out}, 0.5, out={out})"
        )


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

    @staticmethod
    def lower(out, g, s):  # the same steps as forward: (1 - s) s g
        return f"np.subtract(1, {s}, out={out})\nnp.multiply({out}, {s}, out={out})\n" + (
            f"np.multiply({out}, {g}, out={out})"
        )


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

    @staticmethod
    def lower(out, a):
        return f"np.maximum({a}, 0, out={out})"


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

    @staticmethod
    def lower(out, a):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.sqrt({a}, out={out})"


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a.data)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * constant(np.sign(a.data), g.dtype)  # d|a| = sign(a), 0 at a = 0 (PyTorch's)

    @staticmethod
    def lower(out, a):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.absolute({a}, out={out})"


class Minimum(Function):
    """Elementwise min; on ties the gradient is shared half and half, as in PyTorch."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.minimum(a.data, b.data)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _share_by_winner(g, a, b, a.data < b.data)

    @staticmethod
    def lower(out, a, b):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.minimum({a}, {b}, out={out})"


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
