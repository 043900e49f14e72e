"""Linear algebra: matrix products, and `linear` (x @ W.T + b), what every layer and cell runs."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import Function, Tensor
from .operands import lift, pair
from .reductions import sum_to
from .shape import Transpose


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

    @staticmethod
    def lower(out, a, b):  # compiled code: rows times a matrix as one product, as forward
        if a.ndim < 2 or b.ndim < 2:
            return None  # 1-D operands: replayed by forward
        if a.ndim > 2 and b.ndim == 2:
            rows = f"{a}.reshape(-1, {a.shape[-1]})"
            return f"np.matmul({rows}, {b}, out={out}.reshape(-1, {b.shape[-1]}))"
        return f"np.matmul({a}, {b}, out={out})"


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

    @staticmethod
    def lower(out, x, weight, bias=None):
        rows, into = (x, out) if x.ndim <= 2 else (f"{x}.reshape(-1, {x.shape[-1]})", None)
        into = into or f"{out}.reshape(-1, {out.shape[-1]})"
        code = f"np.matmul({rows}, {weight}.T, out={into})"
        return code if bias == "None" else f"{code}\nnp.add({into}, {bias}, out={into})"


def _swap_last(t: Tensor) -> Tensor:
    axes = list(range(t.ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return Transpose.apply(t, tuple(axes))


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with np.matmul's semantics."""
    return MatMul.apply(*pair(a, b))


def linear(x: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, for x of shape (..., in) and weight (out, in), as F.linear."""
    return Linear.apply(lift(x, weight), weight, bias)
