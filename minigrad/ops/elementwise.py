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

    @staticmethod
    def lower(out, a, b):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.add({a}, {b}, out={out})"


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

    @staticmethod
    def lower(out, a, b):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.subtract({a}, {b}, out={out})"


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

    @staticmethod
    def lower(out, a, b):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.multiply({a}, {b}, out={out})"


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

    @staticmethod
    def lower(out, a, b):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.divide({a}, {b}, out={out})"


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

    @staticmethod
    def lower(out, a, b):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.power({a}, {b}, out={out})"


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

    @staticmethod
    def lower(out, a):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.negative({a}, out={out})"


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

    @staticmethod
    def lower(out, a, b):  # compiled code (minigrad/compiler/codegen.py)
        return f"np.maximum({a}, {b}, out={out})"


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


# --- Casts, trigonometry and PyTorch's activations --------------------------------------------


class Copy(Function):
    """A fresh copy of `a` in `dtype` (its own or the other float): clone, float(), double(), to().

    A primitive because no other op changes the dtype; the gradient is cast back to `a`'s.
    """

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.data.astype(dtype, order="C")  # always a new array

    @staticmethod
    def backward(ctx, g):
        return (g if g.dtype == ctx.dtype else Copy.apply(g, ctx.dtype)), None


class Sin(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a.data)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * cos(a)


class Cos(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.cos(a.data)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return -g * sin(a)


class Sign(Function):
    """-1, 0 or 1 (0 for NaN, as PyTorch's). A primitive so that, as in PyTorch, the result stays
    on the graph with a zero derivative (a composition would leave it, or make inf * 0 NaN)."""

    @staticmethod
    def forward(ctx, a):
        return (a.data > 0).astype(a.dtype) - (a.data < 0)

    @staticmethod
    def backward(ctx, g):
        return constant(np.zeros(g.shape), g.dtype)


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function, to a few ulps (numpy has none).

    erf(x) = 2/sqrt(pi) exp(-x^2) sum_n (2x^2)^n x / (2n+1)!!: every term has the sign of x, so
    nothing cancels; past |x| = 6, erf is +-1 in float64 (exactly, as PyTorch's).
    """
    outside = np.abs(x) >= 6
    wide = np.where(outside, 0.0, x.astype(np.float64))
    two_x2 = 2 * wide * wide
    term, total, n = wide.copy(), wide.copy(), 0
    while True:
        n += 1
        term *= two_x2 / (2 * n + 1)
        total += term
        if not np.any(np.abs(term) > 1e-17 * np.abs(total)):
            break
    inside = np.clip(total * np.exp(-wide * wide) * (2 / np.sqrt(np.pi)), -1.0, 1.0)
    return np.where(outside, np.sign(x), inside).astype(x.dtype)


class Erf(Function):
    """The error function. A primitive because numpy has none to compose from."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _erf(a.data)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * exp(-(a * a)) * (2 / np.sqrt(np.pi))  # d erf(a) = 2/sqrt(pi) exp(-a^2)


class Softplus(Function):
    """log(1 + exp(beta a)) / beta, linear where beta a > threshold, as PyTorch's.

    A primitive for accuracy: it needs log1p, so that softplus(-40) is 4.2e-18 and not 0.
    """

    @staticmethod
    def forward(ctx, a, beta, threshold):
        ctx.save_for_backward(a)
        ctx.beta, ctx.linear = beta, a.data * beta > threshold
        with np.errstate(over="ignore"):  # exp overflows only where the linear branch is taken
            curved = np.log1p(np.exp(a.data * beta)) / beta
        return np.where(ctx.linear, a.data, curved).astype(a.dtype)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return where(ctx.linear, g, g * sigmoid(a * ctx.beta)), None, None


def square(a: Any) -> Tensor:
    """a * a."""
    a = lift(a)
    return a * a


def reciprocal(a: Any) -> Tensor:
    """1 / a."""
    a = lift(a)
    return Div.apply(lift(1, a), a)


def sign(a: Any) -> Tensor:
    """-1, 0 or 1 elementwise (0 for NaN, as PyTorch); its derivative is zero."""
    return Sign.apply(lift(a))


def sin(a: Any) -> Tensor:
    return Sin.apply(lift(a))


def cos(a: Any) -> Tensor:
    return Cos.apply(lift(a))


def erf(a: Any) -> Tensor:
    """The error function 2/sqrt(pi) * integral from 0 to a of exp(-t^2) dt."""
    return Erf.apply(lift(a))


def softplus(a: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta a)) / beta, and `a` itself where beta a > threshold (F.softplus)."""
    return Softplus.apply(lift(a), beta, threshold)


def gelu(a: Any, approximate: str = "none") -> Tensor:
    """a * Phi(a), Phi the standard normal CDF (F.gelu); approximate="tanh" is the tanh form."""
    a = lift(a)
    if approximate == "none":
        return a * 0.5 * (1 + erf(a * (1 / np.sqrt(2))))
    if approximate == "tanh":
        inner = (a + a * a * a * 0.044715) * np.sqrt(2 / np.pi)
        return a * 0.5 * (1 + inner.tanh())
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(a: Any) -> Tensor:
    """a * sigmoid(a), also called swish (F.silu)."""
    a = lift(a)
    return a * sigmoid(a)


def leaky_relu(a: Any, negative_slope: float = 0.01) -> Tensor:
    """a where a > 0, else negative_slope * a (F.leaky_relu), as slope * a + (1 - slope) relu(a):
    relu's derivative is 0 at 0, so the slope there is negative_slope, PyTorch's."""
    a = lift(a)
    return a * negative_slope + relu(a) * (1 - negative_slope)


def masked_fill(a: Any, mask: Any, value: Any) -> Tensor:
    """`value` where the boolean `mask` (broadcast to a's shape) is true, else `a`. A 0-d Tensor
    `value` gets the gradient of the filled places."""
    a = lift(a)
    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if mask.dtype != bool:
        raise TypeError(
            f"masked_fill: mask must be boolean (a comparison such as x > 0 gives one), got "
            f"dtype {mask.dtype}"
        )
    try:
        fits = np.broadcast_shapes(mask.shape, a.shape) == a.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"masked_fill: mask of shape {mask.shape} does not broadcast to {a.shape}")
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(f"masked_fill: value must be a number or a 0-d Tensor, got {value.shape}")
    value, a = pair(value, a)
    return Where.apply(mask, value, a)


def to(a: Tensor, target: Any = None, *, dtype: Any = None) -> Tensor:
    """`a` in another dtype (PyTorch's `to`): a dtype, a Tensor whose dtype to take, or the
    device "cpu" (the only one). Differentiable; `a` itself when the dtype is already right."""
    if isinstance(target, Tensor):
        target = target.dtype
    elif isinstance(target, str) and target.split(":")[0] in _DEVICES:
        if target.split(":")[0] != "cpu":
            raise ValueError(f"to: minigrad has no devices but the CPU (numpy), got {target!r}")
        target = None
    if target is not None and dtype is not None:
        raise TypeError(f"to: got the dtype twice ({target!r} and dtype={dtype!r})")
    chosen = target if target is not None else dtype
    try:
        chosen = a.dtype if chosen is None else np.dtype(chosen)
    except TypeError:
        raise TypeError(f"to: {chosen!r} is neither a dtype nor the device 'cpu'") from None
    if chosen not in (np.float32, np.float64):
        raise TypeError(
            f"to: dtype must be float32 or float64 (minigrad has only these), got {chosen}"
        )
    return a if chosen == a.dtype else Copy.apply(a, chosen)


_DEVICES = ("cpu", "cuda", "mps", "xpu", "meta", "xla", "hip")
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
        return _share_by_winner(g, a, b, a.data < b.data, a.data > b.data)

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
