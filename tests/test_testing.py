"""minigrad.testing: the strategies produce what they promise; check_gradients and check_cell
pass correct ops and cells and fail wrong ones."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import find, given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import Function, GradcheckError, Tensor, nn
from minigrad.ops import constant
from minigrad.testing import (
    broadcastable_shapes,
    check_cell,
    check_gradients,
    mutually_broadcastable_shapes,
    shapes,
    tensors,
)

# --- Shapes ---------------------------------------------------------------------------------------


@st.composite
def shape_bounds(draw):
    min_dims = draw(st.integers(0, 2))
    max_dims = draw(st.integers(min_dims, 4))
    min_side = draw(st.integers(0, 2))
    max_side = draw(st.integers(max(min_side, 1), 5))
    return min_dims, max_dims, min_side, max_side


@given(bounds=shape_bounds(), data=st.data())
def test_shapes_stay_in_bounds(bounds, data):
    min_dims, max_dims, min_side, max_side = bounds
    shape = data.draw(shapes(min_dims, max_dims, min_side, max_side))
    assert isinstance(shape, tuple)
    assert min_dims <= len(shape) <= max_dims
    assert all(min_side <= n <= max_side for n in shape)


@given(shapes())
def test_default_shapes_are_small(shape):
    assert len(shape) <= 3 and all(1 <= n <= 4 for n in shape)


def test_default_shapes_include_0d_and_size_1_dimensions():
    assert find(shapes(), lambda s: s == ()) == ()
    assert 1 in find(shapes(), lambda s: len(s) == 3 and 1 in s and max(s) > 1)


@given(data=st.data(), shape=shapes())
def test_broadcastable_shapes_broadcast_with_the_given_shape(data, shape):
    other = data.draw(broadcastable_shapes(shape, max_side=3))
    result = np.broadcast_shapes(shape, other)  # raises if they do not broadcast
    assert len(result) == max(len(shape), len(other))
    assert all(1 <= n <= 4 for n in other)


@given(data=st.data(), num_shapes=st.integers(1, 4), max_dims=st.integers(0, 4))
def test_mutually_broadcastable_shapes_really_broadcast(data, num_shapes, max_dims):
    drawn = data.draw(mutually_broadcastable_shapes(num_shapes=num_shapes, max_dims=max_dims))
    assert isinstance(drawn, tuple) and len(drawn) == num_shapes
    np.broadcast_shapes(*drawn)  # raises ValueError if they do not
    assert all(len(s) <= max_dims and all(1 <= n <= 4 for n in s) for s in drawn)


@given(mutually_broadcastable_shapes(base_shape=(2, 3), max_dims=4))
def test_mutually_broadcastable_shapes_broadcast_with_the_base_shape(drawn):
    assert np.broadcast_shapes(*drawn, (2, 3))[-2:] == (2, 3)


def test_mutually_broadcastable_shapes_include_stretching_and_missing_dimensions():
    def stretches(pair):  # a size-1 dimension meeting a larger one
        a, b = (s[::-1] for s in pair)
        return any({m, n} - {1} and 1 in (m, n) and m != n for m, n in zip(a, b))

    pair = find(mutually_broadcastable_shapes(), stretches)
    assert stretches(pair)
    pair = find(mutually_broadcastable_shapes(), lambda p: len(p[0]) != len(p[1]))
    assert len(pair[0]) != len(pair[1])


# --- Tensors -------------------------------------------------------------------------------------


@given(
    data=st.data(),
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=shapes(),
    requires_grad=st.booleans(),
)
def test_tensors_honour_shape_dtype_and_requires_grad(data, dtype, shape, requires_grad):
    t = data.draw(tensors(shape, dtype=dtype, requires_grad=requires_grad))
    assert isinstance(t, Tensor)
    assert t.shape == shape and t.dtype == dtype and t.requires_grad is requires_grad
    assert t.is_leaf and t.grad is None


@given(tensors(shapes(min_dims=2, max_dims=2, min_side=2, max_side=2)))
def test_tensors_accept_a_shape_strategy(t):
    assert t.shape == (2, 2)


@given(t=tensors())
def test_default_elements_are_finite_and_moderate(t):
    assert t.dtype == np.float64
    assert np.all(np.isfinite(t.data)) and np.all(np.abs(t.data) <= 3)


@given(
    data=st.data(),
    dtype=st.sampled_from([np.float32, np.float64]),
    bounds=st.tuples(st.floats(-10, 10), st.floats(0, 5)).map(lambda t: (t[0], t[0] + t[1])),
)
def test_tensors_elements_stay_within_bounds(data, dtype, bounds):
    lo, hi = bounds
    if dtype == np.float32:  # an interval narrower than float32's spacing may hold no float32
        lowest = np.float32(lo)
        if float(lowest) < lo:
            lowest = np.nextafter(lowest, np.float32(np.inf))
        if float(lowest) > hi:
            with pytest.raises(ValueError, match="no float32"):
                tensors(dtype=dtype, elements=(lo, hi))
            return
    t = data.draw(tensors(shapes(min_dims=1), dtype=dtype, elements=(lo, hi)))
    assert t.dtype == dtype
    values = t.data.astype(np.float64)
    assert np.all(values >= lo) and np.all(values <= hi)


def test_float32_bounds_that_are_not_representable_are_rounded_inwards():
    t = find(tensors((8,), dtype=np.float32, elements=(0.1, 0.3)), lambda t: True)
    assert np.all(t.data.astype(np.float64) >= 0.1) and np.all(t.data.astype(np.float64) <= 0.3)


@given(tensors((5,), elements=st.sampled_from([-1.0, 2.0])))
def test_tensors_accept_an_elements_strategy(t):
    assert set(np.unique(t.data)) <= {-1.0, 2.0}


def test_tensors_reject_bad_arguments():
    with pytest.raises(TypeError, match="float32 or float64"):
        tensors(dtype=np.int64)
    with pytest.raises(ValueError, match="lo <= hi"):
        tensors(elements=(2.0, 1.0))


def test_missing_hypothesis_gives_an_install_hint(monkeypatch):
    for name in ("hypothesis", "hypothesis.extra", "hypothesis.extra.numpy"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "minigrad.testing")
    with pytest.raises(ImportError, match=r'pip install "minigrad\[testing\]"'):
        import minigrad.testing  # noqa: F401


# --- check_gradients -----------------------------------------------------------------------------


class Softplus(Function):
    """log(1 + exp(x)), with its derivative sigmoid(x) written in Tensor ops."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.logaddexp(0.0, a.data)

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        return grad_output * a.sigmoid()


class SoftplusWrong(Softplus):
    """A derivative 5% too large."""

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        return grad_output * a.sigmoid() * 1.05


class SoftplusDetached(Softplus):
    """Right first derivative, but built from a constant: second derivatives are wrong."""

    @staticmethod
    def backward(ctx, grad_output):
        (a,) = ctx.saved_tensors
        return grad_output * constant(1 / (1 + np.exp(-a.data)), a.dtype)


def test_check_gradients_passes_a_correct_custom_op():
    check_gradients(Softplus.apply, tensors(), second_order=True)


def test_check_gradients_raises_on_a_wrong_custom_op():
    with pytest.raises(GradcheckError, match="analytical"):
        check_gradients(SoftplusWrong.apply, tensors())


def test_check_gradients_second_order_catches_a_wrong_second_derivative():
    check_gradients(SoftplusDetached.apply, tensors(shapes(min_dims=1)))  # first order is right
    with pytest.raises(GradcheckError, match="gradgradcheck"):
        check_gradients(SoftplusDetached.apply, tensors(shapes(min_dims=1)), second_order=True)


def test_check_gradients_with_several_inputs_and_non_tensor_arguments():
    shape = st.shared(shapes(min_dims=1), key="same shape")
    axes = st.sampled_from([None, 0, -1])
    check_gradients(
        lambda a, b, axis: (a * b).sum(axis=axis),
        tensors(shape),
        tensors(shape),
        axes,
        second_order=True,
    )


def test_check_gradients_honours_max_examples_and_tolerances():
    calls = []

    def double(a):
        calls.append(a.shape)
        return a * 2

    # A 0-d input costs 4 evaluations per example: gradcheck's own and its repeat (to see that
    # fn is deterministic), then two differences.
    check_gradients(double, tensors(shape=()), max_examples=3)
    assert 4 <= len(calls) <= 12
    # A loose tolerance lets the 5% error through; the default one does not (test above).
    check_gradients(SoftplusWrong.apply, tensors(), rtol=0.1, max_examples=5)


def test_check_gradients_needs_strategies():
    with pytest.raises(ValueError, match="strategy"):
        check_gradients(mg.exp)


# --- check_cell ------------------------------------------------------------------------------


class PeepholeCell(nn.Module):
    """An LSTM cell whose gates also see the cell state (peepholes), written to the protocol.

    `broken` plants the bugs check_cell must catch: "data" computes the peephole terms on
    c.data (no gradient through them), "detach" cuts the recurrence at h, "float64" makes its
    zero state float64, "mixes rows" lets batch rows see each other, "drops batch" returns an
    unbatched state.
    """

    def __init__(self, input_size, hidden_size, dtype, rng, broken=None):
        super().__init__()
        self.hidden_size, self.broken = hidden_size, broken
        draw = lambda *shape: nn.Parameter(rng.uniform(-0.5, 0.5, shape), dtype=dtype)
        self.weight_ih = draw(4 * hidden_size, input_size)
        self.weight_hh = draw(4 * hidden_size, hidden_size)
        self.bias = draw(4 * hidden_size)
        self.peephole = draw(3, hidden_size)  # c -> i, c -> f, c' -> o

    def forward(self, x, state=None):
        if state is None:
            dtype = np.float64 if self.broken == "float64" else x.dtype
            zeros = Tensor(np.zeros(x.shape[:-1] + (self.hidden_size,)), dtype=dtype)
            state = (zeros, zeros)
        h, c = state
        if self.broken == "detach":
            h = h.detach()
        seen = c.data if self.broken == "data" else c
        gates = mg.linear(x, self.weight_ih, self.bias) + mg.linear(h, self.weight_hh)
        i, f, g, o = mg.split(gates, 4, axis=-1)
        p_i, p_f, p_o = mg.unstack(self.peephole)
        i, f = (i + p_i * seen).sigmoid(), (f + p_f * seen).sigmoid()
        c = f * c + i * g.tanh()
        h = (o + p_o * c).sigmoid() * c.tanh()
        if self.broken == "mixes rows":
            h = h + 0.1 * h.mean(axis=0, keepdims=True)
        if self.broken == "drops batch":
            h, c = h.sum(axis=0), c.sum(axis=0)
        return h, c


def peephole(broken=None):
    return lambda dtype, rng: PeepholeCell(3, 2, dtype, rng, broken)


def test_check_cell_passes_a_correct_cell_of_the_users_own():
    check_cell(peephole(), input_size=3, max_examples=15)


@pytest.mark.parametrize("broken", ["data", "detach"])
def test_check_cell_catches_a_broken_gradient_path(broken):
    with pytest.raises(GradcheckError, match="disagrees"):
        check_cell(peephole(broken), 3, max_batch=2, max_steps=3, dtypes=(np.float64,))


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("float64", "float32 must stay float32"),
        ("mixes rows", "padded steps changed|its own sequence"),
        ("drops batch", "each must be"),
    ],
)
def test_check_cell_catches_protocol_and_dtype_violations(broken, message):
    # float32 only: no gradcheck, so the many examples (and the shrinking) stay cheap
    with pytest.raises(AssertionError, match=message):
        check_cell(
            peephole(broken), 3, max_batch=2, max_steps=2, dtypes=(np.float32,), max_examples=100
        )


def test_check_cell_rejects_bad_dtypes():
    with pytest.raises(TypeError, match="check_cell: dtypes must be float32 or float64"):
        check_cell(peephole(), input_size=3, dtypes=(np.int64,))
