"""Reductions (sum, max, mean) and their adjoints, broadcasting and summing back to a shape."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..engine import Function, Tensor, from_numpy
from .operands import check_dim, constant, lift, pick_axis, pick_dims, pick_keep
from .shape import Transpose, gather


def _kept_shape(shape: tuple, axis: Any) -> tuple:
    """The shape a reduction over `axis` has with keepdims=True."""
    if axis is None:
        return (1,) * len(shape)
    if not shape:  # numpy (and PyTorch) accept axis 0 or -1 on a 0-d array
        return ()
    axes = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _expand_reduced(g: Tensor, ctx: Any) -> Tensor:
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

    @staticmethod
    def lower(out, a, axis=None, keepdims=False):
        return f"np.add.reduce({a}, axis={axis}, keepdims={keepdims}, out={out})"


class Max(Function):
    """Max over axes, NaN-propagating as numpy and PyTorch; the gradient goes to the elements
    equal to the max, shared equally among ties (a true subgradient), and to the NaNs where
    the max is NaN (torch.amax's rule, and torch.max()'s for a full reduction)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis = a.shape, axis
        out = from_numpy(a.data.max(axis=axis, keepdims=keepdims))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        kept = out.data.reshape(_kept_shape(ctx.shape, ctx.axis))
        is_max = a.data == kept
        if np.isnan(kept).any():  # NaN == NaN is False: where the max is NaN, the NaNs made it
            is_max |= np.isnan(a.data) & np.isnan(kept)
        share = constant(is_max / is_max.sum(axis=ctx.axis, keepdims=True), g.dtype)
        return _expand_reduced(g, ctx) * share, None, None

    @staticmethod
    def lower(out, a, axis=None, keepdims=False):
        return f"np.maximum.reduce({a}, axis={axis}, keepdims={keepdims}, out={out})"


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

    @staticmethod
    def lower(out, a, shape):
        lead = a.ndim - len(out.shape)
        kept = tuple(i + lead for i, n in enumerate(out.shape) if n == 1 and a.shape[i + lead] != 1)
        if not kept:  # only leading axes summed away: out has the plain sum's shape
            return f"np.add.reduce({a}, axis={tuple(range(lead))}, out={out})"
        axes = tuple(range(lead)) + kept
        into = f"{out}.reshape({(1,) * lead + out.shape})"
        return f"np.add.reduce({a}, axis={axes}, keepdims=True, out={into})"


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

    @staticmethod
    def lower_view(out, a, shape):
        return f"np.broadcast_to({a}, {shape})"


def sum_to(grad: Tensor, shape: tuple) -> Tensor:
    """Reduce a broadcast gradient back to an input's `shape` (identity when already equal)."""
    return grad if grad.data.shape == shape else SumTo.apply(grad, shape)


def sum(  # noqa: A001
    a: Any,
    dim: Any = None,
    keepdim: bool = False,
    *,
    axis: Any = None,
    keepdims: bool | None = None,
) -> Tensor:
    """Sum over `dim` (an int or a tuple; all axes when None). `axis`/`keepdims`: numpy's names."""
    return Sum.apply(lift(a), *pick_dims("sum", dim, keepdim, axis, keepdims))


def max(  # noqa: A001
    a: Any,
    dim: Any = None,
    keepdim: bool = False,
    *,
    axis: Any = None,
    keepdims: bool | None = None,
) -> Any:
    """The largest value: over everything, over `axis` (numpy's amax: a Tensor, ties share the
    gradient), or along one `dim` (PyTorch: `(values, indices)`, the gradient to the index)."""
    return _extreme("max", lift(a), dim, pick_keep("max", keepdim, keepdims), axis, np.argmax)


def min(  # noqa: A001
    a: Any,
    dim: Any = None,
    keepdim: bool = False,
    *,
    axis: Any = None,
    keepdims: bool | None = None,
) -> Any:
    """The smallest value, as `max`: a Tensor over `axis`, `(values, indices)` along one `dim`."""
    return _extreme("min", lift(a), dim, pick_keep("min", keepdim, keepdims), axis, np.argmin)


def _extreme(where: str, a: Tensor, dim: Any, keep: bool, axis: Any, arg: Any) -> Any:
    """max or min (`arg` is np.argmax or np.argmin): PyTorch's pair along `dim`, else amax/amin."""
    if dim is not None and axis is None:
        return _values_indices(where, a, dim, keep, arg)
    axis = pick_axis(where, dim, axis)
    return Max.apply(a, axis, keep) if arg is np.argmax else -Max.apply(-a, axis, keep)


def mean(
    a: Any,
    dim: Any = None,
    keepdim: bool = False,
    *,
    axis: Any = None,
    keepdims: bool | None = None,
) -> Tensor:
    """Average over `dim` (all axes by default): a sum times 1/count (no derivative of its own)."""
    a = lift(a)
    total = a.sum(*pick_dims("mean", dim, keepdim, axis, keepdims))
    return total * (total.data.size / a.data.size if a.data.size else np.nan)


def broadcast_to(a: Any, shape: tuple) -> Tensor:
    return BroadcastTo.apply(lift(a), tuple(shape))


# --- PyTorch's reductions: indices, logsumexp, var/std, prod, cumsum, softmax --------------------


class ValuesIndices(NamedTuple):
    """What `max`/`min` along one `dim` return, as PyTorch's (values, indices).

    The indices are whole numbers in a float tensor (minigrad has only float dtypes): of the
    input's dtype, or float64 where float32 could not hold them exactly.
    """

    values: Tensor
    indices: Tensor


def _arg_along(where: str, a: Tensor, dim: Any, keepdim: bool, arg: Any) -> np.ndarray:
    """np.argmax/argmin along one checked `dim` (the first on ties), with the axis kept."""
    dim = check_dim(where, dim, a.ndim)
    if a.ndim == 0:
        return np.zeros((), dtype=np.intp)
    if a.shape[dim] == 0:
        raise IndexError(f"{where}: cannot reduce dim {dim} of size 0 (shape {a.shape})")
    found = np.expand_dims(arg(a.data, axis=dim), dim)
    return found if keepdim else found.squeeze(dim)


def _values_indices(where: str, a: Tensor, dim: Any, keepdim: bool, arg: Any) -> ValuesIndices:
    """max/min along `dim`: the values picked by index, so the gradient goes to that index only."""
    found = _arg_along(where, a, dim, True, arg)
    if a.ndim == 0:
        values = a.reshape(())
    else:
        dim = check_dim(where, dim, a.ndim)
        values = gather(a, dim, found)
        found = found if keepdim else found.squeeze(dim)
        values = values if keepdim else values.reshape(found.shape)
    return ValuesIndices(values, _index_tensor(found, a.dtype))


def _index_tensor(found: np.ndarray, dtype: np.dtype) -> Tensor:
    """Indices as whole numbers in `dtype`, or in float64 past 2^24, where float32 skips some."""
    if dtype == np.float32 and found.size and found.max() >= 2**24:
        dtype = np.dtype(np.float64)
    return from_numpy(found.astype(dtype))


def _arg(where: str, a: Any, dim: Any, keepdim: bool, arg: Any) -> Tensor:
    a = lift(a)
    if dim is None:
        if a.data.size == 0:
            raise IndexError(f"{where}: the tensor is empty (shape {a.shape})")
        found = np.asarray(arg(a.data))
        found = found.reshape((1,) * a.ndim) if keepdim else found
    else:
        found = _arg_along(where, a, dim, keepdim, arg)
    return _index_tensor(found, a.dtype)


def argmax(a: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the largest value (of the flattened tensor when `dim` is None; the first on
    ties). No gradient; the indices are whole numbers in a float tensor."""
    return _arg("argmax", a, dim, keepdim, np.argmax)


def argmin(a: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest value, as `argmax`."""
    return _arg("argmin", a, dim, keepdim, np.argmin)


def _required_axis(where: str, dim: Any, axis: Any) -> Any:
    chosen = pick_axis(where, dim, axis)
    if chosen is None:
        raise TypeError(f"{where}: dim is required (as in PyTorch)")
    return chosen


class LogSumExp(Function):
    """log(sum(exp(a))) over `axis`, after subtracting the maximum (0 where it is infinite or
    the axis is empty, as PyTorch), so it never overflows.

    A primitive for stability: the shift depends on the values, which a composition would have
    to read outside an op. Its gradient is softmax, exp(a - out), itself differentiable.
    (softmax and log_softmax are nn.functional's: PyTorch shifts those by the maximum as it is.)
    """

    @staticmethod
    def forward(ctx, a, axis, keepdims):
        ctx.shape, ctx.axis = a.shape, axis
        if a.data.size:
            peak = np.asarray(np.max(a.data, axis=axis, keepdims=True))  # (0-d: a scalar)
            peak[~np.isfinite(peak)] = 0
        else:
            peak = np.zeros(_kept_shape(a.shape, axis), a.dtype)
        with np.errstate(divide="ignore"):  # log(0) = -inf: every term was -inf, or none
            out = np.log(np.exp(a.data - peak).sum(axis=axis, keepdims=True)) + peak
        reduced = np.sum(peak, axis=axis).shape  # the shape without the reduced axes
        out = from_numpy(out if keepdims else out.reshape(reduced))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        kept = _kept_shape(ctx.shape, ctx.axis)
        return _expand_reduced(g, ctx) * (a - out.reshape(kept)).exp(), None, None


def logsumexp(
    a: Any,
    dim: Any = None,
    keepdim: bool = False,
    *,
    axis: Any = None,
    keepdims: bool | None = None,
) -> Tensor:
    """log(sum(exp(a))) over `dim` (required, as in PyTorch), finite for any finite a."""
    a = lift(a)
    axis, keep = _required_axis("logsumexp", dim, axis), pick_keep("logsumexp", keepdim, keepdims)
    return LogSumExp.apply(a, axis, keep)


def var(
    a: Any,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
    axis: Any = None,
    keepdims: bool | None = None,
) -> Tensor:
    """Variance over `dim` (all axes by default), divided by N - correction (PyTorch's default
    correction=1, Bessel's; `unbiased=False` is correction=0). A composition of mean and sums."""
    if unbiased is not None and correction is not None:
        raise TypeError("var: pass unbiased or correction, not both")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    a = lift(a)
    axis, keep = pick_dims("var", dim, keepdim, axis, keepdims)
    centred = a - a.mean(axis, True)
    total = (centred * centred).sum(axis, keep)
    dof = (a.data.size / total.data.size if total.data.size else 0) - correction
    return total * (1 / dof if dof > 0 else np.inf)  # as PyTorch: x / 0, so inf (NaN for 0 / 0)


def std(
    a: Any,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: float | None = None,
    axis: Any = None,
    keepdims: bool | None = None,
) -> Tensor:
    """Standard deviation: the square root of `var` (same arguments and defaults); where it is
    0 the gradient is 0, as PyTorch's (not 0 * inf)."""
    spread = var(a, dim, unbiased, keepdim, correction=correction, axis=axis, keepdims=keepdims)
    return RootOfVariance.apply(spread)


class RootOfVariance(Function):
    """sqrt(v) whose derivative is 0 where v is 0, as PyTorch's std (sqrt's would be inf).

    A primitive because the choice depends on the values; its backward uses `ZeroSafeInverse`,
    an op, so the mask is recomputed wherever the backward runs (compile included).
    """

    @staticmethod
    def forward(ctx, v):
        out = from_numpy(np.sqrt(v.data))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * ZeroSafeInverse.apply(out) * 0.5  # d sqrt(v) = 1 / (2 sqrt(v)), 0 at 0


class ZeroSafeInverse(Function):
    """1 / x, and 0 where x is 0; its derivative, -1 / x^2, is 0 there too."""

    @staticmethod
    def forward(ctx, x):
        out = np.zeros_like(x.data)
        np.divide(1, x.data, out=out, where=x.data != 0)
        out = from_numpy(out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return -g * out * out


class Prod(Function):
    """Product along one axis. A primitive: exp(sum(log a)) fails at zeros and negative values.

    The gradient of each element is the product of the others: out / a when out is nonzero and
    finite, else the product over a copy of the row with that element set to 1 (exact with zeros).
    """

    @staticmethod
    def forward(ctx, a, axis, keepdims):
        ctx.shape, ctx.axis = a.shape, axis
        ctx.save_for_backward(a)
        return np.prod(a.data, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return _expand_reduced(g, ctx) * _product_of_others(a, ctx.axis), None, None


def _product_of_others(a: Tensor, axis: int) -> Tensor:
    """For every element, the product of the other elements along `axis` (differentiable)."""
    total = Prod.apply(a, axis, True)
    if np.all(total.data != 0) and np.all(np.isfinite(total.data)):  # no zero, no under/overflow
        return total / a
    n = a.shape[axis]
    rows = Transpose.apply(a, (*[d for d in range(a.ndim) if d != axis], axis))  # `axis` last
    eye = np.eye(n)
    spread = rows.reshape(*rows.shape[:-1], 1, n) * constant(1 - eye, a.dtype) + eye.astype(a.dtype)
    others = Prod.apply(spread, spread.ndim - 1, False)  # (..., n): row i without element i
    order = list(range(a.ndim - 1))
    order.insert(axis, a.ndim - 1)
    return Transpose.apply(others, tuple(order))


def prod(
    a: Any,
    dim: Any = None,
    keepdim: bool = False,
    *,
    axis: Any = None,
    keepdims: bool | None = None,
) -> Tensor:
    """Product of all elements, or along one `dim` (an int, as PyTorch's)."""
    a = lift(a)
    axis, keep = pick_dims("prod", dim, keepdim, axis, keepdims)
    if axis is None:
        total = Prod.apply(a.reshape(-1), 0, False)
        return total.reshape((1,) * a.ndim) if keep else total
    axis = check_dim("prod", axis, a.ndim)
    if a.ndim == 0:
        return a.reshape(())
    return Prod.apply(a, axis, keep)


class Cumsum(Function):
    """Running sums along an axis. A primitive (as a composition it would be a triangular matmul);
    its gradient is the running sum taken from the other end."""

    @staticmethod
    def forward(ctx, a, axis):
        ctx.axis = axis
        return np.cumsum(a.data, axis=axis)

    @staticmethod
    def backward(ctx, g):
        flip = (slice(None),) * ctx.axis + (slice(None, None, -1),)
        return Cumsum.apply(g[flip], ctx.axis)[flip], None


def cumsum(a: Any, dim: Any = None, *, axis: Any = None) -> Tensor:
    """out[i] = a[0] + ... + a[i] along `dim` (required, as in PyTorch)."""
    a = lift(a)
    axis = check_dim("cumsum", _required_axis("cumsum", dim, axis), a.ndim)
    if a.ndim == 0:
        return a.reshape(())
    return Cumsum.apply(a, axis)
