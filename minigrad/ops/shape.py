"""Shape and indexing primitives: views (reshape, transpose, slices) and joins (concatenate,
stack) with their adjoints (split, unstack, scatter-add)."""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..engine import Function, Tensor
from .operands import check_dim, lift


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
    """Lists inside an index become arrays (as numpy); float indices are refused."""
    if isinstance(index, tuple):
        return tuple(_normalize_index(part) for part in index)
    if isinstance(index, Tensor):
        return _tensor_index(index)
    if isinstance(index, list):
        array = np.asarray(index)
        if array.size == 0:  # numpy reads [] as no positions
            return array.astype(np.intp)
        if array.dtype.kind not in "iub":
            raise IndexError(
                f"index: indices must be integers or booleans, got {array.dtype} values {index}"
            )
        return array
    return index


def _tensor_index(index: Tensor) -> np.ndarray:
    """A Tensor used as an index: integer positions, if its (float) values are whole numbers.

    minigrad Tensors hold floats, so a boolean mask wrapped in one reads as 1.0 / 0.0: such a
    tensor (only zeros and ones) is refused as ambiguous, like any with fractional values.
    """
    values = index.data
    with np.errstate(invalid="ignore"):  # NaN / inf become garbage here, and are refused below
        integral = values.astype(np.intp)
    if not np.array_equal(integral, values):
        raise IndexError(
            f"index: a Tensor of indices must hold whole numbers, got {values.ravel()[:6]} "
            f"(shape {index.shape})"
        )
    if values.size and np.all((integral == 0) | (integral == 1)):
        raise IndexError(
            f"index: a Tensor of only 0s and 1s (shape {index.shape}) is ambiguous as an index, "
            f"a mask or positions; index with a numpy array instead: x[t.numpy() > 0] for a "
            f"mask, x[t.numpy().astype(int)] for positions"
        )
    return integral


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
        head = ":, " * (axis.value % out.ndim)
        return [f"{out}[{head}{k}, ...]" for k in range(len(tensors))]  # 0-d parts: arrays too


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
        return [f"{a}[{head}{k}, ...]" for k in range(len(outs))]  # 0-d pieces: arrays, too


def reshape(a: Any, *shape: Any) -> Tensor:
    sizes = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Reshape.apply(lift(a), tuple(sizes))


def transpose(a: Any, *axes: Any) -> Tensor:
    """Permute axes (reverse them when none are given), as np.transpose."""
    order = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
    return Transpose.apply(lift(a), tuple(order) if order else None)


def concatenate(tensors: Any, axis: int | None = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis, as np.concatenate (axis=None: flattened first;
    `dim`: PyTorch's name)."""
    axis = axis if dim is None else dim
    tensors = [lift(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    if axis is None:
        tensors, axis = [t.reshape(-1) for t in tensors], 0
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"concatenate: axis must be an int or None, got {axis!r}")
    return Concatenate.apply(axis, *tensors)


def stack(tensors: Any, axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join same-shaped tensors along a new axis, as np.stack (`dim`: PyTorch's name)."""
    axis = axis if dim is None else dim
    tensors = [lift(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    return Stack.apply(axis, *tensors)


def unstack(a: Any, axis: int = 0, *, dim: int | None = None) -> list[Tensor]:
    """The slices of `a` along `axis`, each without that axis (torch.unbind; `dim` its name)."""
    axis = axis if dim is None else dim
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
    if _is_int(indices_or_sections):
        sections = int(indices_or_sections)
        if sections <= 0 or length % sections:
            raise ValueError(
                f"split: axis {axis} of shape {a.shape} does not divide into {sections} equal "
                f"sections"
            )
        bounds = tuple(k * (length // sections) for k in range(sections + 1))  # an empty axis
        # gives empty pieces, as numpy
    else:  # np.split takes piece k as a[points[k]:points[k+1]], with Python's slice rules
        if not isinstance(indices_or_sections, (list, tuple, np.ndarray)) or not all(
            _is_int(i) for i in indices_or_sections
        ):
            raise TypeError(
                f"split: indices_or_sections must be an int (a number of equal sections) or a "
                f"sequence of int positions, got {indices_or_sections!r}"
            )
        points = [0, *(int(i) for i in indices_or_sections), length]
        spans = [slice(start, stop).indices(length)[:2] for start, stop in zip(points, points[1:])]
        bounds = (0, *(builtins.max(start, stop) for start, stop in spans))
        if any(start != bound for (start, _), bound in zip(spans, bounds)):  # pieces overlap
            head = (slice(None),) * axis
            return [a[head + (slice(start, stop),)] for start, stop in spans]
    if labels is not None and len(labels) != len(bounds) - 1:
        raise ValueError(f"split: {len(labels)} labels for {len(bounds) - 1} pieces")
    return list(Split.apply(a, bounds, axis, labels))


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def getitem(a: Tensor, index: Any) -> Tensor:
    return Index.apply(a, _normalize_index(index))


# --- PyTorch's shape ops: compositions of reshape, transpose, broadcast_to, indexing, split -----


def _dims(where: str, dims: Any, ndim: int) -> list[int]:
    """Axes given as `f(0, 1)` or `f((0, 1))`, each checked and made non-negative."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    return [check_dim(where, d, ndim) for d in dims]


def permute(a: Any, *dims: Any) -> Tensor:
    """Reorder the axes: output axis i is input axis dims[i] (`permute(2, 0, 1)`)."""
    a = lift(a)
    order = _dims("permute", dims, a.ndim)
    if sorted(order) != list(range(a.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the {a.ndim} axes of {a.shape}")
    return Transpose.apply(a, tuple(order))


def swapdims(a: Any, dim0: int, dim1: int) -> Tensor:
    """Swap two axes: PyTorch's `transpose(dim0, dim1)` (numpy's swapaxes)."""
    a = lift(a)
    order = list(range(a.ndim))
    i, j = check_dim("transpose", dim0, a.ndim), check_dim("transpose", dim1, a.ndim)
    if a.ndim == 0:
        return Reshape.apply(a, ())
    order[i], order[j] = order[j], order[i]
    return Transpose.apply(a, tuple(order))


def flatten(a: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim .. end_dim into one (a 0-d tensor becomes shape (1,))."""
    a = lift(a)
    start, end = check_dim("flatten", start_dim, a.ndim), check_dim("flatten", end_dim, a.ndim)
    if a.ndim == 0:
        return Reshape.apply(a, (1,))
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = int(np.prod(a.shape[start : end + 1]))
    return Reshape.apply(a, a.shape[:start] + (merged,) + a.shape[end + 1 :])


def squeeze(a: Any, dim: Any = None) -> Tensor:
    """Drop size-1 axes: all of them, or those of `dim` (an int or a tuple) that have size 1
    (as PyTorch, an axis of another size is left alone)."""
    a = lift(a)
    if dim is None:
        chosen = set(range(a.ndim))
    else:
        chosen = set(_dims("squeeze", dim if isinstance(dim, (tuple, list)) else (dim,), a.ndim))
    kept = tuple(n for i, n in enumerate(a.shape) if not (i in chosen and n == 1))
    return Reshape.apply(a, kept)


def unsqueeze(a: Any, dim: int) -> Tensor:
    """Insert a size-1 axis at position `dim` (-ndim-1 .. ndim)."""
    a = lift(a)
    position = check_dim("unsqueeze", dim, a.ndim + 1)
    return Reshape.apply(a, a.shape[:position] + (1,) + a.shape[position:])


def expand(a: Any, *sizes: Any) -> Tensor:
    """Broadcast to `sizes` without copying; -1 keeps an axis's size (PyTorch's expand)."""
    a = lift(a)
    target = list(sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes)
    lead = len(target) - a.ndim
    if lead < 0:
        raise ValueError(f"expand: {tuple(target)} has fewer dims than the tensor's {a.shape}")
    for i, n in enumerate(target):
        if n == -1:
            if i < lead:
                raise ValueError(f"expand: -1 is not allowed for the new leading dim {i}")
            target[i] = a.shape[i - lead]
    return a.broadcast_to(tuple(target))


def _split_at(a: Tensor, sizes: list[int], axis: int) -> list[Tensor]:
    bounds = (0, *itertools.accumulate(sizes))
    return list(Split.apply(a, bounds, axis, None))


def chunk(a: Any, chunks: int, dim: int = 0) -> list[Tensor]:
    """Cut into `chunks` pieces along `dim`, each ceil(n / chunks) long except the last (so there
    may be fewer pieces than asked for), as torch.chunk."""
    a = lift(a)
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive integer, got {chunks!r}")
    axis = check_dim("chunk", dim, a.ndim)
    if a.ndim == 0:
        raise ValueError("chunk: a 0-d tensor cannot be chunked")
    length = a.shape[axis]
    step = -(-length // chunks) if length else 1
    return _split_at(
        a, [builtins.min(step, length - start) for start in range(0, length, step)] or [0], axis
    )


def split_sizes(a: Any, split_size_or_sections: Any, dim: int = 0) -> list[Tensor]:
    """PyTorch's split: pieces of `split_size_or_sections` each (the last may be shorter), or of
    the listed sizes, which must add up to the length of `dim`. (`minigrad.split` is numpy's.)"""
    a = lift(a)
    axis = check_dim("split", dim, a.ndim)
    if a.ndim == 0:
        raise ValueError("split: a 0-d tensor cannot be split")
    length = a.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0 and length:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [builtins.min(size, length - start) for start in range(0, length, size or 1)]
        return _split_at(a, sizes or [0], axis)
    sizes = [int(n) for n in split_size_or_sections]
    if any(n < 0 for n in sizes) or builtins.sum(sizes) != length:
        raise ValueError(
            f"split: sizes {sizes} must be non-negative and add up to {length}, the length of "
            f"dim {dim} of shape {a.shape}"
        )
    return _split_at(a, sizes, axis)


def cat(tensors: Any, dim: int = 0, *, axis: int | None = None) -> Tensor:
    """PyTorch's name for `concatenate`: join tensors along an existing axis."""
    return concatenate(tensors, dim if axis is None else axis)


def _indices(where: str, index: Any, length: int) -> np.ndarray:
    """An index argument (a Tensor of whole numbers, an int array or a list) as checked ints."""
    values = index.data if isinstance(index, Tensor) else np.asarray(index)
    if values.dtype.kind == "f":
        if not np.array_equal(values, np.round(values)):
            raise TypeError(f"{where}: index must hold whole numbers, got {values}")
        values = values.astype(np.intp)
    elif values.dtype.kind not in "iu" or values.dtype == bool:
        raise TypeError(f"{where}: index must be integers, got dtype {values.dtype}")
    bad = (values < 0) | (values >= length)
    if bad.any():
        raise IndexError(
            f"{where}: index {values[bad].flat[0]} is out of range for a dim of size {length}"
        )
    return values.astype(np.intp)


def gather(a: Any, dim: int, index: Any) -> Tensor:
    """out[i][j] = a[index[i][j]][j] for dim 0 (and so on), as torch.gather: `index` has a's
    number of dims and is no larger than a in the others. Composed from indexing, so repeated
    indices add up in the gradient."""
    a = lift(a)
    axis = check_dim("gather", dim, a.ndim)
    shape = (index.data if isinstance(index, Tensor) else np.asarray(index)).shape
    if len(shape) != a.ndim or any(
        n > m for i, (n, m) in enumerate(zip(shape, a.shape)) if i != axis
    ):
        raise ValueError(
            f"gather: index of shape {shape} does not fit a tensor of shape {a.shape} along dim "
            f"{dim} (same number of dims, no larger except along dim)"
        )
    picked = _indices("gather", index, a.shape[axis] if a.ndim else 1)
    if a.ndim == 0:
        return Reshape.apply(a, ())
    grid = list(np.ix_(*[np.arange(n) for n in shape])) if picked.size else []
    if not grid:
        return Index.apply(a, tuple(slice(0, n) for n in shape))  # an empty result
    grid[axis] = picked
    return Index.apply(a, tuple(grid))


def index_select(a: Any, dim: int, index: Any) -> Tensor:
    """The entries of `a` at the 1-D `index` along `dim` (repeats allowed): torch.index_select."""
    a = lift(a)
    axis = check_dim("index_select", dim, a.ndim)
    picked = _indices("index_select", index, a.shape[axis] if a.ndim else 1)
    if picked.ndim > 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {picked.shape}")
    if a.ndim == 0:
        return Reshape.apply(a, ())
    return Index.apply(a, (slice(None),) * axis + (picked.reshape(-1),))
