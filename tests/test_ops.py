"""Property tests of every primitive and public op: forward against numpy, first and second
derivatives against finite differences (gradcheck / gradgradcheck), and dtype rules.

Values are drawn inside each op's domain and away from its kinks (ties of max/maximum, relu at
0), so that finite differences are meaningful. Every test here runs with numpy floating-point
errors and Python warnings turned into errors: no op may warn on finite in-domain input.
"""

from __future__ import annotations

import itertools
import math
import operator
import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import Tensor, gradcheck, gradgradcheck
from minigrad.testing import mutually_broadcastable_shapes, shapes, tensors

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


@pytest.fixture(autouse=True)
def _numpy_errors_raise():
    """Overflow, division by zero and invalid operations raise instead of warning."""
    with np.errstate(all="raise", under="ignore"):
        yield


def check_derivatives(fn, inputs, **tolerances) -> None:
    """First and second derivatives of fn at inputs, both against finite differences."""
    gradcheck(fn, inputs, **tolerances)
    gradgradcheck(fn, inputs, **tolerances)


def assert_close(tensor: Tensor, expected) -> None:
    expected = np.asarray(expected)
    assert isinstance(tensor, Tensor)
    assert tensor.shape == expected.shape
    np.testing.assert_allclose(tensor.data, expected, rtol=1e-12, atol=1e-12)


# --- Strategies for in-domain values ---------------------------------------------------------

MODERATE = (-3.0, 3.0)
POSITIVE = (0.2, 3.0)
AWAY_FROM_ZERO = st.one_of(st.floats(0.2, 3.0), st.floats(-3.0, -0.2))


@st.composite
def distinct_arrays(draw, shape, offset: float = 0.0):
    """Values at least 0.06 apart from each other (no ties or near-ties for max)."""
    ranks = draw(hnp.arrays(np.int64, shape, elements=st.integers(-50, 50), unique=True))
    jitter = draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 0.04)))
    return ranks * 0.1 + jitter + offset


@st.composite
def separated_pair(draw):
    """Two broadcastable tensors on interleaved grids: |a - b| >= 0.06 everywhere."""
    shape_a, shape_b = draw(mutually_broadcastable_shapes())
    grid = st.tuples(st.integers(-10, 10), st.floats(0.0, 0.04)).map(lambda t: 0.2 * t[0] + t[1])
    a = draw(hnp.arrays(np.float64, shape_a, elements=grid))
    b = draw(hnp.arrays(np.float64, shape_b, elements=grid)) + 0.1
    return Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)


@st.composite
def broadcast_pair(draw, a_elements=MODERATE, b_elements=MODERATE):
    shape_a, shape_b = draw(mutually_broadcastable_shapes())
    return draw(tensors(shape_a, elements=a_elements)), draw(tensors(shape_b, elements=b_elements))


@st.composite
def axes_of(draw, ndim: int):
    """None, one axis (maybe negative) or a tuple of distinct axes (maybe empty or negative)."""
    kind = draw(st.sampled_from(["none", "int", "tuple"] if ndim else ["none"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)


# --- Elementwise arithmetic ------------------------------------------------------------------

BINARY = {
    # name: (minigrad operator, minigrad function, independent numpy formula, domain of b)
    "add": (operator.add, mg.add, lambda a, b: a - (-b), MODERATE),
    "sub": (operator.sub, mg.sub, lambda a, b: a + (-b), MODERATE),
    "mul": (operator.mul, mg.mul, lambda a, b: ((a + b) ** 2 - (a - b) ** 2) / 4, MODERATE),
    "div": (operator.truediv, mg.div, lambda a, b: a * np.reciprocal(b), AWAY_FROM_ZERO),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("form", ["operator", "function"])
@given(data=st.data())
def test_binary_arithmetic(name, form, data):
    op, function, formula, b_domain = BINARY[name]
    fn = op if form == "operator" else function
    a, b = data.draw(broadcast_pair(b_elements=b_domain))
    out = fn(a, b)
    expected = formula(a.data, b.data)
    np.testing.assert_allclose(out.data, expected, rtol=1e-9, atol=1e-12)
    assert out.shape == np.broadcast_shapes(a.shape, b.shape)
    check_derivatives(fn, [a, b])


@given(tensors())
def test_neg(a):
    assert_close(-a, 0.0 - a.data)
    check_derivatives(operator.neg, [a])


EXPONENTS = st.one_of(st.sampled_from([-2, -1, 1, 2, 3]), st.floats(-2.0, 3.0))


@given(data=st.data(), exponent=EXPONENTS)
def test_pow_tensor_scalar(data, exponent):
    integral = isinstance(exponent, int)
    a = data.draw(tensors(elements=AWAY_FROM_ZERO if integral else POSITIVE))
    expected = np.exp(exponent * np.log(np.abs(a.data)))
    if integral:
        expected = expected * np.sign(a.data) ** abs(exponent)
    np.testing.assert_allclose((a**exponent).data, expected, rtol=1e-9)
    np.testing.assert_allclose(mg.pow(a, exponent).data, expected, rtol=1e-9)
    check_derivatives(lambda a: a**exponent, [a])


@given(broadcast_pair(a_elements=POSITIVE, b_elements=(-2.0, 2.0)))
def test_pow_tensor_tensor(pair):
    a, b = pair
    np.testing.assert_allclose((a**b).data, np.exp(b.data * np.log(a.data)), rtol=1e-9)
    check_derivatives(operator.pow, [a, b])
    check_derivatives(mg.pow, [a, b])


@given(tensors(elements=(-2.0, 2.0)), st.floats(0.5, 3.0))
def test_scalar_pow_tensor(b, base):
    np.testing.assert_allclose((base**b).data, np.exp(b.data * math.log(base)), rtol=1e-9)
    check_derivatives(lambda b: base**b, [b])


@given(separated_pair())
def test_maximum(pair):
    a, b = pair
    out = mg.maximum(a, b)
    assert_close(out, (a.data + b.data + np.abs(a.data - b.data)) / 2)
    check_derivatives(mg.maximum, [a, b])


def test_maximum_tie_shares_gradient_half_and_half():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([1.0, 0.0], requires_grad=True)
    mg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.5, 1.0])
    np.testing.assert_array_equal(b.grad, [0.5, 0.0])


@given(data=st.data())
def test_where(data):
    shape_c, shape_a, shape_b = data.draw(mutually_broadcastable_shapes(num_shapes=3))
    cond = data.draw(hnp.arrays(np.bool_, shape_c))
    a, b = data.draw(tensors(shape_a)), data.draw(tensors(shape_b))
    out = mg.where(cond, a, b)
    assert_close(out, cond * a.data + (1 - cond) * b.data)
    check_derivatives(lambda a, b: mg.where(cond, a, b), [a, b])
    # The condition may also be a Tensor (as `a > b` of two Tensors is an array anyway).
    check_derivatives(lambda a, b: mg.where(Tensor(cond), a, b), [a, b])


# --- Elementwise functions -------------------------------------------------------------------

UNARY = {
    # name: (minigrad function, independent numpy formula, domain)
    "exp": (mg.exp, lambda x: np.power(np.e, x), MODERATE),
    "log": (mg.log, lambda x: np.log2(x) * np.log(2), (0.1, 5.0)),
    "tanh": (mg.tanh, lambda x: (1 - np.exp(-2 * x)) / (1 + np.exp(-2 * x)), MODERATE),
    "sigmoid": (mg.sigmoid, lambda x: (1 + np.tanh(x / 2)) / 2, (-6.0, 6.0)),
    "relu": (mg.relu, lambda x: x * (x > 0), AWAY_FROM_ZERO),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary(name, data):
    function, formula, domain = UNARY[name]
    a = data.draw(tensors(elements=domain))
    method = getattr(a, name)
    for out in (function(a), method()):
        np.testing.assert_allclose(out.data, formula(a.data), rtol=1e-12, atol=1e-15)
        assert out.shape == a.shape
    check_derivatives(function, [a])


def test_relu_gradient_is_zero_at_zero():
    a = Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    a.relu().sum().backward()
    np.testing.assert_array_equal(a.grad, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_saturates_exactly_without_warning(dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = Tensor([-1000.0, 1000.0], requires_grad=True, dtype=dtype)
        out = x.sigmoid()
        out.sum().backward()
        far = Tensor([-60.0, 60.0], dtype=dtype).sigmoid()
    assert out.dtype == dtype and x.grad.dtype == dtype
    np.testing.assert_array_equal(out.data, [0.0, 1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    np.testing.assert_allclose(far.data, [np.exp(-60.0), 1.0], rtol=1e-6)


# --- Reductions ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sum", "mean"])
@given(data=st.data(), keepdims=st.booleans())
def test_sum_and_mean(name, data, keepdims):
    a = data.draw(tensors())
    axis = data.draw(axes_of(a.ndim))
    function = getattr(mg, name)
    out = function(a, axis=axis, keepdims=keepdims)
    expected = np.add.reduce(a.data, axis=axis, keepdims=keepdims)
    if name == "mean":
        count = a.size / max(np.asarray(expected).size, 1)
        expected = expected / count
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(getattr(a, name)(axis=axis, keepdims=keepdims).data, out.data)
    check_derivatives(lambda a: function(a, axis=axis, keepdims=keepdims), [a])


@given(data=st.data(), keepdims=st.booleans())
def test_max(data, keepdims):
    shape = data.draw(shapes())
    a = Tensor(data.draw(distinct_arrays(shape)), requires_grad=True)
    axis = data.draw(axes_of(a.ndim))
    out = mg.max(a, axis=axis, keepdims=keepdims)
    expected = -np.min(-a.data, axis=axis, keepdims=keepdims)
    assert_close(out, expected)
    np.testing.assert_array_equal(a.max(axis=axis, keepdims=keepdims).data, out.data)
    check_derivatives(lambda a: mg.max(a, axis=axis, keepdims=keepdims), [a])


def test_max_ties_share_the_gradient_equally():
    a = Tensor([[3.0, 1.0, 3.0], [0.0, 5.0, 5.0]], requires_grad=True)
    a.max(axis=1).sum().backward()
    np.testing.assert_array_equal(a.grad, [[0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis", [0, -1])
def test_reductions_of_0d_tensor_accept_axis_0_like_numpy(name, axis):
    a = Tensor(2.5, requires_grad=True)
    out = getattr(mg, name)(a, axis=axis)
    assert out.shape == () and out.item() == 2.5
    check_derivatives(lambda a: getattr(mg, name)(a, axis=axis), [a])


# --- Shapes ------------------------------------------------------------------------------------


def _prime_factors(n: int) -> list[int]:
    factors, p = [], 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    return factors


@st.composite
def reshape_targets(draw, shape):
    """Another shape with the same number of elements, possibly with one -1."""
    size = math.prod(shape)
    ndim = draw(st.integers(0 if size == 1 else 1, 4))
    dims = [1] * ndim
    for factor in _prime_factors(size):
        dims[draw(st.integers(0, ndim - 1))] *= factor
    if ndim and draw(st.booleans()):
        dims[draw(st.integers(0, ndim - 1))] = -1
    return tuple(dims)


@given(data=st.data())
def test_reshape(data):
    a = data.draw(tensors())
    target = data.draw(reshape_targets(a.shape))
    expected = np.reshape(a.data.copy(), target)
    for out in (a.reshape(target), a.reshape(*target), mg.reshape(a, target)):
        assert_close(out, expected)
    check_derivatives(lambda a: a.reshape(target), [a])


@given(data=st.data())
def test_transpose(data):
    a = data.draw(tensors())
    axes = data.draw(st.permutations(range(a.ndim)))
    expected = np.moveaxis(a.data, list(range(a.ndim)), list(np.argsort(axes)))
    for out in (a.transpose(*axes), a.transpose(axes), mg.transpose(a, axes)):
        assert_close(out, expected)
    reversed_axes = a.data.transpose(tuple(range(a.ndim))[::-1])
    assert_close(a.T, reversed_axes)
    assert_close(a.transpose(), reversed_axes)
    check_derivatives(lambda a: a.transpose(*axes), [a])
    check_derivatives(lambda a: a.T, [a])


@pytest.mark.parametrize("axes", list(itertools.permutations(range(3))))
def test_transpose_every_permutation_of_three_axes(axes):
    """3-cycles are the permutations whose inverse differs from themselves."""
    a = Tensor(np.random.default_rng(0).standard_normal((2, 3, 4)), requires_grad=True)
    assert_close(a.transpose(*axes), np.einsum("ijk->" + "".join("ijk"[i] for i in axes), a.data))
    check_derivatives(lambda a: a.transpose(*axes), [a])


@st.composite
def broadcast_targets(draw, shape):
    """A shape that `shape` broadcasts to: new leading dims, size-1 dims stretched."""
    lead = draw(shapes(max_dims=2, max_side=3))
    return lead + tuple(draw(st.integers(1, 3)) if n == 1 else n for n in shape)


@given(data=st.data())
def test_broadcast_to(data):
    a = data.draw(tensors())
    target = data.draw(broadcast_targets(a.shape))
    expected = a.data + np.zeros(target)
    assert_close(a.broadcast_to(target), expected)
    assert_close(mg.broadcast_to(a, target), expected)
    check_derivatives(lambda a: a.broadcast_to(target), [a])


# --- Indexing ------------------------------------------------------------------------------------


@given(data=st.data())
def test_basic_indexing(data):
    """Integers, slices with (negative) steps, None and Ellipsis."""
    a = data.draw(tensors())
    index = data.draw(hnp.basic_indices(a.shape, allow_newaxis=True, allow_ellipsis=True))
    assert_close(a[index], a.data[index])
    check_derivatives(lambda a: a[index], [a])


@given(data=st.data())
def test_integer_array_indexing(data):
    """Full advanced indexing with integer arrays; repeated elements accumulate (scatter-add)."""
    a = data.draw(tensors(shapes(min_dims=1)))
    result_shape = hnp.array_shapes(min_dims=0, max_dims=2, max_side=5)
    index = data.draw(hnp.integer_array_indices(a.shape, result_shape=result_shape))
    assert_close(a[index], a.data[index])
    check_derivatives(lambda a: a[index], [a])


@given(data=st.data())
def test_integer_array_with_repeats_mixed_with_slices(data):
    a = data.draw(tensors(shapes(min_dims=2)))
    rows = data.draw(
        hnp.arrays(np.intp, st.integers(1, 6), elements=st.integers(-a.shape[0], a.shape[0] - 1))
    )
    step = data.draw(st.sampled_from([1, 2, -1]))
    index = (rows, slice(None, None, step))
    assert_close(a[index], a.data[index])
    assert_close(a[rows.tolist()], a.data[rows])  # a list becomes an integer array
    check_derivatives(lambda a: a[index], [a])
    check_derivatives(lambda a: a.T[..., rows], [a])  # the last axis of a.T is a's first


def test_repeated_indices_accumulate_their_gradients():
    a = Tensor([10.0, 20.0, 30.0, 40.0], requires_grad=True)
    index = np.array([0, 0, 3, 0, -1])
    weights = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    (a[index] * weights).sum().backward()
    expected = np.bincount(index % 4, weights=weights, minlength=4)  # [7, 0, 0, 8]
    np.testing.assert_array_equal(a.grad, expected)


@given(data=st.data())
def test_boolean_mask_indexing(data):
    a = data.draw(tensors(shapes(min_dims=1)))
    k = data.draw(st.integers(1, a.ndim))
    mask = data.draw(hnp.arrays(np.bool_, a.shape[:k]))
    assert_close(a[mask], a.data[mask])
    assert_close(a[Tensor(mask.astype(float)) > 0.5], a.data[mask])
    check_derivatives(lambda a: a[mask], [a])


def test_index_with_integer_tensor():
    a = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = a[Tensor([2.0, 0.0, 2.0])]
    np.testing.assert_array_equal(out.data, [3.0, 1.0, 3.0])
    out.sum().backward()
    np.testing.assert_array_equal(a.grad, [1.0, 0.0, 2.0])


# --- Joining and splitting ----------------------------------------------------------------------


@given(data=st.data())
def test_concatenate(data):
    base = data.draw(shapes(min_dims=1, max_side=3))
    axis = data.draw(st.integers(-len(base), len(base) - 1))
    lengths = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    parts = []
    for length in lengths:
        shape = list(base)
        shape[axis] = length
        parts.append(data.draw(tensors(tuple(shape))))
    expected = np.concatenate([p.data for p in parts], axis=axis)
    assert_close(mg.concatenate(parts, axis=axis), expected)
    check_derivatives(lambda *ps: mg.concatenate(ps, axis=axis), parts)


@given(data=st.data())
def test_stack(data):
    shape = data.draw(shapes(max_dims=2, max_side=3))
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    parts = data.draw(st.lists(tensors(shape), min_size=1, max_size=3))
    expected = np.stack([p.data for p in parts], axis=axis)
    assert_close(mg.stack(parts, axis=axis), expected)
    check_derivatives(lambda *ps: mg.stack(ps, axis=axis), parts)


@given(data=st.data())
def test_split(data):
    a = data.draw(tensors(shapes(min_dims=1)))
    axis = data.draw(st.integers(-a.ndim, a.ndim - 1))
    length = a.shape[axis]
    divisors = [n for n in range(1, length + 1) if length % n == 0]
    sections = data.draw(
        st.one_of(
            st.sampled_from(divisors),
            st.lists(st.integers(-length - 1, length + 1), max_size=3),
        )
    )
    expected = np.split(a.data, sections, axis=axis)
    pieces = mg.split(a, sections, axis=axis)
    assert len(pieces) == len(expected)
    for piece, want in zip(pieces, expected):
        assert_close(piece, want)
    check_derivatives(lambda a: mg.split(a, sections, axis=axis), [a])


@given(data=st.data())
def test_unstack(data):
    a = data.draw(tensors(shapes(min_dims=1)))
    axis = data.draw(st.integers(-a.ndim, a.ndim - 1))
    pieces = mg.unstack(a, axis=axis)
    expected = list(np.moveaxis(a.data, axis, 0))
    assert len(pieces) == len(expected)
    for piece, want in zip(pieces, expected):
        assert_close(piece, want)
    check_derivatives(lambda a: mg.unstack(a, axis=axis), [a])


def test_unstack_and_stack_errors_name_the_op():
    with pytest.raises(ValueError, match=r"unstack: axis 2 is out of bounds for shape \(2, 3\)"):
        mg.unstack(Tensor(np.ones((2, 3))), axis=2)
    with pytest.raises(ValueError, match=r"stack: all tensors must have the same shape"):
        mg.stack([Tensor(np.ones(2)), Tensor(np.ones(3))])


# --- Matrix product ------------------------------------------------------------------------------


@given(data=st.data(), bias=st.booleans())
def test_linear(data, bias):
    x_shape = data.draw(shapes(min_dims=1, max_dims=3, max_side=3))
    out_features = data.draw(st.integers(1, 3))
    x = data.draw(tensors(x_shape))
    weight = data.draw(tensors((out_features, x_shape[-1])))
    b = data.draw(tensors((out_features,))) if bias else None
    expected = np.einsum("...i,oi->...o", x.data, weight.data) + (0 if b is None else b.data)
    assert_close(mg.linear(x, weight, b), expected)
    inputs = [x, weight] + ([b] if bias else [])
    check_derivatives(lambda x, w, *rest: mg.linear(x, w, *rest), inputs)


def test_linear_shape_error_names_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 3\) does not fit weight"):
        mg.linear(Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5))))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(3,\) for weight \(4, 3\)"):
        mg.linear(Tensor(np.ones((2, 3))), Tensor(np.ones((4, 3))), Tensor(np.ones(3)))


@st.composite
def matmul_shapes(draw, kinds=("vv", "vm", "mv", "mm", "vb", "bv")):
    """Shapes for every np.matmul case: 1-D operands and broadcast batch dimensions."""
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kind = draw(st.sampled_from(kinds))
    batch = shapes(min_dims=1, max_dims=2, max_side=3)
    if kind == "vv":
        return (k,), (k,)
    if kind == "vm":
        return (k,), (k, m)
    if kind == "mv":
        return (n, k), (k,)
    if kind == "mm":
        return (n, k), (k, m)
    if kind == "vb":
        return (k,), draw(batch) + (k, m)
    if kind == "bv":
        return draw(batch) + (n, k), (k,)
    batch_a, batch_b = draw(mutually_broadcastable_shapes(max_dims=2, max_side=3))
    return batch_a + (n, k), batch_b + (k, m)


@pytest.mark.parametrize("kinds", [("vv", "vm", "mv", "mm", "vb", "bv"), ("batched",)])
@given(data=st.data())
def test_matmul(kinds, data):
    shape_a, shape_b = data.draw(matmul_shapes(kinds))
    a, b = data.draw(tensors(shape_a)), data.draw(tensors(shape_b))
    a2 = a.data if a.ndim > 1 else a.data[None, :]
    b2 = b.data if b.ndim > 1 else b.data[:, None]
    expected = np.einsum("...ik,...kj->...ij", a2, b2)
    if a.ndim == 1:
        expected = expected[..., 0, :]
    if b.ndim == 1:
        expected = expected[..., 0]
    for out in (a @ b, mg.matmul(a, b)):
        np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
        assert out.shape == np.shape(expected)
    check_derivatives(operator.matmul, [a, b])


# --- dtypes and operands of other types --------------------------------------------------------

MASK = np.array([True, False, True])
FLOAT32_CASES = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow_scalar": lambda a, b: a**2,
    "pow_real": lambda a, b: a**0.5,
    "pow_tensor": lambda a, b: a**b,
    "rpow": lambda a, b: 2.0**a,
    "neg": lambda a, b: -a,
    "matmul_2d_1d": lambda a, b: a @ b,
    "matmul_1d_2d": lambda a, b: b @ a.T,
    "matmul_batched": lambda a, b: a.reshape(1, 2, 3) @ a.T,
    "maximum": lambda a, b: mg.maximum(a, b),
    "where": lambda a, b: mg.where(MASK, a, b),
    "exp": lambda a, b: a.exp(),
    "log": lambda a, b: a.log(),
    "tanh": lambda a, b: a.tanh(),
    "sigmoid": lambda a, b: a.sigmoid(),
    "relu": lambda a, b: (a - 1).relu(),
    "sum": lambda a, b: a.sum(axis=0),
    "mean": lambda a, b: a.mean(axis=(0, 1), keepdims=True),
    "max": lambda a, b: a.max(axis=-1),
    "reshape": lambda a, b: a.reshape(3, -1),
    "transpose": lambda a, b: a.transpose(1, 0),
    "T": lambda a, b: a.T,
    "broadcast_to": lambda a, b: b.broadcast_to((4, 3)),
    "basic_index": lambda a, b: a[::-1, None, 1:],
    "array_index": lambda a, b: a[[1, 1, 0]],
    "mask_index": lambda a, b: b[MASK],
    "concatenate": lambda a, b: mg.concatenate([a, b.reshape(1, 3)]),
    "stack": lambda a, b: mg.stack([a[0], b], axis=1),
    "split": lambda a, b: mg.split(a, [1], axis=1)[1],
    "unstack": lambda a, b: mg.unstack(a, axis=1)[2],
    "linear": lambda a, b: mg.linear(a, b.reshape(1, 3) * 1.5, b[:1]),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_stays_float32_forward_and_backward(name):
    a = Tensor([[0.5, 1.0, 1.5], [2.0, 2.5, 3.0]], requires_grad=True, dtype=np.float32)
    b = Tensor([1.25, 0.75, 1.75], requires_grad=True, dtype=np.float32)
    out = FLOAT32_CASES[name](a, b)
    assert out.dtype == np.float32, name
    out.backward(np.ones(out.shape, dtype=np.float32))
    reached = [t for t in (a, b) if t.grad is not None]
    assert reached, "the gradient reached no input"
    for t in reached:
        assert t.grad.dtype == np.float32, name


def test_float32_second_derivatives_stay_float32():
    x = Tensor([0.5, 1.5], requires_grad=True, dtype=np.float32)
    (g,) = mg.grad((x**3).tanh().sum(), x, create_graph=True)
    (gg,) = mg.grad(g.sum(), x)
    assert g.dtype == np.float32 and gg.dtype == np.float32


SCALAR_CASES = {
    "x + 1": lambda x: x + 1,
    "1 + x": lambda x: 1 + x,
    "x - 2.5": lambda x: x - 2.5,
    "2 - x": lambda x: 2 - x,
    "x * 2.0": lambda x: x * 2.0,
    "3 * x": lambda x: 3 * x,
    "x / 3": lambda x: x / 3,
    "3.0 / x": lambda x: 3.0 / x,
    "x ** 2": lambda x: x**2,
    "2 ** x": lambda x: 2**x,
    "True * x": lambda x: True * x,
    "mg.add(1.5, x)": lambda x: mg.add(1.5, x),
    "mg.maximum(x, 0)": lambda x: mg.maximum(x, 0),
    "mg.maximum(0.0, x)": lambda x: mg.maximum(0.0, x),
    "mg.where(m, x, 0.0)": lambda x: mg.where(MASK, x, 0.0),
    "mg.where(m, 1, x)": lambda x: mg.where(MASK, 1, x),
    "mg.pow(x, 3)": lambda x: mg.pow(x, 3),
    "np.float32 scalar": lambda x: x * np.float32(2.0),
}


@pytest.mark.parametrize("case", sorted(SCALAR_CASES))
def test_python_scalars_never_upcast_float32(case):
    x = Tensor([0.5, 1.0, 2.0], requires_grad=True, dtype=np.float32)
    out = SCALAR_CASES[case](x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize(
    "make",
    [
        lambda: Tensor([1, 2, 3]),
        lambda: Tensor(np.arange(3, dtype=np.int32)),
        lambda: Tensor(True),
        lambda: Tensor([[True, False]]),
        lambda: Tensor(np.float16(1.5)),
        lambda: mg.exp([0, 1]),
        lambda: mg.sum([[1, 2], [3, 4]]),
        lambda: mg.add([1, 2], 3),
        lambda: mg.concatenate([[1, 2], [3]]),
        lambda: mg.stack([[1, 2], [3, 4]]),
    ],
)
def test_int_bool_and_list_inputs_become_float64(make):
    assert make().dtype == np.float64


def test_tensor_dtype_argument():
    assert Tensor([1, 2], dtype=np.float32).dtype == np.float32
    assert Tensor(np.ones(2, dtype=np.float32)).dtype == np.float32
    with pytest.raises(TypeError, match="int64"):
        Tensor([1, 2], dtype=np.int64)


ARRAY = np.array([[1.0, -2.0], [0.5, 3.0]])
NUMPY_OPERAND_CASES = {
    # name: (expression with the Tensor x, the same with the ndarray X, d sum / dx)
    "np_array + x": (lambda x: ARRAY + x, lambda X: ARRAY + X, lambda X: np.ones_like(X)),
    "x + np_array": (lambda x: x + ARRAY, lambda X: X + ARRAY, lambda X: np.ones_like(X)),
    "np_array - x": (lambda x: ARRAY - x, lambda X: ARRAY - X, lambda X: -np.ones_like(X)),
    "np_array * x": (lambda x: ARRAY * x, lambda X: ARRAY * X, lambda X: ARRAY + 0 * X),
    "np_array / x": (lambda x: ARRAY / x, lambda X: ARRAY / X, lambda X: -ARRAY / X**2),
    "x / np_array": (lambda x: x / ARRAY, lambda X: X / ARRAY, lambda X: 1 / ARRAY + 0 * X),
    "np_array @ x": (lambda x: ARRAY @ x, lambda X: ARRAY @ X, lambda X: ARRAY.sum(0)[:, None]),
    "x @ np_array": (lambda x: x @ ARRAY, lambda X: X @ ARRAY, lambda X: ARRAY.sum(1) + 0 * X),
    "np_array ** x": (lambda x: abs(ARRAY) ** x, lambda X: abs(ARRAY) ** X, None),
    "2 - x": (lambda x: 2 - x, lambda X: 2 - X, lambda X: -np.ones_like(X)),
    "x / 3": (lambda x: x / 3, lambda X: X / 3, lambda X: np.full_like(X, 1 / 3)),
    "np.float64(2) - x": (lambda x: np.float64(2) - x, lambda X: 2 - X, lambda X: -1 + 0 * X),
    "np.float64(2) * x": (lambda x: np.float64(2) * x, lambda X: 2 * X, lambda X: 2 + 0 * X),
    "np.int64(3) / x": (lambda x: np.int64(3) / x, lambda X: 3 / X, lambda X: -3 / X**2),
    "x ** np.int64(2)": (lambda x: x ** np.int64(2), lambda X: X**2, lambda X: 2 * X),
}


@pytest.mark.parametrize("case", sorted(NUMPY_OPERAND_CASES))
def test_numpy_arrays_and_scalars_as_the_other_operand(case):
    expression, on_arrays, derivative = NUMPY_OPERAND_CASES[case]
    values = np.array([[0.5, 1.5], [2.0, 1.0]])
    x = Tensor(values, requires_grad=True)
    out = expression(x)
    assert isinstance(out, Tensor)
    np.testing.assert_allclose(out.data, on_arrays(values), rtol=1e-12)
    out.sum().backward()
    if derivative is not None:
        expected = np.broadcast_to(derivative(values), values.shape)
        np.testing.assert_allclose(x.grad, expected, rtol=1e-12)
    gradcheck(expression, [x])


def test_numpy_array_operand_follows_numpy_promotion():
    x = Tensor([1.0, 2.0], requires_grad=True, dtype=np.float32)
    assert (np.ones(2) + x).dtype == np.float64  # a float64 array upcasts, as in numpy
    assert (np.ones(2, dtype=np.float32) + x).dtype == np.float32
    assert (x * np.ones(2, dtype=np.int64)).dtype == np.float64


ZERO_D_CASES = {
    "pow": lambda x: x**2,
    "pow_tensor": lambda x: x**x,
    "rpow": lambda x: 2.0**x,
    "div": lambda x: x / 3.0,
    "exp": lambda x: x.exp(),
    "log": lambda x: x.log(),
    "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: x.sigmoid(),
    "relu": lambda x: x.relu(),
    "max": lambda x: x.max(),
    "sum": lambda x: x.sum(),
    "mean": lambda x: x.mean(),
    "maximum": lambda x: mg.maximum(x, 1.0),
}


@pytest.mark.parametrize("name", sorted(ZERO_D_CASES))
@pytest.mark.parametrize("record", [True, False])
def test_0d_results_hold_ndarrays(name, record):
    """numpy returns 0-d results as scalars; a Tensor's .data is always an ndarray."""
    x = Tensor(np.array(2.0, dtype=np.float32), requires_grad=record)
    y = ZERO_D_CASES[name](x)
    assert type(y.data) is np.ndarray and y.shape == () and y.dtype == np.float32
    if record:
        y.backward()
        assert type(x.grad) is np.ndarray and x.grad.dtype == np.float32


# --- sqrt, abs, minimum, clamp ---------------------------------------------------------------


@given(tensors(elements=POSITIVE))
def test_sqrt(a):
    for out in (mg.sqrt(a), a.sqrt()):
        np.testing.assert_allclose(out.data, np.exp(0.5 * np.log(a.data)), rtol=1e-12)
    check_derivatives(mg.sqrt, [a])


@given(tensors(elements=AWAY_FROM_ZERO))
def test_abs(a):
    for out in (mg.abs(a), a.abs(), abs(a)):
        assert_close(out, np.sqrt(a.data * a.data))
    check_derivatives(mg.abs, [a])


@given(separated_pair())
def test_minimum(pair):
    a, b = pair
    for out in (mg.minimum(a, b), a.minimum(b)):
        assert_close(out, (a.data + b.data - np.abs(a.data - b.data)) / 2)
    check_derivatives(mg.minimum, [a, b])


@st.composite
def clamp_operands(draw):
    """a, min, max on three interleaved grids (never within 0.04 of each other), so the kinks
    are far from finite differences; a bound is None, a Python float or a broadcastable Tensor,
    and min > max happens too."""
    shapes_ = draw(mutually_broadcastable_shapes(num_shapes=3))

    def on_grid(shape):
        steps = st.tuples(st.integers(-8, 8), st.floats(0.0, 0.02))
        return draw(hnp.arrays(np.float64, shape, elements=steps.map(lambda t: 0.2 * t[0] + t[1])))

    a = Tensor(on_grid(shapes_[0]), requires_grad=True)
    bounds = []
    for shape, offset in zip(shapes_[1:], (0.066, 0.133)):
        kind = draw(st.sampled_from(["none", "float", "tensor"]))
        if kind == "none":
            bounds.append(None)
        elif kind == "float":
            bounds.append(float(on_grid(())) + offset)
        else:
            bounds.append(Tensor(on_grid(shape) + offset, requires_grad=True))
    if bounds[0] is None and bounds[1] is None:
        bounds[draw(st.integers(0, 1))] = 0.1
    return a, bounds[0], bounds[1]


@given(clamp_operands(), st.sampled_from(["clamp", "clip", "method"]))
def test_clamp(operands, form):
    a, lo, hi = operands
    fn = {
        "clamp": lambda a, lo, hi: mg.clamp(a, lo, hi),
        "clip": lambda a, lo, hi: mg.clip(a, min=lo, max=hi),
        "method": lambda a, lo, hi: a.clamp(min=lo, max=hi),
    }[form]
    low = -np.inf if lo is None else getattr(lo, "data", lo)
    high = np.inf if hi is None else getattr(hi, "data", hi)
    # PyTorch's definition: where min > max the result is max; otherwise a, cut to [min, max].
    inside = np.where(a.data < low, low, np.where(a.data > high, high, a.data))
    assert_close(fn(a, lo, hi), np.where(high < low, high, inside))
    check_derivatives(fn, [a, lo, hi])


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match="clamp: at least one of 'min' or 'max'"):
        mg.clamp(Tensor([1.0]))


def test_clip_is_clamp_and_methods_are_attached():
    assert mg.clip is mg.clamp and Tensor.clip is Tensor.clamp
    x = Tensor([-2.0, 0.5, 3.0])
    np.testing.assert_array_equal(x.clip(-1, 1).data, [-1.0, 0.5, 1.0])


NEW_PRIMITIVES = {
    "sqrt": lambda x: x.sqrt(),
    "abs": lambda x: abs(x - 1.25),
    "minimum": lambda x: mg.minimum(x, 1.0),
    "minimum_reflected": lambda x: mg.minimum(1.0, x),
    "clamp_scalars": lambda x: x.clamp(0.75, 1.5),
    "clamp_tensor": lambda x: mg.clamp(x, x * 0.5, Tensor(np.float32(1.5))),
}


@pytest.mark.parametrize("name", sorted(NEW_PRIMITIVES))
@pytest.mark.parametrize("shape", [(3,), ()])
def test_new_primitives_keep_float32_and_0d_arrays(name, shape):
    x = Tensor(np.full(shape, 2.0), requires_grad=True, dtype=np.float32)
    out = NEW_PRIMITIVES[name](x)
    assert type(out.data) is np.ndarray and out.shape == shape and out.dtype == np.float32
    out.backward(np.ones(shape, dtype=np.float32))
    assert type(x.grad) is np.ndarray and x.grad.dtype == np.float32
    (g,) = mg.grad(NEW_PRIMITIVES[name](x).sum(), x, create_graph=True)
    assert g.dtype == np.float32


# PyTorch parity at the edge points: the values and gradients are compared exactly.


def torch_and_minigrad(torch, values):
    """Each array as a float64 minigrad Tensor and a torch tensor, both requiring grad."""
    ours = [Tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in values]
    theirs = [torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in values]
    return ours, theirs


def assert_same_as_torch(torch, our_fn, torch_fn, values, seed=None):
    """Values and gradients (for a seed of ones, or `seed`) of our_fn and torch_fn agree."""
    ours, theirs = torch_and_minigrad(torch, values)
    out, expected = our_fn(*ours), torch_fn(*theirs)
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    seed = np.ones(out.shape) if seed is None else np.asarray(seed, dtype=np.float64)
    out.backward(seed)
    expected.backward(torch.tensor(seed))
    for mine, reference in zip(ours, theirs):
        got = np.zeros(mine.shape) if mine.grad is None else mine.grad
        want = np.zeros(mine.shape) if reference.grad is None else reference.grad.numpy()
        np.testing.assert_array_equal(got, want)


def test_sqrt_and_abs_match_pytorch_at_zero():
    from oracles import require

    torch = require("torch")
    points = [[0.0, 0.0, 0.25, 4.0]]
    # sqrt'(0) = inf, and 0 * inf = nan where the incoming gradient is 0: PyTorch's values.
    assert_same_as_torch(torch, mg.sqrt, torch.sqrt, points, seed=[1.0, 0.0, 1.0, 2.0])
    assert_same_as_torch(torch, mg.abs, torch.abs, [[-1.5, 0.0, -0.0, 2.0]])


ON_GRID = hnp.arrays(np.float64, (6,), elements=st.integers(-2, 2).map(lambda k: 0.5 * k))


@given(ON_GRID, ON_GRID)
def test_minimum_matches_pytorch_with_ties(a, b):
    from oracles import require

    torch = require("torch")
    assert_same_as_torch(torch, mg.minimum, torch.minimum, [a, b])


@given(ON_GRID, ON_GRID, ON_GRID, st.sampled_from(["both", "min", "max"]))
def test_clamp_with_tensor_bounds_matches_pytorch_on_and_between_the_bounds(a, lo, hi, which):
    """Values on a coarse grid hit the bounds exactly, and min == max and min > max occur."""
    from oracles import require

    torch = require("torch")
    if which == "both":
        assert_same_as_torch(torch, mg.clamp, torch.clamp, [a, lo, hi])
    elif which == "min":
        assert_same_as_torch(
            torch, lambda a, lo: mg.clamp(a, min=lo), lambda a, lo: torch.clamp(a, min=lo), [a, lo]
        )
    else:
        assert_same_as_torch(
            torch, lambda a, hi: mg.clamp(a, max=hi), lambda a, hi: torch.clamp(a, max=hi), [a, hi]
        )


@pytest.mark.parametrize("bounds", [(0.0, 1.0), (0.5, 0.5), (1.0, 0.0), (None, 0.5), (0.5, None)])
def test_clamp_with_number_bounds_matches_pytorch_at_the_bounds(bounds):
    from oracles import require

    torch = require("torch")
    lo, hi = bounds
    points = [[-1.0, 0.0, 0.25, 0.5, 1.0, 2.0, np.nan]]
    ours, theirs = torch_and_minigrad(torch, points)
    out, expected = ours[0].clamp(lo, hi), theirs[0].clamp(lo, hi)
    np.testing.assert_array_equal(out.data, expected.detach().numpy())
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_array_equal(ours[0].grad, theirs[0].grad.numpy())
