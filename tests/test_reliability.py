"""No silent wrong answers: grad mode per thread, PyTorch's operator habits, bad input, edges."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad import debug
from minigrad.grad_mode import is_grad_enabled, no_grad, set_grad_enabled

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
