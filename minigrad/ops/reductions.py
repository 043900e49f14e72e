"""Reductions (sum, max, mean) and their adjoints, broadcasting and summing back to a shape."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import Function, Tensor, from_numpy
from .operands import as_axis, constant, lift


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
    """Max over axes; ties share the gradient equally (so the result is a true subgradient)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis = a.shape, axis
        out = from_numpy(a.data.max(axis=axis, keepdims=keepdims))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        is_max = a.data == out.data.reshape(_kept_shape(ctx.shape, ctx.axis))
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


def sum(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return Sum.apply(lift(a), as_axis(axis), keepdims)


def max(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return Max.apply(lift(a), as_axis(axis), keepdims)


def mean(a: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Average over `axis` (all axes by default): a sum times 1/count (no derivative of its own)."""
    a = lift(a)
    total = a.sum(axis=axis, keepdims=keepdims)
    return total * (total.size / a.size if a.size else np.nan)


def broadcast_to(a: Any, shape: tuple) -> Tensor:
    return BroadcastTo.apply(lift(a), tuple(shape))
