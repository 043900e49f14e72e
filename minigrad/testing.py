"""Hypothesis strategies and a one-call gradient property test, for testing your own ops.

Needs the `testing` extra (`pip install "minigrad[testing]"`, which brings Hypothesis). Typical
use, inside an ordinary pytest test, for an op written as a `minigrad.Function`::

    import numpy as np
    import minigrad as mg
    from minigrad.testing import check_gradients, tensors

    class Cube(mg.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a.data**3

        @staticmethod
        def backward(ctx, grad_output):
            (a,) = ctx.saved_tensors
            return grad_output * 3 * a * a  # Tensor ops, so second derivatives work too

    def test_cube_gradients():
        check_gradients(Cube.apply, tensors(), second_order=True)

Every input is drawn with numpy-compatible shapes (0-d, size-1 and broadcast dimensions) and
values in a moderate finite range; keep them inside your op's domain with `elements=(lo, hi)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

try:
    import hypothesis.extra.numpy as hnp
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError(
        "minigrad.testing needs Hypothesis, which is not installed; install the testing extra "
        'with: pip install "minigrad[testing]"'
    ) from error

from .engine import Tensor
from .gradcheck import gradcheck, gradgradcheck

__all__ = [
    "broadcastable_shapes",
    "check_gradients",
    "mutually_broadcastable_shapes",
    "shapes",
    "tensors",
]

DEFAULT_BOUNDS = (-3.0, 3.0)  # moderate: exp, tanh, products... stay far from overflow


def shapes(
    min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes, 0-d included by default; small sides keep gradient checks fast."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def broadcastable_shapes(
    shape: tuple[int, ...],
    min_dims: int = 0,
    max_dims: int | None = None,
    min_side: int = 1,
    max_side: int = 4,
) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes that broadcast with `shape` (numpy rules): size-1 dims and fewer or more dims."""
    return hnp.broadcastable_shapes(
        tuple(shape), min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def mutually_broadcastable_shapes(
    num_shapes: int = 2,
    base_shape: tuple[int, ...] = (),
    min_dims: int = 0,
    max_dims: int = 3,
    min_side: int = 1,
    max_side: int = 4,
) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """Tuples of `num_shapes` shapes that broadcast together (size-1 and missing leading dims).

    Their broadcast result is `np.broadcast_shapes(*shapes)`; it broadcasts with `base_shape`.
    """
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes,
        base_shape=tuple(base_shape),
        min_dims=min_dims,
        max_dims=max_dims,
        min_side=min_side,
        max_side=max_side,
    ).map(lambda drawn: tuple(drawn.input_shapes))


def _float_bound(value: float, dtype: np.dtype, up: bool) -> float:
    """`value` as the nearest number of `dtype` that stays inside the requested interval."""
    rounded = dtype.type(value)
    if up and float(rounded) < value:
        rounded = np.nextafter(rounded, dtype.type(np.inf))
    elif not up and float(rounded) > value:
        rounded = np.nextafter(rounded, dtype.type(-np.inf))
    return float(rounded)


def _elements(elements: Any, dtype: np.dtype) -> st.SearchStrategy[float]:
    if isinstance(elements, st.SearchStrategy):
        return elements
    low, high = DEFAULT_BOUNDS if elements is None else elements
    if not low <= high:
        raise ValueError(f"tensors: elements bounds must satisfy lo <= hi, got {elements!r}")
    width = 32 if dtype == np.float32 else 64
    low, high = _float_bound(low, dtype, up=True), _float_bound(high, dtype, up=False)
    if low > high:
        raise ValueError(f"tensors: no {dtype} number lies within the bounds {elements!r}")
    return st.floats(
        low,
        high,
        allow_nan=False,
        allow_infinity=False,
        allow_subnormal=False,
        width=width,
    )


def tensors(
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]] | None = None,
    dtype: Any = np.float64,
    elements: st.SearchStrategy[float] | tuple[float, float] | None = None,
    requires_grad: bool = True,
) -> st.SearchStrategy[Tensor]:
    """Tensors of `shape` (a tuple or a strategy; default `shapes()`) and `dtype`.

    `elements` is a strategy for the values or `(lo, hi)` bounds; by default finite floats in
    [-3, 3] (no nan, inf or subnormals). Use float64 for anything that goes through gradcheck.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"tensors: dtype must be float32 or float64, got {dtype}")
    shape = shapes() if shape is None else shape
    arrays = hnp.arrays(dtype, shape, elements=_elements(elements, dtype))
    return arrays.map(lambda array: Tensor(array, requires_grad=requires_grad, dtype=dtype))


def check_gradients(
    fn: Callable[..., Any],
    *input_strategies: st.SearchStrategy[Any],
    second_order: bool = False,
    max_examples: int | None = None,
    **gradcheck_kwargs: Any,
) -> None:
    """Property-test `fn`'s gradients: gradcheck (and gradgradcheck) on many drawn inputs.

    Each strategy draws one positional argument of `fn` (Tensors are checked when they require
    grad; anything else, such as an axis, is passed through). Inputs whose shapes must agree
    can share one drawn shape: `s = st.shared(shapes(), key="s")`, then `tensors(s)` twice.
    Call it inside a plain (not `@given`) test; it raises the first failure, shrunk by
    Hypothesis, as a GradcheckError that names the input, element and both values.
    `gradcheck_kwargs` go to gradcheck (eps, atol and rtol to gradgradcheck too). For example::

        same = st.shared(shapes(min_dims=1), key="same")
        check_gradients(
            lambda a, b, axis: (MyOp.apply(a, b) * a).sum(axis=axis),
            tensors(same, elements=(0.1, 2.0)),  # kept inside MyOp's domain
            tensors(same),
            st.sampled_from([None, 0, -1]),
            second_order=True,
        )
    """
    if not input_strategies:
        raise ValueError("check_gradients: pass one strategy per argument of fn")
    overrides: dict[str, Any] = {
        "deadline": None,  # a gradient check can take longer than Hypothesis' 200 ms default
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    }
    if max_examples is not None:
        overrides["max_examples"] = max_examples

    shared = ("eps", "atol", "rtol", "seed")  # the options gradgradcheck accepts too
    second_kwargs = {k: v for k, v in gradcheck_kwargs.items() if k in shared}

    @settings(**overrides)
    @given(st.tuples(*input_strategies))
    def gradients_match_finite_differences(inputs: tuple) -> None:
        gradcheck(fn, inputs, **gradcheck_kwargs)
        if second_order:
            gradgradcheck(fn, inputs, **second_kwargs)

    gradients_match_finite_differences()
