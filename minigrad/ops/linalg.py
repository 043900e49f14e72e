"""Linear algebra: matrix products, and `linear` (x @ W.T + b), what every layer and cell runs."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import Function, Tensor
from .operands import constant, lift, pair
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


# --- einsum -------------------------------------------------------------------------------------

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class Einsum(Function):
    """np.einsum over explicit subscripts; the gradient of each operand is another einsum.

    A primitive for speed and memory: as a composition (broadcast products, then sums) it would
    hold every product term at once, where np.einsum contracts pairwise.
    """

    @staticmethod
    def forward(ctx, spec, *operands):
        inputs, output = spec
        ctx.spec = spec
        ctx.save_for_backward(*operands)
        equation = ",".join(inputs) + "->" + output
        return np.einsum(equation, *[t.data for t in operands], optimize=len(operands) > 1)

    @staticmethod
    def backward(ctx, g):
        operands = ctx.saved_tensors
        needs = ctx.needs_input_grad[1:]
        return (None,) + tuple(
            _einsum_grad(ctx.spec, operands, k, g) if need else None for k, need in enumerate(needs)
        )


def _einsum_grad(spec: tuple, operands: tuple, k: int, g: Tensor) -> Tensor:
    """d out / d operand k, contracted with g: an einsum of g with the other operands.

    A letter that operand k repeats (a diagonal, "ii") gets a fresh letter and an identity
    matrix tying the two; letters found only in operand k are summed over in forward, so every
    element gets g: a broadcast array of ones supplies them.
    """
    inputs, output = spec
    sizes = {c: n for subs, t in zip(inputs, operands) for c, n in zip(subs, t.shape)}
    unused = iter(c for c in LETTERS if c not in sizes)
    terms = [output, *(subs for j, subs in enumerate(inputs) if j != k)]
    tensors = [g, *(t for j, t in enumerate(operands) if j != k)]
    target = ""
    for c in inputs[k]:
        if c in target:
            fresh = next(unused)
            terms.append(c + fresh)
            tensors.append(constant(np.eye(sizes[c]), g.dtype))
            c = fresh
        target += c
    present = set("".join(terms))
    alone = "".join(c for c in target if c not in present)
    if alone:
        terms.append(alone)
        tensors.append(constant(np.broadcast_to(1.0, [sizes[c] for c in alone]), g.dtype))
    return Einsum.apply((tuple(terms), target), *tensors)


def _parse_einsum(equation: str, operands: list[Tensor]) -> tuple:
    """(input subscripts, output subscripts) of an equation, checked against the operands."""
    left, arrow, output = equation.partition("->")
    inputs = tuple(left.split(","))
    if not all(c in LETTERS for c in left.replace(",", "") + output):
        raise ValueError(f"einsum: subscripts must be letters (and '...'), got {equation!r}")
    sizes: dict[str, int] = {}
    for subs, t in zip(inputs, operands):
        if len(subs) != t.ndim:
            raise ValueError(
                f"einsum: subscripts {subs!r} name {len(subs)} axes but the operand has shape "
                f"{t.shape}"
            )
        for c, n in zip(subs, t.shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: axis {c!r} has sizes {sizes[c]} and {n} ({equation!r})")
    if not arrow:  # implicit output: the letters used once, in alphabetical order (as numpy)
        output = "".join(sorted(c for c in sizes if left.count(c) == 1))
    if len(set(output)) != len(output) or any(c not in sizes for c in output):
        raise ValueError(f"einsum: output {output!r} must name distinct input axes ({equation!r})")
    return inputs, output


def _spell_out_ellipsis(equation: str, tensors: list[Tensor]) -> tuple[str, list[Tensor]]:
    """The equation with '...' replaced by letters, and each operand broadcast over them.

    As numpy and PyTorch: the axes '...' covers are right-aligned across operands and broadcast;
    without '->', the output is those axes, then the letters used once, in alphabetical order.
    """
    left, arrow, output = equation.partition("->")
    inputs = left.split(",")
    if len(inputs) != len(tensors):
        raise ValueError(
            f"einsum: {equation!r} has {len(inputs)} operand(s) but {len(tensors)} were given"
        )
    if "..." not in equation:
        return equation, tensors
    parts = []
    for subs, t in zip(inputs, tensors):
        width = t.ndim - (len(subs) - 3) if "..." in subs else 0
        if width < 0:
            raise ValueError(f"einsum: {subs!r} names more axes than the operand's {t.shape}")
        start = subs.find("...")
        parts.append(t.shape[start : start + width] if width else ())
    try:
        common = np.broadcast_shapes(*parts)
    except ValueError:
        raise ValueError(f"einsum: the axes '...' covers, {parts}, do not broadcast") from None
    letters = "".join([c for c in LETTERS if c not in equation][: len(common)])
    spelled, broadcast = [], []
    for subs, t, part in zip(inputs, tensors, parts):
        if "..." in subs:
            start = subs.index("...")
            lead, rest = t.shape[:start], t.shape[start + len(part) :]
            if part != common:
                ones = (1,) * (len(common) - len(part))
                t = t.reshape(lead + ones + part + rest).broadcast_to(lead + common + rest)
            subs = subs.replace("...", letters)
        spelled.append(subs)
        broadcast.append(t)
    if arrow:
        output = output.replace("...", letters)
    else:
        named = "".join(spelled)
        output = letters + "".join(
            sorted(c for c in set(named) - set(letters) if named.count(c) == 1)
        )
    return ",".join(spelled) + "->" + output, broadcast


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, as torch.einsum("ij,jk->ik", a, b) or ("...ij,...jk", a, b): the
    gradient reaches every operand. Operands may also be given as one list."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    tensors = [lift(t) for t in operands]
    if not tensors:
        raise ValueError("einsum: need at least one operand")
    equation, tensors = _spell_out_ellipsis(equation.replace(" ", ""), tensors)
    return Einsum.apply(_parse_einsum(equation, tensors), *tensors)
