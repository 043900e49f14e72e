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

A recurrent cell (the protocol of `minigrad.nn.recurrent`) gets one call too,
`check_cell(make_cell, input_size=...)`: unrolled with `nn.Recurrent` over drawn batches,
lengths, states and dtypes, its gradients, dtypes, state shapes and padding are all checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

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
from .nn.module import Module
from .nn.recurrent import Recurrent
from .ops import constant

__all__ = [
    "broadcastable_shapes",
    "check_cell",
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
    width: Literal[32, 64] = 32 if dtype == np.float32 else 64
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


def _settings(max_examples: int | None) -> dict[str, Any]:
    """Hypothesis settings for the checks below: no deadline, no too-slow health check."""
    overrides: dict[str, Any] = {
        "deadline": None,  # a gradient check can take longer than Hypothesis' 200 ms default
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    }
    if max_examples is not None:
        overrides["max_examples"] = max_examples
    return overrides


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
    overrides = _settings(max_examples)
    shared = ("eps", "atol", "rtol", "seed")  # the options gradgradcheck accepts too
    second_kwargs = {k: v for k, v in gradcheck_kwargs.items() if k in shared}

    @settings(**overrides)
    @given(st.tuples(*input_strategies))
    def gradients_match_finite_differences(inputs: tuple) -> None:
        gradcheck(fn, inputs, **gradcheck_kwargs)
        if second_order:
            gradgradcheck(fn, inputs, **second_kwargs)

    gradients_match_finite_differences()


# --- Recurrent cells ---------------------------------------------------------------------------


def check_cell(
    make_cell: Callable[[np.dtype, np.random.Generator], Module],
    input_size: int,
    *,
    max_batch: int = 3,
    max_steps: int = 4,
    dtypes: Sequence[Any] = (np.float64, np.float32),
    max_examples: int | None = None,
    **gradcheck_kwargs: Any,
) -> None:
    """Property-test a recurrent cell, unrolled with `minigrad.nn.Recurrent`, on drawn inputs.

    `make_cell(dtype, rng)` builds a fresh cell with parameters of `dtype`, drawn from the numpy
    Generator `rng` (so a failing example can be replayed). Hypothesis draws the dtype, the batch
    size (None: unbatched), the sequence length (1..max_steps), the initial state (None or
    drawn), the direction and, for a batch, row lengths (or none). Each example checks:

    * the cell protocol: a state is a Tensor or a tuple of Tensors, each (batch, n) or (n,), the
      next state has the shapes of the last, and None means zeros;
    * float64: `gradcheck` of a random projection of all outputs and the final state with
      respect to the input sequence, the initial state and every parameter;
    * float32: outputs, final state and every gradient stay float32;
    * with lengths: padded steps output zeros, their inputs change nothing, and each row's
      final state is that of its own unpadded sequence.

    Call it inside a plain (not `@given`) test; it raises the first failure, shrunk by
    Hypothesis: a GradcheckError for a gradient, an AssertionError for anything else.
    """
    for d in dtypes:
        if np.dtype(d) not in (np.float32, np.float64):
            raise TypeError(f"check_cell: dtypes must be float32 or float64, got {np.dtype(d)}")

    @settings(**_settings(max_examples))
    @given(st.data())
    def cell_follows_the_protocol(data: st.DataObject) -> None:
        dtype = np.dtype(data.draw(st.sampled_from(list(dtypes)), label="dtype"))
        batch = data.draw(st.none() | st.integers(1, max_batch), label="batch")
        steps = data.draw(st.integers(1, max_steps), label="steps")
        seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
        reverse = data.draw(st.booleans(), label="reverse")
        cell = make_cell(dtype, np.random.default_rng(seed))
        lead = () if batch is None else (batch,)
        x = data.draw(tensors((steps, *lead, input_size), dtype, (-2.0, 2.0)), label="x")
        shapes, is_tuple = _protocol_shapes(cell, x, dtype)
        state = None
        if data.draw(st.booleans(), label="initial state given"):
            parts = [data.draw(tensors(s, dtype, (-1.0, 1.0)), label="state") for s in shapes]
            state = _state(parts, is_tuple)
        lengths = None
        if batch is not None and data.draw(st.booleans(), label="with lengths"):
            lengths = data.draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
        layer = Recurrent(cell, reverse=reverse)
        rng = np.random.default_rng(seed)
        weights = [constant(rng.standard_normal((steps, *shapes[0])), dtype)]
        weights += [constant(rng.standard_normal(s), dtype) for s in shapes]

        def projection(*_: Any) -> Tensor:
            outputs, final = layer(x, state, lengths)
            total = (outputs * weights[0]).sum()
            for part, w in zip(_parts(final), weights[1:]):
                total = total + (part * w).sum()
            return total

        outputs, final = layer(x, state, lengths)
        _expect(
            outputs.shape == (steps, *shapes[0]),
            f"outputs have shape {outputs.shape}, expected {(steps, *shapes[0])}",
        )
        _expect(
            [p.shape for p in _parts(final)] == list(shapes),
            f"the final state has shapes {[p.shape for p in _parts(final)]}, expected {shapes}",
        )
        inputs = [x, *([] if state is None else _parts(state)), *cell.parameters()]
        if dtype == np.float64:
            gradcheck(projection, inputs, **gradcheck_kwargs)
        else:
            _check_float32(projection, outputs, final, inputs)
        if lengths is not None:
            _check_padding(layer, x, state, lengths, outputs, final, dtype)

    cell_follows_the_protocol()


def _parts(state: Any) -> tuple:
    return state if isinstance(state, tuple) else (state,)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(f"check_cell: {message}")


def _state(parts: Sequence[Tensor], is_tuple: bool) -> Any:
    return tuple(parts) if is_tuple else parts[0]


def _protocol_shapes(
    cell: Module, x: Tensor, dtype: np.dtype
) -> tuple[list[tuple[int, ...]], bool]:
    """The shapes of the cell's state parts and whether the state is a tuple, after checking
    the protocol on the first step."""
    step = Tensor(x.data[0])
    first = cell(step, None)
    parts = _parts(first)
    _expect(
        all(isinstance(p, Tensor) for p in parts),
        f"a cell must return a Tensor or a tuple of Tensors, got {type(first).__name__}",
    )
    shapes = [p.shape for p in parts]
    _expect(
        all(s[:-1] == step.shape[:-1] and len(s) == step.ndim for s in shapes),
        f"for a step input of shape {step.shape} the state parts are {shapes}; each must be "
        f"{step.shape[:-1] + ('n',)}",
    )
    _expect(
        all(p.dtype == dtype for p in parts),
        f"a {dtype} cell returned a state of {[str(p.dtype) for p in parts]} (float32 must stay "
        f"float32)",
    )
    second = cell(step, first)
    _expect(
        type(second) is type(first) and [p.shape for p in _parts(second)] == shapes,
        f"the state changed structure from one step to the next: {shapes} became "
        f"{[getattr(p, 'shape', p) for p in _parts(second)]}",
    )
    is_tuple = isinstance(first, tuple)
    from_zeros = cell(step, _state([Tensor(np.zeros(s, dtype)) for s in shapes], is_tuple))
    for a, b in zip(parts, _parts(from_zeros)):
        _expect(np.allclose(a.data, b.data, rtol=1e-5, atol=1e-6), "state=None is not zeros")
    return shapes, is_tuple


def _check_float32(
    projection: Callable[[], Tensor], outputs: Tensor, final: Any, inputs: list
) -> None:
    produced = [outputs, *_parts(final)]
    _expect(
        all(t.dtype == np.float32 for t in produced),
        f"a float32 cell produced {[str(t.dtype) for t in produced]} (float32 must stay float32)",
    )
    for t in inputs:
        t.grad = None
    projection().backward()
    grads = [str(t.grad.dtype) for t in inputs if t.grad is not None]
    _expect(all(g == "float32" for g in grads), f"float32 inputs got gradients of {grads}")
    for t in inputs:
        t.grad = None


def _check_padding(
    layer: Recurrent,
    x: Tensor,
    state: Any,
    lengths: list[int],
    outputs: Tensor,
    final: Any,
    dtype: np.dtype,
) -> None:
    """Padded steps output zeros and change nothing; each row ends as its own sequence does."""
    steps = x.shape[0]
    padded = np.arange(steps)[:, None] >= np.asarray(lengths)[None, :]  # (T, B)
    _expect(not outputs.data[padded].any(), "outputs at padded steps are not zero")
    other = x.data.copy()
    other[padded] = 1.5  # different values at the padded steps only
    outputs2, final2 = layer(Tensor(other, dtype=dtype), state, lengths)
    same = all(
        np.array_equal(a.data, b.data)
        for a, b in zip((outputs, *_parts(final)), (outputs2, *_parts(final2)))
    )
    _expect(same, "changing the input at padded steps changed the outputs or the final state")
    rtol, atol = (1e-5, 1e-6) if dtype == np.float32 else (1e-10, 1e-12)
    for b, length in enumerate(lengths):
        row_state = None
        if state is not None:
            row_state = _state([p[b : b + 1] for p in _parts(state)], isinstance(state, tuple))
        row_out, row_final = layer(Tensor(x.data[:length, b : b + 1], dtype=dtype), row_state)
        for got, want in zip(_parts(final), _parts(row_final)):
            _expect(
                np.allclose(got.data[b : b + 1], want.data, rtol=rtol, atol=atol),
                f"row {b} (length {length}): its final state is not that of its own sequence",
            )
        _expect(
            np.allclose(outputs.data[:length, b : b + 1], row_out.data, rtol=rtol, atol=atol),
            f"row {b} (length {length}): its outputs differ from those of its own sequence",
        )
