"""Properties of the engine beyond single ops: linearity, the chain rule, second derivatives,
accumulation, grad modes, graph lifetime, aliasing and the errors users meet.

Expected values come from finite differences (gradcheck, or explicit differences of f) or
from independent closed-form formulas, never from minigrad itself.
"""

from __future__ import annotations

import gc
import weakref

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import Function, Tensor, gradcheck, gradgradcheck
from minigrad.testing import shapes, tensors


def allclose(actual, expected, rtol=1e-10, atol=1e-12) -> None:
    actual = actual.data if isinstance(actual, Tensor) else actual
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# --- Linearity and the chain rule -----------------------------------------------------------


@given(x=tensors(), alpha=st.floats(-3, 3), beta=st.floats(-3, 3))
def test_gradient_is_linear(x, alpha, beta):
    """grad(a f + b g) = a grad f + b grad g, and each part matches its closed form."""
    f = lambda x: (x.tanh() * x).sum()
    g = lambda x: (x * x).exp().mean()
    (grad_f,) = mg.grad(f(x), x)
    (grad_g,) = mg.grad(g(x), x)
    (grad_h,) = mg.grad(alpha * f(x) + beta * g(x), x)
    X = x.data
    allclose(grad_f, np.tanh(X) + X / np.cosh(X) ** 2)
    allclose(grad_g, 2 * X * np.exp(X * X) / X.size)
    allclose(grad_h, alpha * grad_f.data + beta * grad_g.data, rtol=1e-9, atol=1e-9)
    gradcheck(lambda x: alpha * f(x) + beta * g(x), [x])


@given(data=st.data())
def test_vector_jacobian_product_is_linear_in_the_seed(data):
    x = data.draw(tensors(shapes(min_dims=1)))
    u = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(-2, 2)))
    v = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(-2, 2)))
    y = x.sigmoid() * x
    (grad_u,) = mg.grad(y, x, u, retain_graph=True)
    (grad_v,) = mg.grad(y, x, v, retain_graph=True)
    (grad_uv,) = mg.grad(y, x, 2 * u - 3 * v)
    allclose(grad_uv, 2 * grad_u.data - 3 * grad_v.data, rtol=1e-9, atol=1e-9)
    s = 1 / (1 + np.exp(-x.data))
    allclose(grad_u, u * (s + x.data * s * (1 - s)))


# Elementwise steps that keep values in [-4, 4] when they start in [-3, 3], each with
# its derivative written independently in numpy.
STEPS = {
    "tanh": (lambda t: t.tanh(), np.tanh, lambda x: 1 / np.cosh(x) ** 2),
    "sigmoid": (
        lambda t: t.sigmoid(),
        lambda x: 1 / (1 + np.exp(-x)),
        lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2,
    ),
    "neg": (lambda t: -t, np.negative, lambda x: -np.ones_like(x)),
    "affine": (lambda t: 0.7 * t + 0.2, lambda x: 0.7 * x + 0.2, lambda x: np.full_like(x, 0.7)),
    "square": (lambda t: t * t * 0.2, lambda x: 0.2 * x**2, lambda x: 0.4 * x),
    "exp": (lambda t: (t * 0.3).exp(), lambda x: np.exp(0.3 * x), lambda x: 0.3 * np.exp(0.3 * x)),
    "log1p_sq": (
        lambda t: (1 + t**2).log(),
        lambda x: np.log1p(x**2),
        lambda x: 2 * x / (1 + x**2),
    ),
    "inverse": (
        lambda t: 1 / (1 + t * t),
        lambda x: 1 / (1 + x**2),
        lambda x: -2 * x / (1 + x**2) ** 2,
    ),
    "sqrt": (
        lambda t: (t * t + 1) ** 0.5,
        lambda x: np.sqrt(x**2 + 1),
        lambda x: x / np.sqrt(x**2 + 1),
    ),
    "sub_from": (lambda t: 1.5 - t / 2, lambda x: 1.5 - x / 2, lambda x: np.full_like(x, -0.5)),
}


@given(x=tensors(), names=st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=8))
def test_chain_rule_over_random_compositions(x, names):
    """d f_n(...f_1(x)) = prod f_i'(x_{i-1}); also against finite differences."""

    def composed(t):
        for name in names:
            t = STEPS[name][0](t)
        return t

    value, derivative = x.data, np.ones_like(x.data)
    for name in names:
        _, f, df = STEPS[name]
        derivative = derivative * df(value)
        value = f(value)
    y = composed(x)
    allclose(y, value, rtol=1e-9)
    y.backward(np.ones(y.shape))
    allclose(x.grad, derivative, rtol=1e-8, atol=1e-12)
    gradcheck(composed, [x])
    gradgradcheck(composed, [x])


# --- Second derivatives ---------------------------------------------------------------------


@st.composite
def scalar_problems(draw):
    """f(x) = sum(tanh(A x) * (B x)) + sum(exp(c * x)) for drawn A, B, c and a vector x."""
    n = draw(st.integers(1, 4))
    matrix = hnp.arrays(np.float64, (n, n), elements=st.floats(-1, 1))
    A, B = draw(matrix), draw(matrix)
    c = draw(hnp.arrays(np.float64, (n,), elements=st.floats(-0.5, 0.5)))
    x = draw(tensors((n,)))
    return A, B, c, x


def make_f(A, B, c):
    return lambda x: ((A @ x).tanh() * (B @ x)).sum() + (x * c).exp().sum()


def hessian_by_minigrad(f, x: Tensor) -> np.ndarray:
    """Rows of the Hessian: differentiate each component of a create_graph gradient."""
    (g,) = mg.grad(f(x), x, create_graph=True)
    rows = [mg.grad(g[i], x, retain_graph=True)[0].data for i in range(x.size)]
    return np.stack(rows)


def hessian_by_differences(f, x: Tensor, h: float = 1e-4) -> np.ndarray:
    """Second-order central differences of f alone (no backward involved)."""
    x0, n = x.data.copy(), x.size
    value = lambda v: f(Tensor(v)).item()
    H = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            ei, ej = np.eye(n)[i] * h, np.eye(n)[j] * h
            H[i, j] = (
                value(x0 + ei + ej)
                - value(x0 + ei - ej)
                - value(x0 - ei + ej)
                + value(x0 - ei - ej)
            ) / (4 * h * h)
    return H


@given(scalar_problems())
def test_hessian_is_symmetric_and_matches_finite_differences(problem):
    A, B, c, x = problem
    f = make_f(A, B, c)
    H = hessian_by_minigrad(f, x)
    np.testing.assert_allclose(H, H.T, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(H, hessian_by_differences(f, x), rtol=1e-4, atol=1e-5)
    assert x.grad is None  # minigrad.grad never touches .grad


@given(data=st.data())
def test_mixed_partials_of_two_inputs_commute(data):
    """d/dy (df/dx) is the transpose of d/dx (df/dy)."""
    x = data.draw(tensors(shapes(min_dims=1, max_dims=1)))
    y = data.draw(tensors(shapes(min_dims=1, max_dims=1)))
    f = lambda x, y: (x.reshape(-1, 1) * y.reshape(1, -1)).tanh().sum() + (x.sum() * y).exp().sum()
    (gx,) = mg.grad(f(x, y), x, create_graph=True)
    dxdy = np.stack([mg.grad(gx[i], y, retain_graph=True)[0].data for i in range(x.size)])
    (gy,) = mg.grad(f(x, y), y, create_graph=True)
    dydx = np.stack([mg.grad(gy[j], x, retain_graph=True)[0].data for j in range(y.size)])
    np.testing.assert_allclose(dxdy, dydx.T, rtol=1e-9, atol=1e-12)
    # and against first-order gradients of f wrt y, differenced in x
    eps, numeric = 1e-6, np.empty_like(dxdy)
    for i in range(x.size):
        step = np.eye(x.size)[i] * eps
        up = mg.grad(f(Tensor(x.data + step), y), y)[0].data
        down = mg.grad(f(Tensor(x.data - step), y), y)[0].data
        numeric[i] = (up - down) / (2 * eps)
    np.testing.assert_allclose(dxdy, numeric, rtol=1e-5, atol=1e-6)


@given(problem=scalar_problems(), data=st.data())
def test_hessian_vector_product(problem, data):
    A, B, c, x = problem
    v = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(-2, 2)))
    f = make_f(A, B, c)
    (g,) = mg.grad(f(x), x, create_graph=True)
    (hv,) = mg.grad((g * v).sum(), x, retain_graph=True)
    (hv_seeded,) = mg.grad(g, x, grad_outputs=v)
    allclose(hv_seeded, hv.data, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hv.data, hessian_by_differences(f, x) @ v, rtol=1e-4, atol=1e-4)
    eps = 1e-6  # H v is the directional derivative of the gradient along v

    def gradient_at(point):
        point = Tensor(point, requires_grad=True)
        return mg.grad(f(point), point)[0].data

    numeric = (gradient_at(x.data + eps * v) - gradient_at(x.data - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv.data, numeric, rtol=1e-5, atol=1e-6)


def test_grad_of_grad_of_grad():
    x = Tensor([0.5, -1.0, 2.0], requires_grad=True)
    (d1,) = mg.grad((x**3).sum(), x, create_graph=True)
    (d2,) = mg.grad(d1.sum(), x, create_graph=True)
    (d3,) = mg.grad(d2.sum(), x)
    allclose(d1, 3 * x.data**2)
    allclose(d2, 6 * x.data)
    allclose(d3, np.full(3, 6.0))
    assert x.grad is None


# --- Accumulation and grad modes ---------------------------------------------------------------


@given(x=tensors(), repeats=st.integers(1, 4))
def test_gradients_accumulate_across_backward_calls_until_cleared(x, repeats):
    for _ in range(repeats):
        (x * x).sum().backward()
    allclose(x.grad, 2 * x.data * repeats)
    x.grad = None
    (x**3).sum().backward()
    allclose(x.grad, 3 * x.data**2)
    x.grad[...] = 0.0  # zeroed in place, as an optimizer's zero_grad may do
    x.exp().sum().backward()
    allclose(x.grad, np.exp(x.data))


def test_retained_graph_backward_twice_accumulates():
    x = Tensor([1.0, -2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    allclose(x.grad, 4 * x.data)


def _assert_unrecorded(*results: Tensor) -> None:
    for t in results:
        assert not t.requires_grad and t.grad_fn is None and t.is_leaf


def test_no_grad_context_manager_records_nothing():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = x * 2 + 1
        z = y.exp().sum()
        with mg.enable_grad():
            recorded = x * 3
    assert mg.is_grad_enabled()
    _assert_unrecorded(y, z)
    assert recorded.requires_grad and recorded.grad_fn is not None
    with pytest.raises(RuntimeError, match="does not require grad"):
        z.backward()
    assert x.grad is None


def test_no_grad_decorator_and_restoring_after_errors():
    @mg.no_grad()
    def step(x):
        assert not mg.is_grad_enabled()
        return x * x

    x = Tensor([3.0], requires_grad=True)
    _assert_unrecorded(step(x))
    assert mg.is_grad_enabled()

    with pytest.raises(ZeroDivisionError), mg.no_grad():
        raise ZeroDivisionError
    assert mg.is_grad_enabled()

    @mg.no_grad()
    def failing():
        raise KeyError("boom")

    with pytest.raises(KeyError):
        failing()
    assert mg.is_grad_enabled()

    mg.set_grad_enabled(False)
    try:
        _assert_unrecorded(x * 2)
    finally:
        mg.set_grad_enabled(True)
    assert (x * 2).requires_grad


# --- Graph structure ----------------------------------------------------------------------------


class CountingIdentity(Function):
    """y = x, counting how often backward runs."""

    calls = 0

    @staticmethod
    def forward(ctx, a):
        return a.data.copy()

    @staticmethod
    def backward(ctx, grad_output):
        CountingIdentity.calls += 1
        return grad_output


@given(a=tensors())
def test_a_node_used_twice_gets_both_paths_once(a):
    b = a + a
    c = b * b
    c.backward(np.ones(c.shape))
    allclose(a.grad, 8 * a.data)  # dc/da = 2 b * 2 with b = 2a

    CountingIdentity.calls = 0
    a.grad = None
    b = CountingIdentity.apply(a)
    c = b * b + b.exp() + b  # three consumers of b, one of them using it twice
    c.sum().backward()
    assert CountingIdentity.calls == 1
    allclose(a.grad, 2 * a.data + np.exp(a.data) + 1)


def test_non_leaf_grad_is_none_unless_retained():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    z = y * y
    w = z.sum()
    y.retain_grad()
    w.backward()
    assert z.grad is None and w.grad is None
    allclose(y.grad, 2 * y.data)
    allclose(x.grad, 8 * x.data)
    assert not np.shares_memory(y.grad, x.grad)


def test_grad_with_respect_to_a_non_leaf():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    z = (y * y).sum()
    gy, gx = mg.grad(z, [y, x])
    allclose(gy, 2 * np.exp(x.data))
    allclose(gx, 2 * np.exp(2 * x.data))
    assert x.grad is None and y.grad is None
    assert isinstance(gx, Tensor) and isinstance(gy, Tensor)


def test_grad_returns_none_for_unreached_inputs_and_leaves_grad_alone():
    x = Tensor([1.0, 2.0], requires_grad=True)
    unused = Tensor([5.0], requires_grad=True)
    x.grad = np.array([10.0, 20.0])
    gx, gu = mg.grad((x * x).sum(), [x, unused], allow_unused=True)
    assert gu is None
    allclose(gx, 2 * x.data)
    np.testing.assert_array_equal(x.grad, [10.0, 20.0])
    assert unused.grad is None


# --- Errors on backward ------------------------------------------------------------------------


def test_backward_on_non_scalar_without_gradient_names_the_shape():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"\(2, 3\)"):
        y.backward()
    with pytest.raises(RuntimeError, match=r"\(2, 3\)"):
        mg.grad(y, x)
    assert x.grad is None


def test_backward_seed_of_the_wrong_shape_names_both_shapes():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(2, 3\)"):
        y.backward(np.ones(3))
    y.backward(np.ones((2, 3)))  # the failed call changed nothing
    allclose(x.grad, np.full((2, 3), 2.0))


def test_second_backward_through_a_freed_graph_raises_clearly():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()
    allclose(x.grad, 2 * x.data)  # the failed call added nothing

    z = x * x  # a shared part freed by another output's backward
    (z.sum()).backward()
    with pytest.raises(RuntimeError, match="second time"):
        (z * 3).sum().backward()


class WrongCount(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a.data + b.data

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output  # one gradient for two inputs


class WrongShape(Function):
    @staticmethod
    def forward(ctx, a):
        return a.data.sum(axis=0)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output  # shape (3,), but the input is (2, 3)


def test_custom_function_returning_the_wrong_number_of_gradients():
    a = Tensor([1.0], requires_grad=True)
    b = Tensor([2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"WrongCount.*1 gradient.*2 inputs"):
        WrongCount.apply(a, b).sum().backward()


def test_custom_function_returning_a_gradient_of_the_wrong_shape():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"WrongShape.*\(3,\).*\(2, 3\)"):
        WrongShape.apply(a).sum().backward()


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (
            lambda: mg.Tensor(np.ones((2, 3))) @ mg.Tensor(np.ones((4, 5))),
            ValueError,
            r"matmul.*\(2, 3\).*\(4, 5\)",
        ),
        (
            lambda: mg.Tensor(np.ones((2, 3))).reshape(4, 2),
            ValueError,
            r"reshape.*\(2, 3\).*\(4, 2\)",
        ),
        (
            lambda: mg.Tensor(np.ones((2, 3))).broadcast_to((4, 2)),
            ValueError,
            r"broadcast_to.*\(2, 3\).*\(4, 2\)",
        ),
        (
            lambda: mg.concatenate([mg.Tensor(np.ones((2, 3))), mg.Tensor(np.ones((2, 4)))]),
            ValueError,
            r"concatenate.*\(2, 3\).*\(2, 4\)",
        ),
        (lambda: mg.Tensor(np.ones((2, 3)))[5], IndexError, r"index.*5.*\(2, 3\)"),
        (lambda: mg.Tensor(np.ones((2, 3)))[:, [0, 3]], IndexError, r"index.*3.*\(2, 3\)"),
    ],
)
def test_errors_name_the_op_and_the_shapes(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# --- A long graph -------------------------------------------------------------------------------


def test_100_000_op_chain_backward_without_recursion_error():
    steps = 50_000  # two ops per step
    x0 = Tensor([0.5], requires_grad=True)
    x = x0
    for _ in range(steps):
        x = x * 0.999 + 0.001
    decay = 0.999**steps
    allclose(x, 0.5 * decay + (1 - decay), rtol=1e-9)
    x.backward()
    allclose(x0.grad, [decay], rtol=1e-9, atol=0)
    del x  # freeing the long chain must not overflow the stack either


# --- Memory: aliasing, saved arrays, graph lifetime ----------------------------------------------

ALIASING_CASES = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "reshape": lambda a, b: a.reshape(6) + b.reshape(6),
    "transpose": lambda a, b: a.T + b.transpose(1, 0),
    "broadcast": lambda a, b: a.broadcast_to((4, 2, 3)) + b,
    "index": lambda a, b: a[:, ::-1] + b[...],
    "repeat use": lambda a, b: a + a + b + b,
    "concatenate": lambda a, b: mg.concatenate([a, b]),
    "identity leaf": lambda a, b: a,
    "where": lambda a, b: mg.where(np.eye(2, 3) > 0, a, b),
}


@pytest.mark.parametrize("case", sorted(ALIASING_CASES))
def test_gradients_never_alias_each_other_or_the_seed(case):
    a = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = Tensor(np.ones((2, 3)), requires_grad=True)
    out = ALIASING_CASES[case](a, b)
    out.retain_grad()
    seed = np.random.default_rng(0).standard_normal(out.shape)
    seed_copy = seed.copy()
    out.backward(seed)
    np.testing.assert_array_equal(seed, seed_copy)
    distinct = {id(t): t for t in (a, b, out)}.values()  # out is a itself in "identity leaf"
    grads = [t.grad for t in distinct if t.grad is not None]
    assert len(grads) >= 2 or case == "identity leaf"
    for i, g in enumerate(grads):
        assert not np.shares_memory(g, seed), case
        for h in grads[i + 1 :]:
            assert not np.shares_memory(g, h), case
    a.grad += 1.0  # writable, and writing it changes nothing else
    np.testing.assert_array_equal(seed, seed_copy)


def test_seed_is_not_modified_when_gradients_accumulate_through_it():
    a = Tensor([1.0, 2.0], requires_grad=True)
    z = a * 2
    y = z + z + z
    seed = np.array([0.5, -1.0])
    y.backward(seed)
    np.testing.assert_array_equal(seed, [0.5, -1.0])
    allclose(a.grad, 6 * seed)
    seed_tensor = Tensor([1.0, 1.0])
    (a * 2 + a * 3).backward(seed_tensor)
    np.testing.assert_array_equal(seed_tensor.data, [1.0, 1.0])


def test_in_place_write_into_a_saved_array_is_refused_until_the_graph_is_released():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(ValueError):
        x.data[0] = 5.0
    with pytest.raises(ValueError):
        x.numpy()[...] += 1.0
    y.backward()
    allclose(x.grad, [2.0, 4.0, 6.0])  # computed from the untouched values
    x.data[0] = 5.0  # the graph is released: writing is allowed again

    y = (x.exp() * x).sum()
    with pytest.raises(ValueError):
        x.data[1] = 0.0
    del y  # released by dropping the last reference
    x.data[1] = 0.0
    np.testing.assert_array_equal(x.data, [5.0, 0.0, 3.0])


def test_retained_graph_keeps_saved_arrays_read_only():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    with pytest.raises(ValueError):
        x.data[0] = 0.0
    y.backward()
    x.data[0] = 0.0


def test_tensor_copies_the_users_array():
    array = np.array([1.0, 2.0])
    x = Tensor(array, requires_grad=True)
    y = (x * x).sum()
    array[0] = 7.0  # the user's own array stays writable and does not affect x
    y.backward()
    allclose(x.grad, [2.0, 4.0])


def test_rebinding_data_of_a_saved_tensor_is_detected_at_backward():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    x.data = np.zeros(3)
    with pytest.raises(RuntimeError, match=r"Mul.*\(3,\).*replaced"):
        y.backward()


def test_released_graph_is_freed_by_reference_counting_alone():
    gc.collect()
    gc.disable()
    try:
        x = Tensor([0.5, 1.5], requires_grad=True)
        z = x.exp()  # Exp saves its own output
        z.retain_grad()
        y = (z * x).sum()
        refs = [weakref.ref(y.grad_fn), weakref.ref(z.grad_fn)]
        del z
        assert all(r() is not None for r in refs)  # y keeps its graph alive
        y.backward()
        del y
        assert all(r() is None for r in refs)

        y = (x.tanh() * x).sum()
        (g,) = mg.grad(y, x, create_graph=True)
        refs = [weakref.ref(y.grad_fn), weakref.ref(g.grad_fn)]
        del y, g
        assert all(r() is None for r in refs)
        x.data[0] = 0.0  # and nothing keeps x's array locked
    finally:
        gc.enable()


def test_several_outputs_where_one_feeds_another_get_every_gradient():
    # z is computed from y: the walk must count y's node once, or the nodes below never run
    x = Tensor([0.3, -0.2], requires_grad=True)
    y = x.tanh() * 2
    z = y.sum()
    seed_y = np.array([1.0, -3.0])
    (g,) = mg.grad([y, z], [x], [seed_y, np.array(0.5)])
    expected = (seed_y + 0.5) * 2 * (1 - np.tanh(x.data) ** 2)  # d(y.seed + 0.5 z)/dx
    allclose(g.data, expected)
    x.grad = None
    y = x.tanh() * 2
    mg.engine.run_backward([y, y.sum()], [seed_y, np.array(0.5)], None, False)
    allclose(x.grad, expected)
