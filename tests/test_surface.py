"""The PyTorch surface: creation functions, Tensor methods, shape ops, reductions, elementwise
functions and einsum, each against PyTorch (values and gradients, float64) and, for the
differentiable ones, against finite differences on Hypothesis-drawn shapes; then argument errors.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracles import require

import minigrad as mg
from minigrad import Tensor, gradcheck, gradgradcheck, nn
from minigrad.testing import shapes, tensors

torch = require("torch")

RNG = np.random.default_rng(20261201)


def arr(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def distinct(*shape: int) -> np.ndarray:
    """Values with no ties (so max/min/sort-like ops have one answer and a clean gradient)."""
    n = int(np.prod(shape))
    return (RNG.permutation(n) * 0.37 - n * 0.15 + RNG.uniform(0, 0.01, n)).reshape(shape)


def pieces(out):
    if isinstance(out, (tuple, list)):
        return [p for item in out for p in pieces(item)]
    return [out]


def against_torch(mg_fn, torch_fn, *arrays, rtol=1e-10, atol=1e-12):
    """Same values, and the same gradients for one random cotangent per output, as PyTorch."""
    xs = [mg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    outs, refs = pieces(mg_fn(*xs)), pieces(torch_fn(*ts))
    assert len(outs) == len(refs)
    for out, ref in zip(outs, refs):
        assert isinstance(out, Tensor) and out.shape == tuple(ref.shape)
        expected = ref.detach().double().numpy()
        np.testing.assert_allclose(out.data, expected, rtol=rtol, atol=atol)
    differentiable = [(o, r) for o, r in zip(outs, refs) if r.requires_grad]
    if not differentiable:
        return
    seeds = [
        np.random.default_rng(k).standard_normal(o.shape) for k, (o, _) in enumerate(differentiable)
    ]
    mg_loss = sum((o * s).sum() for (o, _), s in zip(differentiable, seeds))
    torch_loss = sum((r * torch.tensor(s)).sum() for (_, r), s in zip(differentiable, seeds))
    mg_loss.backward()
    torch_loss.backward()
    for x, t in zip(xs, ts):
        expected = np.zeros(x.shape) if t.grad is None else t.grad.numpy()
        got = np.zeros(x.shape) if x.grad is None else x.grad
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-10)


def check_derivatives(fn, inputs, second=True):
    assert gradcheck(fn, inputs)
    if second:
        assert gradgradcheck(fn, inputs)


@pytest.fixture(autouse=True)
def _default_dtype_restored():
    yield
    mg.set_default_dtype(np.float64)


# --- creating --------------------------------------------------------------------------------

CREATED = [
    (lambda m: m.zeros(2, 3), lambda t: t.zeros(2, 3, dtype=t.float64)),
    (lambda m: m.zeros((2, 3)), lambda t: t.zeros((2, 3), dtype=t.float64)),
    (lambda m: m.ones(4), lambda t: t.ones(4, dtype=t.float64)),
    (lambda m: m.ones(()), lambda t: t.ones((), dtype=t.float64)),
    (lambda m: m.full((2, 2), 7.5), lambda t: t.full((2, 2), 7.5, dtype=t.float64)),
    (lambda m: m.eye(3), lambda t: t.eye(3, dtype=t.float64)),
    (lambda m: m.eye(2, 4), lambda t: t.eye(2, 4, dtype=t.float64)),
    (lambda m: m.arange(5), lambda t: t.arange(5, dtype=t.float64)),
    (lambda m: m.arange(1, 2.5, 0.5), lambda t: t.arange(1, 2.5, 0.5, dtype=t.float64)),
    (lambda m: m.arange(0, 1, 0.1), lambda t: t.arange(0, 1, 0.1, dtype=t.float64)),
    (lambda m: m.arange(3, -3, -0.7), lambda t: t.arange(3, -3, -0.7, dtype=t.float64)),
    (lambda m: m.linspace(0, 1, 7), lambda t: t.linspace(0, 1, 7, dtype=t.float64)),
    (lambda m: m.linspace(-2, 3.3, 1), lambda t: t.linspace(-2, 3.3, 1, dtype=t.float64)),
    (lambda m: m.linspace(5, -1, 0), lambda t: t.linspace(5, -1, 0, dtype=t.float64)),
    (lambda m: m.linspace(-1.7, 9.1, 50), lambda t: t.linspace(-1.7, 9.1, 50, dtype=t.float64)),
    (lambda m: m.tensor([[1, 2], [3, 4]]), lambda t: t.tensor([[1.0, 2], [3, 4]], dtype=t.float64)),
    (lambda m: m.tensor(2.5), lambda t: t.tensor(2.5, dtype=t.float64)),
]


@pytest.mark.parametrize("k", range(len(CREATED)))
def test_creation_matches_torch(k):
    make, reference = CREATED[k]
    out, ref = make(mg), reference(torch)
    assert out.shape == tuple(ref.shape) and out.dtype == np.float64 and out.is_leaf
    np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-15, atol=1e-15)  # (ulps apart)
    assert not out.requires_grad


def test_like_functions_keep_shape_and_dtype():
    x = mg.tensor(np.ones((2, 3), np.float32))
    for out, value in [(mg.zeros_like(x), 0), (mg.ones_like(x), 1), (mg.full_like(x, 3.5), 3.5)]:
        assert out.shape == (2, 3) and out.dtype == np.float32
        np.testing.assert_array_equal(out.data, np.full((2, 3), value, np.float32))
    assert mg.zeros_like(x, dtype=np.float64).dtype == np.float64
    assert mg.ones_like(np.arange(3)).dtype == np.float64  # an int array: the default dtype
    assert mg.full_like(x, 1, requires_grad=True).requires_grad


def test_float32_creation_and_linspace_against_torch():
    np.testing.assert_allclose(
        mg.linspace(-1.3, 2.9, 11, dtype=np.float32).data,
        torch.linspace(-1.3, 2.9, 11).numpy(),
        rtol=1e-6,
    )
    assert mg.arange(0, 1, 0.1, dtype=mg.float32).data.dtype == np.float32
    assert len(mg.arange(0, 1, 1 / 3)) == len(torch.arange(0, 1, 1 / 3))


def test_tensor_keeps_numpy_float_dtypes_and_copies():
    data = np.ones(3, np.float32)
    t = mg.tensor(data, requires_grad=True)
    assert t.dtype == np.float32 and t.requires_grad and t.is_leaf
    data[0] = 5
    assert t.data[0] == 1  # a copy
    assert mg.tensor(np.arange(3)).dtype == np.float64
    assert mg.tensor(t).dtype == np.float32 and not mg.tensor(t).requires_grad
    assert mg.tensor([1, 2], dtype=np.float32).dtype == np.float32


def test_set_default_dtype_governs_the_creation_functions():
    assert mg.get_default_dtype() == np.float64
    mg.set_default_dtype(np.float32)
    assert mg.get_default_dtype() == np.float32
    made = [mg.zeros(2), mg.ones(2), mg.full((2,), 1.0), mg.eye(2), mg.arange(3), mg.empty(2)]
    made += [mg.linspace(0, 1, 3), mg.tensor([1.0]), mg.rand(2), mg.randn(2), mg.randint(5, (2,))]
    assert all(t.dtype == np.float32 for t in made)
    assert mg.tensor(np.ones(2)).dtype == np.float64  # a float64 array keeps its dtype
    with pytest.raises(TypeError, match="float32 or float64"):
        mg.set_default_dtype(np.int64)
    assert mg.get_default_dtype() == np.float32  # unchanged by the refused call


def test_one_generator_for_random_tensors_and_layer_init():
    mg.manual_seed(7)
    a = mg.randn(5)
    layer = nn.Linear(3, 2)
    nn.init.manual_seed(7)  # the same generator, reset through nn.init
    np.testing.assert_array_equal(mg.randn(5).data, a.data)
    np.testing.assert_array_equal(nn.Linear(3, 2).weight.data, layer.weight.data)
    assert nn.init.manual_seed is mg.manual_seed


def test_generator_argument_leaves_the_shared_generator_alone():
    mg.manual_seed(1)
    expected = mg.rand(4).data
    mg.manual_seed(1)
    own = mg.rand(4, generator=np.random.default_rng(99))
    np.testing.assert_array_equal(mg.rand(4).data, expected)
    np.testing.assert_array_equal(own.data, np.random.default_rng(99).random(4))
    np.testing.assert_array_equal(mg.rand(4, generator=99).data, own.data)  # a seed works too


def test_random_draws_have_the_right_shape_dtype_and_distribution():
    mg.manual_seed(0)
    u, n = mg.rand(200, 50), mg.randn((200, 50), dtype=np.float32)
    assert u.shape == n.shape == (200, 50) and n.dtype == np.float32
    assert 0 <= u.data.min() and u.data.max() < 1 and abs(u.data.mean() - 0.5) < 0.01
    assert abs(n.data.mean()) < 0.03 and abs(n.data.std() - 1) < 0.03
    r = mg.randint(3, 10, (1000,))
    assert r.dtype == np.float64 and set(np.unique(r.data)) == set(range(3, 10))
    assert mg.randint(4, (2, 3)).shape == (2, 3) and mg.randint(4, (50,)).data.max() <= 3
    # float32 draws are the rounding of the float64 ones from the same seed
    np.testing.assert_array_equal(
        mg.randn(6, generator=3, dtype=np.float32).data,
        np.random.default_rng(3).standard_normal(6).astype(np.float32),
    )


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: mg.zeros(2, -1), ValueError, "zeros: sizes must be non-negative"),
        (lambda: mg.ones(2.5), TypeError, "ones: sizes must be integers"),
        (lambda: mg.zeros(2, dtype=np.int32), TypeError, "zeros: dtype must be float32"),
        (lambda: mg.tensor([1.0], dtype="nonsense"), TypeError, "tensor: 'nonsense' is not"),
        (lambda: mg.tensor([[1.0], [2.0, 3.0]]), TypeError, "tensor: cannot make"),
        (lambda: mg.arange(0, 1, 0), ValueError, "arange: step must be nonzero"),
        (lambda: mg.arange(0, 1, -0.5), ValueError, "arange: the bounds"),
        (lambda: mg.arange(0, math.inf), ValueError, "arange: start, end and step must be"),
        (lambda: mg.linspace(0, 1, -2), ValueError, "linspace: steps must be"),
        (lambda: mg.randint(5, 5, (2,)), ValueError, "randint: high must be greater"),
        (lambda: mg.randint(5), TypeError, "randint: needs high and size"),
        (lambda: mg.eye(-1), ValueError, "eye: sizes must be non-negative"),
    ],
)
def test_creation_argument_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- Tensor methods --------------------------------------------------------------------------


def test_element_counts_inside_the_package_use_numel():
    """size() is the shape now: fill_ still tells one element from several."""
    x = mg.zeros(3)
    assert x.fill_(mg.tensor(2.5)).tolist() == [2.5, 2.5, 2.5]
    with pytest.raises(ValueError, match="fill_: the value must be a number or one element"):
        x.fill_(mg.ones(2))


def test_size_numel_dim_tolist():
    x = mg.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) == tuple(torch.zeros(2, 3, 4).size())
    assert x.size(1) == 3 and x.size(-1) == 4 and x.numel() == 24 and x.dim() == 3
    with pytest.raises(IndexError, match="size: dim 3 is out of range"):
        x.size(3)
    assert mg.tensor([[1.0, 2.0]]).tolist() == [[1.0, 2.0]]
    assert mg.tensor(3.0).tolist() == 3.0 and mg.tensor(3.0).numel() == 1


@pytest.mark.parametrize(
    "cast, dtype",
    [
        (lambda t: t.float(), np.float32),
        (lambda t: t.double(), np.float64),
        (lambda t: t.to(np.float32), np.float32),
        (lambda t: t.to(dtype=np.float32), np.float32),
        (lambda t: t.to(mg.zeros(1, dtype=np.float32)), np.float32),
        (lambda t: t.astype("float32"), np.float32),
        (lambda t: t.to("cpu"), np.float64),
    ],
)
def test_casts_are_differentiable_and_cast_the_gradient_back(cast, dtype):
    x = mg.tensor([1.5, -2.0, 0.25], requires_grad=True)
    y = cast(x)
    assert y.dtype == dtype
    ((y * y).sum() * 1).backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, 2 * x.data, rtol=1e-6)


def test_casts_second_order_and_against_torch():
    x = mg.tensor(np.array([0.3, -1.2]), requires_grad=True)
    (g,) = mg.grad((x.float() ** 3).sum(), x, create_graph=True)
    assert g.dtype == np.float64
    (gg,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(gg.data, 6 * x.data, rtol=1e-6)
    against_torch(lambda a: a.float().double() * a, lambda a: a.float().double() * a, arr(3))


def test_same_dtype_cast_returns_the_tensor_and_clone_copies():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    assert x.double() is x and x.to(np.float64) is x
    c = x.clone()
    assert c is not x and c.data is not x.data and not np.shares_memory(c.data, x.data)
    (c * mg.tensor([3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
    assert mg.gradcheck(lambda a: a.clone() * a, [mg.tensor(arr(3), requires_grad=True)])


def test_contiguous():
    x = mg.tensor(arr(3, 4), requires_grad=True)
    t = x.permute(1, 0)
    assert not t.data.flags.c_contiguous
    c = t.contiguous()
    assert c.data.flags.c_contiguous and c.contiguous() is c
    np.testing.assert_array_equal(c.data, x.data.T)
    assert mg.gradcheck(lambda a: a.permute(1, 0).contiguous(), [x])


def test_requires_grad_and_detach_in_place():
    x = mg.zeros(3)
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad
    y = mg.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="requires_grad_: only a leaf"):
        y.requires_grad_(False)
    assert y.requires_grad and not y.is_leaf  # nothing changed
    assert y.detach_() is y and y.is_leaf and not y.requires_grad and y.grad_fn is None


def test_unsupported_devices_and_dtypes_are_refused():
    x = mg.zeros(2)
    with pytest.raises(ValueError, match="no devices but the CPU"):
        x.to("cuda")
    with pytest.raises(TypeError, match="float32 or float64"):
        x.to(np.int64)
    with pytest.raises(TypeError, match="neither a dtype nor the device"):
        x.to("gpu0")


# --- shape ops -------------------------------------------------------------------------------

SHAPE_OPS = {
    "view": (lambda a: a.view(-1, 2), lambda a: a.view(-1, 2), (3, 4)),
    "reshape": (lambda a: a.reshape(2, -1), lambda a: a.reshape(2, -1), (3, 4)),
    "flatten": (lambda a: a.flatten(), lambda a: a.flatten(), (2, 3, 4)),
    "flatten 1..2": (lambda a: mg.flatten(a, 1, 2), lambda a: torch.flatten(a, 1, 2), (2, 3, 4, 2)),
    "flatten 0-d": (lambda a: a.flatten(), lambda a: a.flatten(), ()),
    "squeeze": (lambda a: a.squeeze(), lambda a: a.squeeze(), (1, 3, 1, 2)),
    "squeeze 2": (lambda a: a.squeeze(2), lambda a: a.squeeze(2), (1, 3, 1, 2)),
    "squeeze not 1": (lambda a: a.squeeze(1), lambda a: a.squeeze(1), (1, 3, 1, 2)),
    "squeeze tuple": (lambda a: mg.squeeze(a, (0, -2)), lambda a: a.squeeze((0, -2)), (1, 3, 1)),
    "unsqueeze": (lambda a: a.unsqueeze(1), lambda a: a.unsqueeze(1), (3, 4)),
    "unsqueeze end": (lambda a: mg.unsqueeze(a, -1), lambda a: a.unsqueeze(-1), (3, 4)),
    "permute": (lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), (2, 3, 4)),
    "mg.permute": (lambda a: mg.permute(a, (1, 0, 2)), lambda a: a.permute(1, 0, 2), (2, 3, 4)),
    "transpose": (lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2), (2, 3, 4)),
    "transpose -1": (lambda a: a.transpose(-1, 1), lambda a: a.transpose(-1, 1), (2, 3, 4)),
    "swapdims": (lambda a: mg.swapdims(a, 0, 1), lambda a: a.swapdims(0, 1), (2, 3)),
    "expand": (lambda a: a.expand(2, 3, 4), lambda a: a.expand(2, 3, 4), (3, 1)),
    "expand -1": (lambda a: a.expand(-1, 5), lambda a: a.expand(-1, 5), (3, 1)),
    "chunk": (lambda a: a.chunk(3, 1), lambda a: a.chunk(3, 1), (2, 7)),
    "chunk fewer": (lambda a: mg.chunk(a, 4), lambda a: torch.chunk(a, 4), (6, 2)),
    "chunk more": (lambda a: a.chunk(5), lambda a: a.chunk(5), (3,)),
    "split size": (lambda a: a.split(2, 1), lambda a: a.split(2, 1), (2, 5)),
    "split sizes": (lambda a: a.split([1, 0, 3], 0), lambda a: a.split([1, 0, 3], 0), (4, 2)),
    "split dim=": (lambda a: a.split(3, dim=-1), lambda a: a.split(3, dim=-1), (2, 3)),
    "cat": (
        lambda a: mg.cat([a, a * 2], dim=1),
        lambda a: torch.cat([a, a * 2], dim=1),
        (2, 3),
    ),
    "stack dim=": (lambda a: mg.stack([a, a], dim=1), lambda a: torch.stack([a, a], dim=1), (2,)),
    "unbind dim=": (lambda a: mg.unstack(a, dim=1), lambda a: torch.unbind(a, dim=1), (2, 3)),
}


@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_ops_match_torch(name):
    ours, theirs, shape = SHAPE_OPS[name]
    against_torch(ours, theirs, arr(*shape))


def test_module_level_transpose_and_split_stay_numpys():
    a = mg.tensor(arr(2, 3, 4))
    assert mg.transpose(a).shape == (4, 3, 2) and mg.transpose(a, 1, 2, 0).shape == (3, 4, 2)
    assert [p.shape for p in mg.split(a, 2, axis=0)] == [(1, 3, 4)] * 2  # 2 sections
    assert [p.shape for p in a.split(2, 0)] == [(2, 3, 4)]  # pieces of size 2
    with pytest.raises(TypeError, match=r"swaps two axes.*permute"):
        a.transpose(1, 0, 2)
    with pytest.raises(TypeError, match="swaps two axes"):
        a.transpose()


@st.composite
def tensor_and_dim(draw, min_dims=1):
    """A tensor and one of its axes (0 or -1 for a 0-d tensor, as PyTorch allows)."""
    a = draw(tensors(shapes(min_dims=min_dims, max_dims=3)))
    return a, draw(st.integers(-max(a.ndim, 1), max(a.ndim, 1) - 1))


@given(case=tensor_and_dim(), chunks=st.integers(1, 4))
def test_chunk_and_split_gradients(case, chunks):
    a, dim = case
    check_derivatives(lambda a: a.chunk(chunks, dim), [a], second=False)
    check_derivatives(lambda a: a.split(chunks, dim), [a], second=False)


@given(case=tensor_and_dim(min_dims=0), data=st.data())
def test_view_ops_gradients(case, data):
    a, _ = case
    dim = data.draw(st.integers(-a.ndim - 1, a.ndim))
    order = data.draw(st.permutations(range(a.ndim)))
    check_derivatives(lambda a: a.unsqueeze(dim).squeeze(), [a], second=False)
    check_derivatives(lambda a: a.permute(*order).flatten(), [a], second=False)
    check_derivatives(lambda a: a.permute(*order).contiguous() * a.clone().permute(*order), [a])
    check_derivatives(lambda a: a.unsqueeze(0).expand(2, *a.shape), [a], second=False)
    if a.ndim:
        first, second = data.draw(st.integers(0, a.ndim - 1)), data.draw(st.integers(0, a.ndim - 1))
        check_derivatives(lambda a: a.transpose(first, second).view(-1), [a], second=False)


@given(data=st.data())
def test_max_and_min_along_a_dim_gradients(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    a = Tensor(distinct(*shape), requires_grad=True)
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    keepdim = data.draw(st.booleans())
    check_derivatives(lambda a: a.max(dim, keepdim).values, [a])
    check_derivatives(lambda a: mg.min(a, dim=dim, keepdim=keepdim)[0], [a])
    check_derivatives(lambda a: a.min(axis=dim) * a.max(), [a])


# --- reductions ------------------------------------------------------------------------------

REDUCTIONS = {
    "sum dim keepdim": (lambda a: a.sum(dim=1, keepdim=True), lambda a: a.sum(1, keepdim=True)),
    "sum dims": (lambda a: mg.sum(a, dim=(0, 2)), lambda a: a.sum((0, 2))),
    "mean dim": (lambda a: a.mean(dim=-1), lambda a: a.mean(-1)),
    "max": (lambda a: a.max(), lambda a: a.max()),
    "max dim": (lambda a: a.max(dim=1), lambda a: a.max(dim=1)),
    "max dim keepdim": (lambda a: a.max(0, True), lambda a: a.max(0, True)),
    "amax axis": (lambda a: a.max(axis=(1, 2)), lambda a: a.amax((1, 2))),
    "min": (lambda a: mg.min(a), lambda a: a.min()),
    "min dim": (lambda a: a.min(2), lambda a: a.min(2)),
    "amin axis": (lambda a: a.min(axis=1, keepdims=True), lambda a: a.amin(1, keepdim=True)),
    "argmax": (lambda a: a.argmax(), lambda a: a.argmax()),
    "argmax dim": (lambda a: mg.argmax(a, 1), lambda a: a.argmax(1)),
    "argmin dim keepdim": (lambda a: a.argmin(2, True), lambda a: a.argmin(2, True)),
    "argmin": (lambda a: a.argmin(), lambda a: a.argmin()),
    "logsumexp": (lambda a: a.logsumexp(1), lambda a: a.logsumexp(1)),
    "logsumexp dims": (
        lambda a: mg.logsumexp(a, (0, 2), keepdim=True),
        lambda a: a.logsumexp((0, 2), keepdim=True),
    ),
    "var": (lambda a: a.var(), lambda a: a.var()),
    "var dim": (lambda a: a.var(1), lambda a: a.var(1)),
    "var unbiased=False": (lambda a: a.var(0, False), lambda a: a.var(0, False)),
    "var correction": (
        lambda a: mg.var(a, (1, 2), correction=2, keepdim=True),
        lambda a: a.var((1, 2), correction=2, keepdim=True),
    ),
    "std": (lambda a: a.std(), lambda a: a.std()),
    "std dim": (lambda a: a.std(dim=2, correction=0), lambda a: a.std(dim=2, correction=0)),
    "prod": (lambda a: a.prod(), lambda a: a.prod()),
    "prod dim": (lambda a: a.prod(1), lambda a: a.prod(1)),
    "prod keepdim": (lambda a: mg.prod(a, -1, True), lambda a: a.prod(-1, True)),
    "cumsum": (lambda a: a.cumsum(1), lambda a: a.cumsum(1)),
    "cumsum axis": (lambda a: mg.cumsum(a, axis=-1), lambda a: a.cumsum(-1)),
    "softmax": (lambda a: a.softmax(1), lambda a: a.softmax(1)),
    "log_softmax": (lambda a: mg.log_softmax(a, dim=-1), lambda a: a.log_softmax(-1)),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reductions_match_torch(name):
    ours, theirs = REDUCTIONS[name]
    against_torch(ours, theirs, distinct(2, 3, 4))


ZERO_D = {
    "logsumexp": lambda t: t.logsumexp(0),
    "logsumexp keepdim": lambda t: t.logsumexp(-1, True),
    "softmax": lambda t: t.softmax(0),
    "log_softmax": lambda t: t.log_softmax(-1),
    "var": lambda t: t.var(correction=0),
    "std dim": lambda t: t.std(0, correction=0),
    "prod": lambda t: t.prod(),
    "prod dim": lambda t: t.prod(0),
    "cumsum": lambda t: t.cumsum(0),
    "max dim": lambda t: t.max(0),
    "min dim keepdim": lambda t: t.min(0, True),
    "argmax": lambda t: t.argmax(),
    "argmin dim": lambda t: t.argmin(0),
    "flatten": lambda t: t.flatten(),
    "unsqueeze": lambda t: t.unsqueeze(0),
    "squeeze dim": lambda t: t.squeeze(0),
    "transpose": lambda t: t.transpose(0, -1),
}


@pytest.mark.parametrize("name", list(ZERO_D))
def test_zero_dim_tensors_as_torch(name):
    """0-d tensors take dim 0 or -1, as PyTorch's."""
    against_torch(ZERO_D[name], ZERO_D[name], np.array(1.7))


def test_std_of_a_constant_row_has_a_zero_gradient_as_torch():
    rows = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])
    against_torch(lambda t: t.std(1), lambda t: t.std(1), rows)
    against_torch(lambda t: t.std(1, keepdim=True) * t, lambda t: t.std(1, keepdim=True) * t, rows)


def test_prod_with_zeros_matches_torch():
    for zeros_at in ([0], [0, 5], [1, 2, 3]):
        a = arr(2, 4)
        a.reshape(-1)[zeros_at] = 0
        against_torch(lambda t: t.prod(1), lambda t: t.prod(1), a)
        against_torch(lambda t: t.prod(), lambda t: t.prod(), a)


def test_max_along_dim_sends_the_gradient_to_the_first_maximum_as_torch():
    a = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    against_torch(lambda t: t.max(1), lambda t: t.max(1), a)
    against_torch(lambda t: t.min(dim=0), lambda t: t.min(dim=0), a)
    x = mg.tensor(a, requires_grad=True)
    x.max(axis=1).sum().backward()  # numpy's amax: ties share
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [0.5, 0.5, 0]])


def test_indices_are_whole_numbers_that_a_float32_tensor_can_hold():
    small = mg.tensor(np.array([[1.0, 5.0, 2.0]], np.float32))
    assert small.argmax(1).dtype == np.float32 and small.max(dim=1).indices.tolist() == [1.0]
    big = mg.from_numpy(np.zeros(2**24 + 2, np.float32))
    big.data[-1] = 1
    found = big.argmax()
    assert found.dtype == np.float64 and found.item() == 2**24 + 1  # float32 would round it


def test_numpy_max_and_min_on_a_tensor_keep_numpys_axis():
    a = distinct(2, 3)
    t = Tensor(a, requires_grad=True)
    for ours, theirs in [
        (np.max(t, 1), a.max(1)),
        (np.amin(t, 0, keepdims=True), a.min(0, keepdims=True)),
    ]:
        assert isinstance(ours, Tensor)
        np.testing.assert_array_equal(ours.data, theirs)
    np.min(t, axis=1).sum().backward()
    np.testing.assert_array_equal(t.grad, a == a.min(1, keepdims=True))


def test_logsumexp_is_finite_for_large_and_infinite_inputs():
    a = np.array([[1000.0, 1000.0, -np.inf], [-np.inf, -np.inf, -np.inf]])
    with np.errstate(divide="ignore"):  # log(0) = -inf for the row of -inf, as PyTorch
        out = mg.logsumexp(mg.tensor(a), 1)
    np.testing.assert_allclose(out.data, torch.logsumexp(torch.tensor(a), 1).numpy())
    against_torch(lambda t: t.logsumexp(0), lambda t: t.logsumexp(0), np.array([800.0, 799.0]))


def test_softmax_and_logsumexp_over_an_empty_axis_as_torch():
    empty = np.zeros((2, 0))
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf, as PyTorch
        against_torch(lambda t: t.logsumexp(1), lambda t: t.logsumexp(1), empty)
    against_torch(lambda t: t.softmax(1), lambda t: t.softmax(1), empty)
    against_torch(lambda t: t.log_softmax(0), lambda t: t.log_softmax(0), empty)


@pytest.mark.filterwarnings("ignore:var:UserWarning")  # PyTorch warns about dof <= 0
def test_var_of_too_few_elements_is_nan_or_inf_as_torch():
    with np.errstate(invalid="ignore"):
        one = mg.tensor([2.0]).var()
        two = mg.tensor([1.0, 2.0]).var(correction=2)
    assert np.isnan(one.item()) and np.isnan(torch.tensor([2.0]).var().item())
    assert two.item() == torch.tensor([1.0, 2.0]).var(correction=2).item() == np.inf


@given(case=tensor_and_dim(), keepdim=st.booleans())
def test_reduction_gradients(case, keepdim):
    a, dim = case
    check_derivatives(lambda a: a.logsumexp(dim, keepdim), [a])
    check_derivatives(lambda a: a.softmax(dim), [a])
    check_derivatives(lambda a: a.log_softmax(dim), [a])
    check_derivatives(lambda a: a.cumsum(dim), [a])
    check_derivatives(lambda a: a.prod(dim, keepdim), [a])
    if a.shape[dim] > 1:
        check_derivatives(lambda a: a.var(dim, keepdim=keepdim), [a])


@given(a=tensors(shapes(min_dims=1, max_dims=2, max_side=4), elements=(0.5, 2.0)))
def test_std_gradients(a):
    if a.numel() > 1 and np.ptp(a.data) > 0.05:
        check_derivatives(lambda a: a.std(), [a])


@given(
    a=tensors(shapes(min_dims=1, max_dims=2), elements=(-2.0, 2.0)),
    zero=st.integers(0, 15),
)
def test_prod_gradients_with_a_zero(a, zero):
    a.data.reshape(-1)[zero % a.numel()] = 0.0
    check_derivatives(lambda a: a.prod(-1), [a])
    check_derivatives(lambda a: a.prod(), [a])


# --- elementwise -----------------------------------------------------------------------------

TF = None  # torch.nn.functional, filled in below

ELEMENTWISE = {
    "square": (lambda a: a.square(), lambda a: a.square()),
    "reciprocal": (lambda a: mg.reciprocal(a), lambda a: a.reciprocal()),
    "sign": (lambda a: a.sign(), lambda a: a.sign()),
    "sin": (lambda a: mg.sin(a), lambda a: a.sin()),
    "cos": (lambda a: a.cos(), lambda a: a.cos()),
    "erf": (lambda a: a.erf(), lambda a: a.erf()),
    "softplus": (lambda a: mg.softplus(a), lambda a: TF.softplus(a)),
    "softplus beta": (lambda a: mg.softplus(a, 2.0, 3.0), lambda a: TF.softplus(a, 2.0, 3.0)),
    "gelu": (lambda a: mg.gelu(a), lambda a: TF.gelu(a)),
    "gelu tanh": (lambda a: mg.gelu(a, "tanh"), lambda a: TF.gelu(a, approximate="tanh")),
    "silu": (lambda a: mg.silu(a), lambda a: TF.silu(a)),
    "leaky_relu": (lambda a: mg.leaky_relu(a), lambda a: TF.leaky_relu(a)),
    "leaky_relu slope": (lambda a: mg.leaky_relu(a, 0.2), lambda a: TF.leaky_relu(a, 0.2)),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise_matches_torch(name):
    global TF
    TF = torch.nn.functional
    ours, theirs = ELEMENTWISE[name]
    values = np.concatenate([arr(20) * 3, [0.0, -40.0, 40.0, 7.5, -7.5, 1e-3]])
    with np.errstate(divide="ignore"):  # 1 / 0 = inf, as PyTorch
        against_torch(ours, theirs, values, atol=1e-14)


SPECIAL = np.array(
    [[np.nan, 1.0, -np.inf, 0.0], [np.inf, -0.0, 3.0, 3.0], [-2, -2, 1e308, -1e-308]]
)


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (lambda t: t.sign(), lambda t: t.sign()),
        (lambda t: t.erf(), lambda t: t.erf()),
        (lambda t: mg.gelu(t), lambda t: torch.nn.functional.gelu(t)),
        (lambda t: mg.softplus(t), lambda t: torch.nn.functional.softplus(t)),
        (lambda t: mg.leaky_relu(t), lambda t: torch.nn.functional.leaky_relu(t)),
        (lambda t: t.logsumexp(1), lambda t: t.logsumexp(1)),
        (lambda t: t.softmax(1), lambda t: t.softmax(1)),
        (lambda t: t.max(1).values, lambda t: t.max(1).values),
        (lambda t: t.argmin(0), lambda t: t.argmin(0)),
        (lambda t: t.cumsum(1), lambda t: t.cumsum(1)),
        (lambda t: t.prod(1), lambda t: t.prod(1)),
    ],
)
def test_nan_and_infinities_as_torch(ours, theirs):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = ours(mg.tensor(SPECIAL)).data
    np.testing.assert_allclose(got, theirs(torch.tensor(SPECIAL)).double().numpy(), rtol=1e-12)


def test_softplus_keeps_tiny_values():
    out = mg.softplus(mg.tensor([-40.0, -700.0]))
    np.testing.assert_allclose(out.data, TFsoftplus([-40.0, -700.0]), rtol=1e-14)
    assert out.data[0] > 0


def TFsoftplus(values):
    return torch.nn.functional.softplus(torch.tensor(values, dtype=torch.float64)).numpy()


def test_float32_stays_float32():
    x = mg.tensor(arr(3, 4).astype(np.float32), requires_grad=True)
    outs = [mg.gelu(x), mg.softplus(x), mg.silu(x), x.sin(), x.sign(), x.var(1), x.prod(1)]
    outs += [x.logsumexp(0), x.cumsum(1), x.softmax(1), mg.einsum("ij,ij->i", x, x)]
    assert all(o.dtype == np.float32 for o in outs)
    sum(o.sum() for o in outs).backward()
    assert x.grad.dtype == np.float32


@given(a=tensors(shapes(max_dims=2), elements=(-3.0, 3.0)))
def test_elementwise_gradients(a):
    check_derivatives(lambda a: a.sin() * a.cos() + a.square(), [a])
    check_derivatives(lambda a: mg.gelu(a) + mg.gelu(a, "tanh"), [a])
    check_derivatives(lambda a: mg.softplus(a) + mg.softplus(a, 3.0, 5.0) + mg.silu(a), [a])
    check_derivatives(lambda a: a.erf(), [a])
    if np.all(np.abs(a.data) > 0.05):
        check_derivatives(lambda a: mg.leaky_relu(a, 0.1) + a.sign() * a, [a])
        check_derivatives(lambda a: a.reciprocal(), [a])


# --- indexing --------------------------------------------------------------------------------


def test_gather_index_select_masked_fill_match_torch():
    a = arr(3, 4)
    index = np.array([[0, 3, 3], [1, 1, 0]])
    against_torch(lambda t: t.gather(1, index), lambda t: t.gather(1, torch.tensor(index)), a)
    against_torch(
        lambda t: mg.gather(t, 0, mg.tensor(index % 3)),  # float indices are accepted
        lambda t: torch.gather(t, 0, torch.tensor(index % 3)),
        a,
    )
    picks = [2, 0, 2]
    against_torch(
        lambda t: t.index_select(0, picks), lambda t: t.index_select(0, torch.tensor(picks)), a
    )
    against_torch(
        lambda t: mg.index_select(t, -1, np.array([3, 3])),
        lambda t: t.index_select(-1, torch.tensor([3, 3])),
        a,
    )
    mask = a > 0.3
    against_torch(
        lambda t: t.masked_fill(mask, -1.5), lambda t: t.masked_fill(torch.tensor(mask), -1.5), a
    )
    row = a[0] > 0
    against_torch(
        lambda t, v: mg.masked_fill(t, row, v),
        lambda t, v: t.masked_fill(torch.tensor(row), v),
        a,
        np.array(2.0),
    )


@given(a=tensors(shapes(min_dims=1, max_dims=3)), data=st.data())
def test_gather_and_index_select_gradients(a, data):
    dim = data.draw(st.integers(0, a.ndim - 1))
    shape = tuple(data.draw(st.integers(1, n)) if i != dim else 3 for i, n in enumerate(a.shape))
    index = np.random.default_rng(0).integers(0, a.shape[dim], shape)
    check_derivatives(lambda a: a.gather(dim, index), [a])
    check_derivatives(lambda a: a.index_select(dim, index.reshape(-1)), [a])
    mask = np.arange(a.numel()).reshape(a.shape) % 2 == 0
    check_derivatives(lambda a: a.masked_fill(mask, 0.5), [a])


# --- einsum ----------------------------------------------------------------------------------

EQUATIONS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
    ("i,i->", [(5,), (5,)]),
    ("i,j->ij", [(3,), (2,)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("iji->j", [(2, 3, 2)]),
    ("ij->", [(2, 3)]),
    ("ij->ji", [(2, 3)]),
    ("ijk,jl,lk->il", [(2, 3, 4), (3, 5), (5, 4)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]),
    ("i,jk->", [(2,), (3, 4)]),
    (" ab , bc -> ca ", [(2, 3), (3, 2)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)]),
    ("...ij,...jk", [(2, 1, 3, 4), (5, 4, 2)]),
    ("i...->...", [(3, 2, 2)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("bi...,bi...->b", [(2, 3, 1), (2, 3, 4)]),
    ("...,...->...", [(2, 3), (3,)]),
]


@pytest.mark.parametrize("equation, shapes_", EQUATIONS, ids=[e for e, _ in EQUATIONS])
def test_einsum_matches_torch(equation, shapes_):
    arrays = [arr(*s) for s in shapes_]
    against_torch(
        lambda *ts: mg.einsum(equation, *ts), lambda *ts: torch.einsum(equation, *ts), *arrays
    )
    inputs = [mg.tensor(x, requires_grad=True) for x in arrays]
    check_derivatives(lambda *ts: mg.einsum(equation, list(ts)), inputs)


@given(sizes=st.lists(st.integers(1, 3), min_size=4, max_size=4), data=st.data())
def test_einsum_gradients_on_drawn_sizes(sizes, data):
    b, i, j, k = sizes
    equation, shapes_ = data.draw(
        st.sampled_from(
            [
                ("bij,bjk->bik", [(b, i, j), (b, j, k)]),
                ("ij,kj,k->i", [(i, j), (k, j), (k,)]),
                ("iij->j", [(i, i, j)]),
                ("bi,bi->b", [(b, i), (b, i)]),
                ("...ij,...jk->...ik", [(b, i, j), (j, k)]),
            ]
        )
    )
    inputs = [Tensor(arr(*s), requires_grad=True) for s in shapes_]
    np.testing.assert_allclose(
        mg.einsum(equation, *inputs).data,
        np.einsum(equation, *[t.data for t in inputs]),
        rtol=1e-12,
        atol=1e-12,
    )
    check_derivatives(lambda *ts: mg.einsum(equation, *ts), inputs)


# --- argument errors -------------------------------------------------------------------------

X = mg.tensor(np.arange(6.0).reshape(2, 3))

ERRORS = [
    (lambda: X.sum(dim=0, axis=1), TypeError, "sum: got both dim=0 and axis=1"),
    (lambda: X.mean(keepdim=True, keepdims=False), TypeError, "mean: got keepdim=True"),
    (lambda: X.max(dim=(0, 1)), TypeError, "max: dim must be an int"),
    (lambda: X.min(dim=2), IndexError, "min: dim 2 is out of range"),
    (lambda: X.argmax(5), IndexError, "argmax: dim 5 is out of range"),
    (lambda: mg.zeros(0).argmax(), IndexError, "argmax: the tensor is empty"),
    (lambda: X.logsumexp(), TypeError, "logsumexp: dim is required"),
    (lambda: X.softmax(), TypeError, "softmax: dim is required"),
    (lambda: X.cumsum(), TypeError, "cumsum: dim is required"),
    (lambda: X.var(0, True, correction=1), TypeError, "var: pass unbiased or correction"),
    (lambda: X.prod((0, 1)), TypeError, "prod: dim must be an int"),
    (lambda: X.permute(0, 0), ValueError, r"permute: \(0, 0\) is not a permutation"),
    (lambda: X.permute(0), ValueError, "permute"),
    (lambda: X.transpose(0, 2), IndexError, "transpose: dim 2 is out of range"),
    (lambda: X.flatten(1, 0), ValueError, "flatten: start_dim 1 comes after end_dim 0"),
    (lambda: X.unsqueeze(3), IndexError, "unsqueeze: dim 3 is out of range"),
    (lambda: X.expand(3, 3), ValueError, r"broadcast_to: cannot broadcast shape \(2, 3\)"),
    (lambda: X.expand(-1, 2, 3), ValueError, "expand: -1 is not allowed"),
    (lambda: X.expand(3), ValueError, "expand: .* fewer dims"),
    (lambda: X.chunk(0), ValueError, "chunk: chunks must be a positive integer"),
    (lambda: X.split([1, 1], 1), ValueError, r"split: sizes \[1, 1\] must .* add up to 3"),
    (lambda: X.split(0), ValueError, "split: split_size must be positive"),
    (lambda: X.gather(1, [[3]]), IndexError, "gather: index 3 is out of range"),
    (lambda: X.gather(1, [[-1]]), IndexError, "gather: index -1 is out of range"),
    (lambda: X.gather(1, [0]), ValueError, r"gather: index of shape \(1,\) does not fit"),
    (lambda: X.gather(1, [[0.5]]), TypeError, "gather: index must hold whole numbers"),
    (lambda: X.gather(0, np.zeros((1, 4), int)), ValueError, "gather: index of shape"),
    (lambda: X.index_select(0, [[0]]), ValueError, "index_select: index must be 1-D"),
    (lambda: X.index_select(1, [3]), IndexError, "index_select: index 3 is out of range"),
    (lambda: X.masked_fill(X.data, 0), TypeError, "masked_fill: mask must be boolean"),
    (lambda: X.masked_fill(np.ones((3, 3), bool), 0), ValueError, "masked_fill: mask of shape"),
    (lambda: X.masked_fill(X.data > 1, X), ValueError, "masked_fill: value must be a number"),
    (lambda: mg.gelu(X, "fast"), ValueError, "gelu: approximate must be"),
    (lambda: mg.einsum("ij,jk", X), ValueError, "einsum: 'ij,jk' has 2 operand"),
    (lambda: mg.einsum("ijk", X), ValueError, "einsum: subscripts 'ijk' name 3 axes"),
    (lambda: mg.einsum("ij,ij", X, X.T), ValueError, "einsum: axis 'i' has sizes 2 and 3"),
    (lambda: mg.einsum("ij->ii", X), ValueError, "einsum: output 'ii' must name distinct"),
    (lambda: mg.einsum("ij->k", X), ValueError, "einsum: output 'k'"),
    (lambda: mg.einsum("i1", X), ValueError, "einsum: subscripts must be letters"),
    (lambda: mg.einsum("i..j", X), ValueError, "einsum: subscripts must be letters"),
    (lambda: mg.einsum("...ijk", X), ValueError, "einsum: '...ijk' names more axes"),
    (lambda: mg.einsum("...i,...i", X, X.T), ValueError, r"einsum: the axes '\.\.\.' covers"),
    (lambda: X.size("a"), TypeError, "size: dim must be an int"),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_argument_errors(k):
    call, error, match = ERRORS[k]
    with pytest.raises(error, match=match):
        call()


# --- under minigrad.compile ------------------------------------------------------------------

COMPILED = {
    "softmax": lambda x: x.softmax(1) * x,
    "log_softmax": lambda x: mg.log_softmax(x, dim=0),
    "logsumexp": lambda x: x.logsumexp(1, keepdim=True) * x,
    "leaky_relu": lambda x: mg.leaky_relu(x, 0.2),
    "activations": lambda x: mg.gelu(x) + mg.softplus(x) + mg.silu(x) + x.sin() * x.erf(),
    "einsum": lambda x: mg.einsum("ij,kj->ik", x, x),
    "var": lambda x: x.var(1) + x.std(0).sum() + x.min(axis=0).sum(),
    "shape": lambda x: mg.cat(x.chunk(2, 1), dim=0).unsqueeze(0).expand(2, -1, -1).transpose(0, 2),
    "cumsum": lambda x: x.cumsum(1).permute(1, 0).flatten(),
    "indexing": lambda x: x.gather(1, [[0], [1], [2]]) * x.index_select(0, [2, 0, 2]),
    "casts": lambda x: x.float().double() * x.clone(),
}


@pytest.mark.parametrize("name", list(COMPILED))
def test_compiled_matches_eager(name):
    fn = COMPILED[name]
    compiled = mg.compile(fn)
    for seed in (0, 1):  # the second call replays the traced program on new values
        values = np.random.default_rng(seed).standard_normal((3, 4))
        x, y = Tensor(values, requires_grad=True), Tensor(values, requires_grad=True)
        eager, replayed = fn(x), compiled(y)
        np.testing.assert_allclose(replayed.data, eager.data, rtol=1e-12, atol=1e-12)
        (eager * eager).sum().backward()
        (replayed * replayed).sum().backward()
        np.testing.assert_allclose(y.grad, x.grad, rtol=1e-10, atol=1e-12)


def test_value_dependent_ops_refuse_compiling_loudly():
    x = Tensor(arr(3, 4), requires_grad=True)
    for fn in (lambda x: x.max(dim=1).values, lambda x: x.argmax(1) * x.sum()):
        with pytest.raises(mg.CompileError, match="reads the value of a traced tensor"):
            mg.compile(fn)(x)


def test_set_default_dtype_reaches_tensor_numbers_and_new_layers_as_pytorch():
    mg.set_default_dtype(np.float32)
    torch.set_default_dtype(torch.float32)
    try:
        assert mg.Tensor([1.0, 2.0]).dtype == np.float32  # Python numbers: the default
        assert torch.tensor([1.0, 2.0]).dtype == torch.float32
        assert mg.Tensor(np.ones(2)).dtype == np.float64  # a numpy float array keeps its own
        assert torch.tensor(np.ones(2)).dtype == torch.float64
        assert (mg.Tensor([1.0]) * 2.5).dtype == np.float32
        for layer in (mg.nn.Linear(3, 2), mg.nn.LSTM(3, 2), mg.nn.Embedding(4, 2)):
            assert {p.dtype for p in layer.parameters()} == {np.dtype(np.float32)}
        assert mg.nn.Linear(3, 2, dtype=np.float64).weight.dtype == np.float64
    finally:
        mg.set_default_dtype(np.float64)
        torch.set_default_dtype(torch.float32)
    assert mg.Tensor([1.0]).dtype == np.float64 and mg.nn.Linear(3, 2).weight.dtype == np.float64
