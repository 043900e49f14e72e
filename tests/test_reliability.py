"""No silent wrong answers: grad mode per thread, PyTorch's operator habits, bad input, edges."""

from __future__ import annotations

import copy
import gc
import pickle
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import require

import minigrad as mg
from minigrad import debug
from minigrad.grad_mode import is_grad_enabled, no_grad, set_grad_enabled
from minigrad.testing import broadcastable_shapes, mutually_broadcastable_shapes, shapes, tensors

# --- grad mode is per thread ------------------------------------------------------------------


def run_in_thread(fn):
    """Run `fn` in a new thread and return what it returned (re-raising what it raised)."""
    box: dict = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as error:  # noqa: BLE001 - handed back to the caller
            box["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_a_new_thread_records_even_while_another_is_inside_no_grad() -> None:
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        y = run_in_thread(lambda: (x * x).sum())
        assert not is_grad_enabled()
    assert y.grad_fn is not None
    y.backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0])
    assert is_grad_enabled()


def test_no_grad_in_one_thread_does_not_leak_into_another() -> None:
    inside, release = threading.Event(), threading.Event()

    def idle_in_no_grad() -> None:
        with no_grad():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=idle_in_no_grad)
    thread.start()
    inside.wait(5)
    try:
        x = mg.Tensor([3.0], requires_grad=True)
        assert is_grad_enabled()
        assert (x * 2.0).grad_fn is not None
    finally:
        release.set()
        thread.join()
    assert is_grad_enabled()
    assert run_in_thread(is_grad_enabled)


def test_two_threads_training_interleaved_keep_their_own_mode() -> None:
    barrier = threading.Barrier(2, timeout=5)

    def train(seed: int) -> np.ndarray:
        w = mg.Tensor(np.full(3, float(seed)), requires_grad=True)
        for _ in range(20):
            barrier.wait()
            with no_grad():  # the other thread is recording meanwhile
                barrier.wait()
            loss = (w * w).sum()
            barrier.wait()
            loss.backward()
        return w.grad

    results: dict = {}
    threads = [
        threading.Thread(target=lambda s=s: results.__setitem__(s, train(s))) for s in (1, 2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_allclose(results[1], np.full(3, 40.0))
    np.testing.assert_allclose(results[2], np.full(3, 80.0))
    assert is_grad_enabled()


def test_anomaly_mode_and_trace_are_per_thread() -> None:
    with debug.detect_anomaly():
        assert not run_in_thread(debug.is_anomaly_enabled)
    x = mg.Tensor([1.0], requires_grad=True)
    with debug.trace(print_table=False) as t:
        run_in_thread(lambda: (x * 2.0).sum().backward())
    assert t.rows == []
    np.testing.assert_allclose(x.grad, [2.0])


# --- set_grad_enabled and no_grad on generators -------------------------------------------------


def test_set_grad_enabled_as_a_function_a_context_manager_and_a_decorator() -> None:
    x = mg.Tensor([1.0], requires_grad=True)
    set_grad_enabled(False)
    try:
        assert not is_grad_enabled() and (x * 2.0).grad_fn is None
    finally:
        set_grad_enabled(True)
    with set_grad_enabled(False):
        assert not is_grad_enabled()
        with set_grad_enabled(True):
            assert (x * 2.0).grad_fn is not None
        assert not is_grad_enabled()
    assert is_grad_enabled()

    @set_grad_enabled(False)
    def f() -> mg.Tensor:
        return x * 2.0

    assert is_grad_enabled()  # decorating does not switch the mode
    assert f().grad_fn is None
    assert is_grad_enabled()
    assert mg.set_grad_enabled is set_grad_enabled


def test_set_grad_enabled_restores_the_mode_after_an_exception() -> None:
    with pytest.raises(ZeroDivisionError):
        with set_grad_enabled(False):
            1 / 0  # noqa: B018
    assert is_grad_enabled()


def test_no_grad_on_a_generator_function_covers_its_body() -> None:
    x = mg.Tensor([1.0], requires_grad=True)

    @no_grad()
    def doubles(n: int):
        for _ in range(n):
            yield x * 2.0, is_grad_enabled()

    seen = []
    for y, mode in doubles(3):
        seen.append((y.grad_fn is None, mode, is_grad_enabled()))
    assert seen == [(True, False, True)] * 3

    @mg.enable_grad()
    def recording():
        yield x * 2.0

    with no_grad():
        (y,) = list(recording())
        assert not is_grad_enabled()
    assert y.grad_fn is not None


# --- comparisons, truth value, hashing ------------------------------------------------------------


def test_eq_and_ne_are_elementwise_like_the_other_comparisons() -> None:
    a = mg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = mg.Tensor([1.0, 5.0, 3.0])
    np.testing.assert_array_equal(a == b, [True, False, True])
    np.testing.assert_array_equal(a != b, [False, True, False])
    np.testing.assert_array_equal(a == 2.0, [False, True, False])
    np.testing.assert_array_equal(np.array([1.0, 0.0, 3.0]) == a, [True, False, True])
    np.testing.assert_array_equal(2.0 != a, [True, False, True])
    for result in (a == b, a != b, a < b, a <= b, a > b, a >= b):
        assert type(result) is np.ndarray and result.dtype == bool  # no gradient, no graph


def test_tensors_hash_by_identity_in_dicts_and_sets() -> None:
    a, b = mg.Tensor([1.0, 2.0]), mg.Tensor([1.0, 2.0])
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b"
    assert len({a, b, a}) == 2


def test_truth_value_of_one_element_tensors_and_refusal_for_more() -> None:
    assert bool(mg.Tensor([0.0])) is False
    assert bool(mg.Tensor(0.0)) is False
    assert bool(mg.Tensor([[2.5]])) is True
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        bool(mg.Tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="no values is ambiguous"):
        bool(mg.Tensor(np.zeros(0)))


# --- bad values at construction -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [None, [1.0, None], "1.5", ["1", "2"], 1 + 2j, [1.0, 2j], np.array([1, "a"], dtype=object)],
    ids=["None", "list-with-None", "str", "strs", "complex", "complex-list", "object-array"],
)
def test_construction_refuses_values_that_are_not_real_numbers(value) -> None:
    with pytest.raises(TypeError, match="Tensor"):
        mg.Tensor(value)
    with pytest.raises(TypeError, match="Tensor"):
        mg.Tensor(value, dtype=np.float32)


def test_construction_refuses_a_list_of_tensors_and_names_stack() -> None:
    with pytest.raises(TypeError, match="stack"):
        mg.Tensor([mg.Tensor([1.0]), mg.Tensor([2.0])])
    with pytest.raises(TypeError, match="stack"):
        mg.Tensor([[1.0], mg.Tensor([2.0])])


def test_arithmetic_with_none_or_strings_is_a_type_error() -> None:
    x = mg.Tensor([1.0, 2.0])
    for bad in (None, "2", 1j):
        with pytest.raises(TypeError):
            x * bad
        with pytest.raises(TypeError):
            bad + x


def test_construction_still_takes_numbers_bools_and_arrays() -> None:
    np.testing.assert_array_equal(mg.Tensor([True, False]).data, [1.0, 0.0])
    assert mg.Tensor(np.arange(3)).dtype == np.float64
    assert mg.Tensor(np.ones(2, np.float32)).dtype == np.float32
    assert mg.Tensor(mg.Tensor([1.0], dtype=np.float32)).dtype == np.float32
    assert mg.Tensor([], dtype=np.float32).shape == (0,)


# --- indexing -------------------------------------------------------------------------------------


def test_float_index_lists_are_refused() -> None:
    x = mg.Tensor([10.0, 20.0, 30.0])
    with pytest.raises(IndexError, match="float"):
        x[[0.9, 1.9]]
    with pytest.raises(IndexError):
        x[np.array([0.5])]


def test_a_mask_or_fractions_in_a_tensor_index_are_refused_clearly() -> None:
    x = mg.Tensor([10.0, 20.0, 30.0])
    mask = mg.Tensor(np.array([True, False, True]))
    with pytest.raises(IndexError, match="ambiguous"):
        x[mask]
    with pytest.raises(IndexError, match="whole numbers"):
        x[mg.Tensor([0.5, 2.0])]
    y = mg.Tensor(np.ones((2, 3)))
    with pytest.raises(IndexError, match="ambiguous"):
        y[0, mg.Tensor([0.0, 1.0])]
    np.testing.assert_array_equal(x[mg.Tensor([2.0, 0.0])].data, [30.0, 10.0])


def test_numpy_masks_and_integer_lists_keep_working() -> None:
    x = mg.Tensor([10.0, 20.0, 30.0], requires_grad=True)
    np.testing.assert_array_equal(x[np.array([True, False, True])].data, [10.0, 30.0])
    np.testing.assert_array_equal(x[[True, False, True]].data, [10.0, 30.0])
    y = x[[2, 0, 2]]
    np.testing.assert_array_equal(y.data, [30.0, 10.0, 30.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 2.0])


# --- dtype ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "other",
    [2, 2.5, True, np.int64(2), np.bool_(True), np.float64(2.5), np.array(2.5), np.array(3)],
    ids=["int", "float", "bool", "np.int64", "np.bool_", "np.float64", "0-d float64", "0-d int"],
)
def test_float32_stays_float32_next_to_scalars(other) -> None:
    x = mg.Tensor([1.0, 2.0], dtype=np.float32)
    for result in (
        x * other,
        other * x,
        x + other,
        other - x,
        x / other,
        x**other,
        mg.maximum(x, other),
    ):
        assert result.dtype == np.float32


def test_mixing_float32_and_float64_tensors_follows_numpy() -> None:
    x = mg.Tensor([1.0], dtype=np.float32)
    y = mg.Tensor([1.0], dtype=np.float64)
    assert (x * y).dtype == np.float64
    assert (x * np.ones(1)).dtype == np.float64  # an array of float64 is like a tensor
    assert (x * np.ones(1, np.int64)).dtype == np.float64  # numpy's rule for arrays


# --- numpy interop --------------------------------------------------------------------------------


def test_numpy_conversion_gives_the_float_array() -> None:
    x = mg.Tensor([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    for array in (np.asarray(x), np.array(x)):
        assert array.dtype == np.float32 and array.shape == (2, 2)
        np.testing.assert_array_equal(array, [[1.0, 2.0], [3.0, 4.0]])
    assert np.array(x, dtype=np.float64).dtype == np.float64
    copied = np.array(x)
    copied[0, 0] = 9.0
    assert x.data[0, 0] == 1.0
    assert np.asarray(mg.Tensor([1.0], requires_grad=True) * 2.0).dtype == np.float64


def test_numpy_functions_on_tensors_work_or_name_the_minigrad_call() -> None:
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    total = np.sum(x)
    assert isinstance(total, mg.Tensor) and total.item() == 3.0
    e = np.exp(x)
    assert isinstance(e, mg.Tensor)
    np.testing.assert_allclose(e.data, np.exp([1.0, 2.0]))
    (total + e.sum()).backward()
    np.testing.assert_allclose(x.grad, 1 + np.exp([1.0, 2.0]))
    with pytest.raises(TypeError, match="minigrad"):
        np.sin(x)
    with pytest.raises(TypeError, match="minigrad"):
        np.cumsum(x)
    assert np.isfinite(x).all() and np.allclose(x, [1.0, 2.0]) and np.argmax(x) == 1
    np.testing.assert_array_equal((np.ones(2) * x).data, [1.0, 2.0])  # ndarray * Tensor
    assert isinstance(np.ones(2) - x, mg.Tensor)


def test_iterating_a_0d_tensor_is_a_type_error_and_rows_otherwise() -> None:
    with pytest.raises(TypeError, match="0-d"):
        list(mg.Tensor(1.0))
    with pytest.raises(TypeError, match="0-d"):
        iter(mg.Tensor(1.0))
    x = mg.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    rows = list(x)
    assert len(rows) == 2 and rows[1].shape == (2,)
    (rows[0] * 2.0 + rows[1]).sum().backward()
    np.testing.assert_array_equal(x.grad, [[2.0, 2.0], [1.0, 1.0]])


# --- deepcopy and pickle --------------------------------------------------------------------------


def test_deepcopy_and_pickle_of_a_non_leaf_raise_clearly(recwarn) -> None:
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(y)
    with pytest.raises(RuntimeError, match="graph leaves"):
        pickle.dumps(y)
    gc.collect()
    assert not [w for w in recwarn if "Exception ignored" in str(w.message)]
    y.sum().backward()  # the graph is intact
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_deepcopy_and_pickle_of_leaves_share_no_memory() -> None:
    x = mg.Tensor([1.0, 2.0], requires_grad=True, dtype=np.float32)
    x.grad = np.array([0.5, 0.5], np.float32)
    y = x * x  # a live graph: x's array is read-only until backward
    for clone in (copy.deepcopy(x), pickle.loads(pickle.dumps(x))):
        assert type(clone) is mg.Tensor and clone.is_leaf and clone.requires_grad
        assert clone.dtype == np.float32
        assert not np.shares_memory(clone.data, x.data)
        assert not np.shares_memory(clone.grad, x.grad)
        np.testing.assert_array_equal(clone.data, [1.0, 2.0])
        clone.data[0] = 7.0  # writable, and the original is untouched
        assert x.data[0] == 1.0
    y.sum().backward()


def test_deepcopy_and_pickle_of_modules_keep_parameters_apart() -> None:
    model = mg.nn.Linear(3, 2, rng=0)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert type(clone.weight) is mg.nn.Parameter
        assert not np.shares_memory(clone.weight.data, model.weight.data)
        np.testing.assert_array_equal(clone.weight.data, model.weight.data)
        with no_grad():
            clone.weight.data[...] = 0.0
        assert np.any(model.weight.data != 0.0)
        names = [name for name, _ in clone.named_parameters()]
        assert names == [name for name, _ in model.named_parameters()]


# --- broadcast and argument errors name the op ----------------------------------------------------


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum"])
def test_broadcast_failures_name_the_op_and_both_shapes(name) -> None:
    a, b = mg.Tensor(np.ones((2, 3))), mg.Tensor(np.ones((4,)))
    with pytest.raises(ValueError, match=rf"^{name}: .*\(2, 3\) and \(4,\)"):
        getattr(mg, name)(a, b)


def test_where_broadcast_failure_names_the_shapes() -> None:
    with pytest.raises(ValueError, match=r"^where: .*\(3,\).*\(2,\).*\(4,\)"):
        mg.where(np.array([True, False, True]), mg.Tensor(np.ones(2)), mg.Tensor(np.ones(4)))


def test_split_argument_errors_and_empty_axes() -> None:
    t = mg.Tensor(np.arange(4.0))
    with pytest.raises(TypeError, match="^split: "):
        mg.split(t, 2.0)
    with pytest.raises(TypeError, match="^split: "):
        mg.split(t, [1.5])
    empty = mg.Tensor(np.zeros((0, 3)), requires_grad=True)
    pieces = mg.split(empty, 2, axis=0)
    assert [p.shape for p in pieces] == [a.shape for a in np.split(np.zeros((0, 3)), 2)]
    mg.concatenate(pieces).sum().backward()
    assert empty.grad.shape == (0, 3)


def test_concatenate_with_axis_none_flattens_as_numpy() -> None:
    a = mg.Tensor(np.arange(4.0).reshape(2, 2), requires_grad=True)
    b = mg.Tensor([5.0, 6.0])
    out = mg.concatenate([a, b], axis=None)
    np.testing.assert_array_equal(out.data, np.concatenate([a.data, b.data], axis=None))
    (out * np.arange(6.0)).sum().backward()
    np.testing.assert_array_equal(a.grad, [[0.0, 1.0], [2.0, 3.0]])


def test_a_backward_returning_a_non_array_is_named() -> None:
    class Bad(mg.Function):
        @staticmethod
        def forward(ctx, a):
            return a.data * 2

        @staticmethod
        def backward(ctx, g):
            return "oops"

    x = mg.Tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"^Bad\.backward returned a str"):
        Bad.apply(x).sum().backward()


def test_needs_input_grad_is_all_false_when_nothing_is_recorded() -> None:
    seen = []

    class Probe(mg.Function):
        @staticmethod
        def forward(ctx, a, b):
            seen.append(tuple(ctx.needs_input_grad))
            return a.data + b.data

        @staticmethod
        def backward(ctx, g):
            return g, g

    x = mg.Tensor([1.0], requires_grad=True)
    Probe.apply(x, mg.Tensor([2.0]))
    with no_grad():
        Probe.apply(x, mg.Tensor([2.0]))
    Probe.apply(mg.Tensor([1.0]), mg.Tensor([2.0]))
    assert seen == [(True, False), (False, False), (False, False)]


# --- gradients at the edges, as PyTorch -----------------------------------------------------------


def torch_grads(fn, *values):
    torch = require("torch")
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    fn(*leaves).sum().backward()
    return [leaf.grad.numpy() for leaf in leaves]


def minigrad_grads(fn, *values):
    leaves = [mg.Tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in values]
    with np.errstate(divide="ignore", invalid="ignore"):
        fn(*leaves).sum().backward()
    return [leaf.grad for leaf in leaves]


def test_pow_gradients_at_zero_match_pytorch() -> None:
    base = [0.0, 0.0, 2.0, 0.0, 0.0, -1.5]
    exponent = [0.0, 2.0, 0.0, -1.0, 0.5, 3.0]
    expected = torch_grads(lambda a, b: a**b, base, exponent)
    got = minigrad_grads(lambda a, b: a**b, base, exponent)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e)
    np.testing.assert_array_equal(got[0][:2], [0.0, 0.0])  # d/dx x**0 at 0, d/dx x**2 at 0
    np.testing.assert_array_equal(got[1][:2], [0.0, 0.0])  # d/db 0**b for b >= 0


def test_pow_gradient_edges_stay_right_at_second_order() -> None:
    x = mg.Tensor([0.0, 0.0, 3.0], requires_grad=True)
    b = mg.Tensor([0.0, 2.0, 2.0])
    (g,) = mg.grad((x**b).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.data, [0.0, 0.0, 6.0])
    g.sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 2.0, 2.0])  # d2/dx2 of x**2 is 2; of x**0 is 0


@pytest.mark.parametrize(
    "values",
    [[1.0, np.nan, 2.0], [1.0, np.nan, np.nan], [3.0, 1.0, 3.0], [2.0, 2.0, 2.0]],
    ids=["nan", "two-nans", "tie", "all-equal"],
)
def test_max_sends_the_gradient_where_pytorch_does(values) -> None:
    (expected,) = torch_grads(lambda a: a.max(), values)
    (got,) = minigrad_grads(lambda a: a.max(), values)
    np.testing.assert_allclose(got, expected)


def test_max_over_an_axis_sends_nan_rows_to_the_nan_and_shares_ties_as_amax() -> None:
    torch = require("torch")
    nan_rows = [[1.0, np.nan, 2.0], [np.nan, 0.0, -1.0]]
    (expected,) = torch_grads(lambda a: torch.max(a, dim=1).values, nan_rows)
    (got,) = minigrad_grads(lambda a: a.max(axis=1), nan_rows)
    np.testing.assert_allclose(got, expected)
    tie_rows = [[3.0, 1.0, 3.0], [0.0, 2.0, 1.0]]
    (expected,) = torch_grads(lambda a: a.amax(dim=1), tie_rows)
    (got,) = minigrad_grads(lambda a: a.max(axis=1), tie_rows)
    np.testing.assert_allclose(got, expected)


def test_maximum_minimum_and_relu_ties_and_nan_match_pytorch() -> None:
    torch = require("torch")
    a = [1.0, np.nan, 2.0, 0.0, 3.0]
    b = [2.0, 1.0, 2.0, 0.0, np.nan]
    for ours, theirs in ((mg.maximum, torch.maximum), (mg.minimum, torch.minimum)):
        expected = torch_grads(theirs, a, b)
        got = minigrad_grads(ours, a, b)
        for e, g in zip(expected, got):
            np.testing.assert_allclose(g, e)
    (expected,) = torch_grads(torch.relu, [-1.0, 0.0, 2.0])
    (got,) = minigrad_grads(mg.relu, [-1.0, 0.0, 2.0])
    np.testing.assert_allclose(got, expected)


# --- in-place updates -----------------------------------------------------------------------------


def test_manual_sgd_under_no_grad_updates_the_parameter_in_place() -> None:
    w = mg.Tensor([1.0, -2.0], requires_grad=True, dtype=np.float32)
    array = w.data
    for _ in range(3):
        loss = (w * w).sum()
        loss.backward()
        with no_grad():
            w -= 0.25 * w.grad
            w.grad = None
    assert w.data is array and w.dtype == np.float32 and w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.data, np.array([1.0, -2.0]) * 0.5**3)


def test_every_in_place_method_writes_into_the_array_when_not_recording() -> None:
    t = mg.Tensor([1.0, 2.0, 4.0])
    array, same = t.data, t
    t += 1.0
    t -= np.array([1.0, 1.0, 1.0])
    t *= mg.Tensor([2.0])
    t /= 2
    assert t is same and t.data is array
    np.testing.assert_array_equal(t.data, [1.0, 2.0, 4.0])
    assert t.add_(1).sub_(0.5).mul_(4).div_(2) is t
    np.testing.assert_array_equal(t.data, [3.0, 5.0, 9.0])
    t.copy_(mg.Tensor([7.0]))
    np.testing.assert_array_equal(t.data, [7.0, 7.0, 7.0])
    t.fill_(2.5)
    np.testing.assert_array_equal(t.data, [2.5, 2.5, 2.5])
    t.zero_()
    assert t.data is array and not t.data.any()


def test_in_place_on_a_leaf_that_requires_grad_is_refused_while_recording() -> None:
    w = mg.Tensor([1.0, 2.0], requires_grad=True)
    for update in (
        lambda: w.__iadd__(1.0),
        lambda: w.mul_(2.0),
        lambda: w.zero_(),
        lambda: w.copy_(np.zeros(2)),
        lambda: w.fill_(1.0),
    ):
        with pytest.raises(RuntimeError, match="a leaf tensor that requires grad is used in an"):
            update()
    np.testing.assert_array_equal(w.data, [1.0, 2.0])


def test_in_place_on_a_saved_leaf_is_refused_and_says_why() -> None:
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()  # Mul saved x
    with no_grad():
        with pytest.raises(RuntimeError, match=r"add_: .*shape \(2,\).*saved it for backward"):
            x += 1.0
    np.testing.assert_array_equal(x.data, [1.0, 2.0])
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    with no_grad():  # the graph is released: the protection is gone with it
        x += 1.0
    np.testing.assert_array_equal(x.data, [2.0, 3.0])


def test_read_only_protection_of_an_op_output_does_not_outlive_its_graph() -> None:
    base = mg.Tensor([1.0, 2.0], requires_grad=True)
    w = (base * 2.0).detach()  # an op's array: read-only from birth
    w.requires_grad = True
    for _ in range(2):
        (w * w).sum().backward()
        with no_grad():
            w -= 0.25 * w.grad
            w.grad = None
    np.testing.assert_allclose(w.data, np.array([2.0, 4.0]) * 0.5**2)


def test_in_place_on_a_non_leaf_extends_its_history_and_keeps_earlier_gradients() -> None:
    torch = require("torch")
    values = [1.0, -2.0, 3.0]
    x = mg.Tensor(values, requires_grad=True)
    h = x * 2.0
    first = (h * h).sum()  # saved h before the update
    h += x * x
    h *= 3.0
    assert h.grad_fn is not None and not h.is_leaf
    ((h * h).sum() + first).backward()
    tx = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    th = tx * 2.0
    tfirst = (th * th).sum()
    th2 = (th + tx * tx) * 3.0  # the same sums out of place (PyTorch refuses this in place)
    ((th2 * th2).sum() + tfirst).backward()
    np.testing.assert_allclose(h.data, th2.detach().numpy())
    np.testing.assert_allclose(x.grad, tx.grad.numpy())


def test_in_place_on_a_non_leaf_matches_pytorch() -> None:
    torch = require("torch")
    values, other = np.array([1.0, -2.0, 3.0]), np.array([0.5, 4.0, -1.0])
    x, o = mg.Tensor(values, requires_grad=True), mg.Tensor(other, requires_grad=True)
    tx = torch.tensor(values, requires_grad=True)
    to = torch.tensor(other, requires_grad=True)
    results = []
    for lib, a, b in ((mg, x, o), (torch, tx, to)):
        h = a * 1.0
        h.add_(b)
        h.sub_(a)
        h.mul_(b)
        h.div_(a + 10.0)
        g = a * 2.0
        g.copy_(b * b)  # the old history gets no gradient, src gets it
        k = a * 3.0
        k.zero_()
        k.add_(a)
        f = a * 1.0
        f.fill_(2.0)
        (h.sum() + (g * a).sum() + (k * k).sum() + (f * a).sum()).backward()
        results.append(h.data if lib is mg else h.detach().numpy())
    np.testing.assert_allclose(results[0], results[1])
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    np.testing.assert_allclose(o.grad, to.grad.numpy())


def test_in_place_under_no_grad_on_a_non_leaf_passes_the_gradient_through() -> None:
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    with no_grad():
        y += 10.0
    np.testing.assert_array_equal(y.data, [12.0, 14.0])
    (y * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])


def test_in_place_keeps_the_shape_and_the_dtype() -> None:
    t = mg.Tensor(np.ones(3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"add_: .*shape \(3,\).*\(2, 3\)"):
        t += np.ones((2, 3))
    with pytest.raises(ValueError, match=r"mul_: .*shape \(3,\).*\(4,\)"):
        t.mul_(mg.Tensor(np.ones(4)))
    with pytest.raises(ValueError, match=r"copy_: .*\(3,\).*\(2,\)"):
        t.copy_(np.ones(2))
    np.testing.assert_array_equal(t.data, np.ones(3))
    t += np.full(3, 0.5)  # float64 operand
    t.mul_(mg.Tensor([2.0], dtype=np.float64))
    t.copy_(np.arange(3.0) + t.data)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.data, [3.0, 4.0, 5.0])
    x = mg.Tensor([1.0, 2.0], requires_grad=True)  # float64 history into a float32 tensor
    h = mg.Tensor([0.0, 0.0], dtype=np.float32)
    h += x * x
    assert h.dtype == np.float32 and h.grad_fn is not None
    h.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    assert x.grad.dtype == np.float64
    with pytest.raises(ValueError, match=r"add_: .*\(2,\).*\(3, 2\)"):
        h += mg.Tensor(np.ones((3, 2)), requires_grad=True)


def test_in_place_on_a_saved_read_only_leaf_is_caught_at_backward() -> None:
    w = (mg.Tensor([1.0, 2.0], requires_grad=True) * 1.0).detach()  # read-only from birth
    w.requires_grad = True
    y = (w * w).sum()
    with no_grad():
        w += 1.0  # a fresh array: the graph's saved one is untouched
    with pytest.raises(RuntimeError, match=r"Mul: a tensor of shape \(2,\) saved for backward"):
        y.backward()


# --- detect_anomaly accepts the masking idioms ----------------------------------------------------


def masked_softmax(scores: mg.Tensor, mask: np.ndarray) -> mg.Tensor:
    shifted = scores + mg.Tensor(np.where(mask, 0.0, -np.inf))
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    e = shifted.exp()
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.filterwarnings("ignore:Anomaly Detection has been enabled")
def test_detect_anomaly_accepts_an_additive_minus_inf_mask_before_softmax() -> None:
    torch = require("torch")
    values = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    mask = np.array([[True, False, True], [True, True, False]])
    weights = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    scores = mg.Tensor(values, requires_grad=True)
    with debug.detect_anomaly():
        (masked_softmax(scores, mask) * weights).sum().backward()
    t = torch.tensor(values, requires_grad=True)
    with torch.autograd.detect_anomaly(check_nan=True):
        probs = torch.softmax(t + torch.tensor(np.where(mask, 0.0, -np.inf)), dim=-1)
        (probs * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(scores.grad, t.grad.numpy())


def test_detect_anomaly_accepts_where_with_a_non_finite_unused_branch() -> None:
    x = mg.Tensor([-1.0, 2.0, -3.0], requires_grad=True)
    with debug.detect_anomaly(), np.errstate(invalid="ignore"):
        y = mg.where(x > 0, x.log(), 0.0)
        y.sum().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.5, 0.0])


def test_detect_anomaly_still_raises_when_the_nan_reaches_the_loss() -> None:
    x = mg.Tensor([-1.0, 2.0], requires_grad=True)
    with pytest.raises(FloatingPointError, match="^Log produced NaN") as info:
        with debug.detect_anomaly(), np.errstate(invalid="ignore"):
            loss = (x.log() * 2.0).sum()  # the NaN is born in log and flows on
            loss.backward()  # raises here, before any gradient is computed
    assert "loss = (x.log() * 2.0).sum()" in str(info.value)
    assert x.grad is None


def test_detect_anomaly_raises_for_an_inf_that_turns_into_nan() -> None:
    scores = mg.Tensor([[1.0, 2.0]], requires_grad=True)
    with pytest.raises(FloatingPointError, match="already contains NaN or inf"):
        with debug.detect_anomaly(), np.errstate(invalid="ignore"):
            masked = scores + mg.Tensor([[0.0, -np.inf]])
            (masked * 0.0).sum()  # -inf * 0 is NaN: not a mask any more


def test_detect_anomaly_leaves_no_pending_state_after_an_error() -> None:
    x = mg.Tensor([1.0], requires_grad=True)
    with pytest.raises(ZeroDivisionError):
        with debug.detect_anomaly(), np.errstate(divide="ignore"):
            (x * 0.0).log()
            1 / 0  # noqa: B018
    with debug.detect_anomaly():
        (x * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0])


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(data=st.data(), op=st.sampled_from(["add_", "sub_", "mul_", "div_", "copy_"]))
def test_in_place_matches_out_of_place_in_values_and_gradients(data, op) -> None:
    shape = data.draw(shapes(min_dims=1))
    other_shape = data.draw(broadcastable_shapes(shape, max_dims=len(shape)))
    if np.broadcast_shapes(shape, other_shape) != shape:
        other_shape = shape
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    a = data.draw(tensors(shape, dtype=dtype))
    b = data.draw(tensors(other_shape, elements=(0.5, 2.0)))  # float64, away from 0 for div_
    out_of_place = {
        "add_": lambda x, y: x + y,
        "sub_": lambda x, y: x - y,
        "mul_": lambda x, y: x * y,
        "div_": lambda x, y: x / y,
        "copy_": lambda x, y: y + 0.0 * x,
    }[op]
    expected = out_of_place(a * 1.0, b)
    expected.sum().backward()
    expected_grads = a.grad, b.grad
    a.grad = b.grad = None
    h = a * 1.0
    getattr(h, op)(b)
    assert h.shape == shape and h.dtype == dtype
    np.testing.assert_allclose(h.data, expected.data.astype(dtype), rtol=1e-6)
    h.sum().backward()
    for got, want in zip((a.grad, b.grad), expected_grads):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with no_grad():  # and the plain write, on a copy of the values
        plain = mg.Tensor(a.data.copy())
        getattr(plain, op)(b)
    np.testing.assert_allclose(plain.data, h.data, rtol=1e-6)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_comparisons_are_numpy_s_elementwise_comparisons(data) -> None:
    shape_a, shape_b = data.draw(mutually_broadcastable_shapes(2))
    a = data.draw(tensors(shape_a, elements=st.sampled_from([-1.0, 0.0, 1.0])))
    b = data.draw(tensors(shape_b, elements=st.sampled_from([-1.0, 0.0, 1.0])))
    for name in ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"):
        np.testing.assert_array_equal(getattr(a, name)(b), getattr(a.data, name)(b.data))
        np.testing.assert_array_equal(getattr(a, name)(b.data), getattr(a.data, name)(b.data))
