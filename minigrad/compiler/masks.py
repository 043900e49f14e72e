"""Primitives the tracer needs where eager code computes on `.data` outside any op.

Relu's, Maximum's and Max's backwards build their masks with `constant(x.data > ...)`: a trace
would fix the mask of the first call into the program. `BACKWARDS` gives the tracer a version of
each of those backwards whose masks are ops (`PositiveMask`, `MaximumShare`, `MaxShare`), so the
mask is recomputed on every replay. They compute exactly what the eager backwards compute.
`Detach` and `Cast` make `Tensor.detach()` and the engine's gradient dtype cast visible too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..engine import Function, Tensor
from ..ops import Max, Maximum, Relu, sum_to


class PositiveMask(Function):
    """1 where `a > 0`, else 0, in a's dtype: relu's derivative (0 at 0). No gradient."""

    @staticmethod
    def forward(ctx, a):
        return (a.data > 0).astype(a.dtype)

    @staticmethod
    def lower(out, a):
        return f"np.greater({a}, 0, out={out})"

    @staticmethod
    def backward(ctx, g):
        return (None,)


class MaximumShare(Function):
    """a's share of the gradient of `maximum(a, b)`: 1 where a > b, 1/2 on ties. No gradient."""

    @staticmethod
    def forward(ctx, a, b):
        return ((a.data > b.data) + 0.5 * (a.data == b.data)).astype(a.dtype)

    @staticmethod
    def lower(out, a, b):
        return f"np.equal({a}, {b}, out={out})\nnp.multiply({out}, 0.5, out={out})\n" + (
            f"np.add({out}, np.greater({a}, {b}), out={out})"
        )

    @staticmethod
    def backward(ctx, g):
        return None, None


class MaxShare(Function):
    """Each element's share of the gradient of `max(a, axis)`: ties split it equally."""

    @staticmethod
    def forward(ctx, a, out, kept_shape, axis):
        is_max = a.data == out.data.reshape(kept_shape)
        return (is_max / is_max.sum(axis=axis, keepdims=True)).astype(a.dtype)

    @staticmethod
    def backward(ctx, g):
        return None, None, None, None


class Detach(Function):
    """The same values, with no gradient flowing back: `Tensor.detach()` inside a trace."""

    @staticmethod
    def forward(ctx, a):
        return a.data

    @staticmethod
    def lower_view(out, a):
        return f"{a}[...]"

    @staticmethod
    def backward(ctx, g):
        return (None,)


class Cast(Function):
    """`a` in another float dtype (a gradient cast to its input's dtype, as the engine does)."""

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.data.astype(dtype)

    @staticmethod
    def lower(out, a, dtype):
        return f"np.copyto({out}, {a})"

    @staticmethod
    def backward(ctx, g):
        return Cast.apply(g, ctx.dtype), None


def kept_shape(shape: tuple, axis: Any) -> tuple:
    """The shape a reduction over `axis` has with keepdims=True."""
    if axis is None:
        return (1,) * len(shape)
    if not shape:
        return ()
    axes = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def relu_backward(ctx: Any, g: Tensor) -> Tensor:
    (out,) = ctx.saved_tensors
    return g * PositiveMask.apply(out)


def maximum_backward(ctx: Any, g: Tensor) -> tuple:
    a, b = ctx.saved_tensors
    share_a = MaximumShare.apply(a, b)
    if share_a.dtype != g.dtype:
        share_a = Cast.apply(share_a, g.dtype)
    return sum_to(g * share_a, a.shape), sum_to(g * (1 - share_a), b.shape)


def max_backward(ctx: Any, g: Tensor) -> tuple:
    a, out = ctx.saved_tensors
    kept = kept_shape(ctx.shape, ctx.axis)
    share = MaxShare.apply(a, out, kept, ctx.axis)
    if share.dtype != g.dtype:
        share = Cast.apply(share, g.dtype)
    return g.reshape(kept).broadcast_to(ctx.shape) * share, None, None


BACKWARDS: dict[type[Function], Callable[..., Any]] = {
    Relu: relu_backward,
    Maximum: maximum_backward,
    Max: max_backward,
}

__all__ = ["BACKWARDS", "Cast", "Detach", "MaxShare", "MaximumShare", "PositiveMask"]
