"""Making tensors, named and shaped as PyTorch's: `tensor`, `zeros`, `arange`, `rand`, ...

minigrad has two dtypes, float32 and float64. Everything made here is in the *default dtype*
(float64, or what `set_default_dtype` chose) unless `dtype=` says otherwise; `tensor` keeps the
dtype of a float32/float64 numpy array, as `torch.tensor` does. Random draws come from the shared
generator of `minigrad.random` (reset by `manual_seed`) or from `generator=`, and are made in
float64, then cast: a float32 draw is the float32 rounding of the float64 one from the same seed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .engine import FLOAT_DTYPES, Tensor, default_dtype, from_numpy
from .random import generator as pick_generator


def set_default_dtype(dtype: Any) -> None:
    """Make `dtype` (float32 or float64) the default, as PyTorch's: what the creation functions,
    `Tensor(python numbers)` and new layers' parameters are made in."""
    default_dtype[0] = check_dtype(dtype, "set_default_dtype")


def get_default_dtype() -> np.dtype:
    """The dtype used when no `dtype=` is given (float64 at start)."""
    return default_dtype[0]


def check_dtype(dtype: Any, where: str) -> np.dtype:
    """`dtype` as a numpy dtype (None: the default dtype); it must be float32 or float64."""
    if dtype is None:
        return default_dtype[0]
    if isinstance(dtype, Tensor):
        raise TypeError(f"{where}: dtype must be a dtype such as np.float32, got a Tensor")
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"{where}: {dtype!r} is not a dtype (use np.float32 or np.float64)"
        ) from None
    if resolved not in FLOAT_DTYPES:
        raise TypeError(
            f"{where}: dtype must be float32 or float64 (minigrad has only these two), got "
            f"{resolved}"
        )
    return resolved


def _made(array: np.ndarray, requires_grad: bool) -> Tensor:
    """A leaf Tensor around a freshly made array."""
    tensor = from_numpy(array)
    tensor.requires_grad = bool(requires_grad)
    return tensor


def _shape(where: str, size: tuple) -> tuple[int, ...]:
    """Sizes given as `f(2, 3)` or `f((2, 3))`, checked to be non-negative integers."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in size):
        raise TypeError(f"{where}: sizes must be integers, got {size}")
    if any(n < 0 for n in size):
        raise ValueError(f"{where}: sizes must be non-negative, got {size}")
    return tuple(int(n) for n in size)


# --- from data --------------------------------------------------------------------------------


def tensor(data: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new leaf Tensor holding a copy of `data` (nested lists, numbers, arrays or a Tensor).

    As `torch.tensor`: Python numbers and integer arrays take the default dtype; a float32 or
    float64 array (or Tensor) keeps its own.
    """
    source = data.data if isinstance(data, Tensor) else data
    if dtype is None and isinstance(source, (np.ndarray, np.generic)):
        dtype = source.dtype if source.dtype in FLOAT_DTYPES else None
    dtype = check_dtype(dtype, "tensor")
    try:
        array = np.array(source, dtype=dtype)
    except (TypeError, ValueError) as error:
        raise TypeError(f"tensor: cannot make a {dtype} tensor from {data!r} ({error})") from None
    return _made(array, requires_grad)


# --- filled -----------------------------------------------------------------------------------


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: `zeros(2, 3)` or `zeros((2, 3))`."""
    return _made(np.zeros(_shape("zeros", size), check_dtype(dtype, "zeros")), requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones: `ones(2, 3)` or `ones((2, 3))`."""
    return _made(np.ones(_shape("ones", size), check_dtype(dtype, "ones")), requires_grad)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor whose values are whatever the memory held (fill it before reading it)."""
    return _made(np.empty(_shape("empty", size), check_dtype(dtype, "empty")), requires_grad)


def full(size: Any, fill_value: float, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of `size` (a tuple) with every element `fill_value`."""
    shape = _shape("full", (size,) if isinstance(size, (tuple, list)) else (size,))
    return _made(np.full(shape, fill_value, check_dtype(dtype, "full")), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The n x m identity (n x n when `m` is None): ones on the diagonal."""
    rows, columns = _shape("eye", (n, n if m is None else m))
    return _made(np.eye(rows, columns, dtype=check_dtype(dtype, "eye")), requires_grad)


def _like(where: str, input: Any, dtype: Any) -> tuple[tuple, np.dtype]:
    """The shape of `input` and the dtype to make (`input`'s when `dtype` is None)."""
    array = input.data if isinstance(input, Tensor) else np.asarray(input)
    own = array.dtype if array.dtype in FLOAT_DTYPES else None
    return array.shape, check_dtype(own if dtype is None else dtype, where)


def zeros_like(input: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with `input`'s shape and (unless `dtype` is given) its dtype."""
    shape, dtype = _like("zeros_like", input, dtype)
    return _made(np.zeros(shape, dtype), requires_grad)


def ones_like(input: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with `input`'s shape and (unless `dtype` is given) its dtype."""
    shape, dtype = _like("ones_like", input, dtype)
    return _made(np.ones(shape, dtype), requires_grad)


def full_like(
    input: Any, fill_value: float, *, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """`fill_value` everywhere, with `input`'s shape and (unless `dtype` is given) its dtype."""
    shape, dtype = _like("full_like", input, dtype)
    return _made(np.full(shape, fill_value, dtype), requires_grad)


# --- ranges -----------------------------------------------------------------------------------


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    *,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """start, start + step, ... up to (not including) `end`; `arange(n)` is 0 .. n-1.

    As PyTorch: ceil((end - start) / step) values, each start + i * step; a step of the wrong
    sign for the bounds is an error (numpy would return an empty array).
    """
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if not all(math.isfinite(v) for v in (start, end, step)):
        raise ValueError(f"arange: start, end and step must be finite, got {start}, {end}, {step}")
    if (end - start) * step < 0:
        raise ValueError(
            f"arange: the bounds {start} .. {end} and the step {step} have inconsistent signs"
        )
    count = math.ceil((end - start) / step)
    values = start + np.arange(count, dtype=np.float64) * step
    return _made(values.astype(check_dtype(dtype, "arange")), requires_grad)


def linspace(
    start: float, end: float, steps: int, *, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """`steps` evenly spaced values from `start` to `end`, both included.

    Computed as PyTorch does: the first half counts up from `start`, the second half down from
    `end`, so both ends are exact.
    """
    if not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative integer, got {steps!r}")
    index = np.arange(steps, dtype=np.float64)
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    up, down = start + step * index, end - step * (steps - 1 - index)
    values = np.where(index < max(steps // 2, 1), up, down)
    return _made(values.astype(check_dtype(dtype, "linspace")), requires_grad)


# --- random -----------------------------------------------------------------------------------


def rand(
    *size: Any, generator: Any = None, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """Uniform samples from [0, 1). `generator`: a numpy Generator or an int seed."""
    shape, dtype = _shape("rand", size), check_dtype(dtype, "rand")
    return _made(pick_generator(generator).random(shape).astype(dtype), requires_grad)


def randn(
    *size: Any, generator: Any = None, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """Standard normal samples N(0, 1). `generator`: a numpy Generator or an int seed."""
    shape, dtype = _shape("randn", size), check_dtype(dtype, "randn")
    return _made(pick_generator(generator).standard_normal(shape).astype(dtype), requires_grad)


def randint(
    low: int,
    high: Any = None,
    size: Any = None,
    *,
    generator: Any = None,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Integers drawn uniformly from [low, high), as `randint(low, high, size)` or
    `randint(high, size)`.

    The values are whole numbers held in a float tensor (the default dtype): minigrad has only
    float dtypes. Indexing and `gather` accept such tensors as indices.
    """
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if size is None or high is None:
        raise TypeError("randint: needs high and size, as randint(low, high, size) or (high, size)")
    shape = _shape("randint", (size,) if isinstance(size, (tuple, list)) else (size,))
    if not high > low:
        raise ValueError(f"randint: high must be greater than low, got low={low}, high={high}")
    values = pick_generator(generator).integers(low, high, size=shape)
    return _made(values.astype(check_dtype(dtype, "randint")), requires_grad)
