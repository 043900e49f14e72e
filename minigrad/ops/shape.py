"""Shape and indexing primitives: views (reshape, transpose, slices) and joins (concatenate,
stack) with their adjoints (split, unstack, scatter-add)."""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..engine import Function, Tensor
from .operands import lift


def _read_only_view(array: np.ndarray) -> np.ndarray:
    """Views of an input are handed out read-only, so no write can reach a saved array."""
    if array.base is not None:
        array.flags.writeable = False
    return array


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

    @staticmethod
    def lower_view(out, a, shape):  # compiled code: made once when it does not copy
        return f"{a}.reshape({shape})"


class Transpose(Function):
    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return _read_only_view(np.transpose(a.data, axes))

    @staticmethod
    def backward(ctx, g):
        inverse = None if ctx.axes is None else tuple(np.argsort(ctx.axes))
        return Transpose.apply(g, inverse), None

    @staticmethod
    def lower_view(out, a, axes):
        return f"np.transpose({a}, {axes})"


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

    @staticmethod
    def lower_view(out, a, index):
        return f"{a}[{index}]" if _is_basic_index(index.value) and out.ndim else None

    @staticmethod
    def lower(out, a, index):
        return f"{out}[...] = {a}[{index}]"


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

    @staticmethod
    def lower(out, g, index, shape):
        if _is_basic_index(index.value):
            return f"{out}.fill(0)\n{out}[{index}] = {g}"
        return f"{out}.fill(0)\nnp.add.at({out}, {index}, {g})"


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
        return (None, *Split.apply(g, ctx.bounds, ctx.axis, None))  # each input gets its own piece

    @staticmethod
    def lower(out, axis, *tensors):
        return f"np.concatenate(({''.join(f'{t}, ' for t in tensors)}), axis={axis}, out={out})"

    @staticmethod
    def lower_parts(out, axis, *tensors):  # where each input lies in the result
        head, start = ":, " * (axis.value % out.ndim), 0
        parts = []
        for t in tensors:
            parts.append(f"{out}[{head}{start}:{start + t.shape[axis.value]}]")
            start += t.shape[axis.value]
        return parts


class Split(Function):
    """Cut `a` along `axis` at `bounds` (0 = b0 < b1 < ... = length), one output per piece.

    The adjoint of concatenate: backward joins the pieces' gradients with a single concatenate,
    which is why the LSTM's four gates come out of one matmul cheaply.
    """

    @staticmethod
    def forward(ctx, a, bounds, axis, labels=None):
        ctx.axis, ctx.output_labels = axis, labels  # labels: what viz calls the pieces
        head = (slice(None),) * axis
        return tuple(
            _read_only_view(a.data[head + (slice(start, stop),)])
            for start, stop in zip(bounds[:-1], bounds[1:])
        )

    @staticmethod
    def backward(ctx, *grads):
        return Concatenate.apply(ctx.axis, *grads), None, None, None

    @staticmethod
    def lower_view(outs, a, bounds, axis, labels=None):
        head = ":, " * axis.value
        return [f"{a}[{head}{start}:{stop}]" for start, stop in zip(bounds.value, bounds.value[1:])]


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

    @staticmethod
    def lower(out, axis, *tensors):
        return f"np.stack(({''.join(f'{t}, ' for t in tensors)}), axis={axis}, out={out})"

    @staticmethod
    def lower_parts(out, axis, *tensors):  # where each input lies in the result
        return [f"{out}[{':, ' * (axis.value % out.ndim)}{k}]" for k in range(len(tensors))]


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

    @staticmethod
    def lower_view(outs, a, axis):
        head = ":, " * axis.value
        return [f"{a}[{head}{k}]" for k in range(len(outs))]


def reshape(a: Any, *shape: Any) -> Tensor:
    sizes = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Reshape.apply(lift(a), tuple(sizes))


def transpose(a: Any, *axes: Any) -> Tensor:
    """Permute axes (reverse them when none are given), as np.transpose."""
    order = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
    return Transpose.apply(lift(a), tuple(order) if order else None)


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


def split(
    a: Any, indices_or_sections: Any, axis: int = 0, *, labels: Sequence[str] | None = None
) -> list[Tensor]:
    """Split into pieces along `axis`, as np.split: N equal sections or at the given indices.

    `labels` name the pieces in `viz` pictures (an LSTM's gates: "ifgo", one label a piece).
    """
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
    if labels is not None and len(labels) != len(bounds) - 1:
        raise ValueError(f"split: {len(labels)} labels for {len(bounds) - 1} pieces")
    return list(Split.apply(a, bounds, axis, labels))


def getitem(a: Tensor, index: Any) -> Tensor:
    return Index.apply(a, _normalize_index(index))
