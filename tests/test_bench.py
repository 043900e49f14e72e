"""The benchmarks' correctness: the hand-derived numpy BPTT they time against, and smoke runs.

No timing is asserted here (speed lives in bench/, as ratios measured in one process). What is
asserted: the reference's gradients equal finite differences and minigrad's, the verification
step really rejects wrong gradients, and each bench's machinery runs end to end at tiny sizes.
"""

import gc
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is a folder of scripts beside the package, not installed
    sys.path.insert(0, str(ROOT))

from oracles import require  # noqa: E402

from bench import harness, ops, rnn  # noqa: E402
from bench import rnn_numpy as ref  # noqa: E402

KINDS = ("lstm", "gru")
TINY = rnn.Size(batch=2, inputs=3, hidden=4, steps=3)


def finite_difference_grads(problem: rnn.Problem, eps: float = 1e-6) -> dict[str, np.ndarray]:
    """Central differences of the reference loss with respect to every parameter and x."""
    arrays = {**problem.params, "x": problem.x}
    grads = {}
    for name, array in arrays.items():
        grad = np.empty_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + eps
            up = ref.loss(problem.kind, problem.params, problem.x, problem.r)
            array[index] = saved - eps
            down = ref.loss(problem.kind, problem.params, problem.x, problem.r)
            array[index] = saved
            grad[index] = (up - down) / (2 * eps)
        grads[name] = grad
    return grads


# --- The reference itself ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_reference_matches_finite_differences(kind):
    problem = rnn.make_problem(kind, TINY, np.float64, seed=3)
    analytic = ref.training_step(kind, problem.params, problem.x, problem.r)
    numeric = finite_difference_grads(problem)
    assert set(analytic) == set(numeric) == {*ref.PARAM_NAMES, "x"}
    for name in numeric:
        np.testing.assert_allclose(
            analytic[name], numeric[name], rtol=1e-6, atol=1e-8, err_msg=name
        )


@pytest.mark.parametrize("kind", KINDS)
def test_reference_matches_minigrad_in_float64(kind):
    """Hand-derived BPTT against minigrad's cell loop and layer, eager and compiled, tightly
    (the bench's gate)."""
    checked = rnn.verify(rnn.make_problem(kind, rnn.VERIFY_SIZE, np.float64, seed=5))
    assert checked == 4  # minigrad cell loop and layer, each eager and compiled


@pytest.mark.parametrize("kind", KINDS)
def test_reference_stays_float32_and_agrees_loosely(kind):
    problem = rnn.make_problem(kind, rnn.Size(2, 3, 4, 5), np.float32)
    grads = ref.training_step(kind, problem.params, problem.x, problem.r)
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}
    rnn.verify(problem, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_reference_matches_torch_rows(kind):
    """The PyTorch rows time the same computation: their gradients match the reference too."""
    torch = require("torch")
    checked = rnn.verify(rnn.make_problem(kind, rnn.VERIFY_SIZE, np.float64), torch)
    assert checked == 7  # minigrad four, torch three


@pytest.mark.parametrize("peer", sorted(harness.PEERS))
@pytest.mark.parametrize("kind", KINDS)
def test_reference_matches_the_other_autograd_libraries_rows(kind, peer):
    """HIPS autograd's and MyGrad's rows (where installed) time the same computation too."""
    module = pytest.importorskip(peer)
    problem = rnn.make_problem(kind, rnn.VERIFY_SIZE, np.float64)
    assert rnn.verify(problem, peers={peer: module}) == 5


def test_reference_forward_matches_a_plain_step_by_step_lstm():
    """A plain forward (no halved rows, no in-place tricks) gives the same h_T."""
    problem = rnn.make_problem("lstm", TINY, np.float64, seed=7)
    p, hidden = problem.params, TINY.hidden
    sigmoid = lambda a: 1 / (1 + np.exp(-a))
    h = c = np.zeros((TINY.batch, hidden))
    for x_t in problem.x:
        a = x_t @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
        i, f, g, o = np.split(a, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
    h_last, _ = ref.lstm_forward(p, problem.x)
    np.testing.assert_allclose(h_last, h, rtol=1e-12, atol=1e-14)


def test_reference_forward_matches_a_plain_step_by_step_gru():
    problem = rnn.make_problem("gru", TINY, np.float64, seed=8)
    p, hidden = problem.params, TINY.hidden
    sigmoid = lambda a: 1 / (1 + np.exp(-a))
    h = np.zeros((TINY.batch, hidden))
    for x_t in problem.x:
        x_r, x_z, x_n = np.split(x_t @ p["weight_ih"].T + p["bias_ih"], 3, axis=1)
        h_r, h_z, h_n = np.split(h @ p["weight_hh"].T + p["bias_hh"], 3, axis=1)
        r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
        n = np.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h
    h_last, _ = ref.gru_forward(p, problem.x)
    np.testing.assert_allclose(h_last, h, rtol=1e-12, atol=1e-14)


# --- The verification gate rejects wrong gradients -------------------------------------------


def _reference_impl(kind: str) -> tuple[rnn.Impl, dict[str, np.ndarray]]:
    impl = rnn.numpy_reference(rnn.make_problem(kind, TINY, np.float64))
    impl.step()
    return impl, {name: g.copy() for name, g in impl.grads().items()}


@pytest.mark.parametrize("name", ["weight_hh", "bias_ih", "x"])
def test_compare_grads_rejects_a_perturbed_gradient(name):
    impl, expected = _reference_impl("lstm")
    rnn.compare_grads(impl, expected, rtol=1e-9, atol=1e-12)  # identical: accepted
    expected[name].flat[0] += 1e-6
    with pytest.raises(rnn.GradientMismatch, match=name):
        rnn.compare_grads(impl, expected, rtol=1e-9, atol=1e-12)


def test_compare_grads_rejects_a_wrong_dtype_or_missing_gradient():
    impl, expected = _reference_impl("gru")
    with pytest.raises(rnn.GradientMismatch, match="weight_ih"):
        rnn.compare_grads(impl, {"weight_ih": expected["weight_ih"].astype(np.float32)}, 0, 0)
    impl.grads = lambda: {}
    with pytest.raises(rnn.GradientMismatch, match="bias_hh"):
        rnn.compare_grads(impl, {"bias_hh": expected["bias_hh"]}, 0, 0)


# --- Smoke runs of the benches' machinery (tiny sizes, one round, nothing timed is checked) ----


def test_ops_bench_runs_and_reports_every_case():
    libs = [ops.MinigradLib()]
    groups = ops.build_groups(libs, "float64", 1e-4, chain_length=50, shapes=((2, 3),))
    samples = harness.interleave(groups, rounds=1)
    table = ops.report(samples, libs)
    for op in ops.OPS:
        assert f"| {op} 2x3 (µs/op) |" in table
    assert "50 steps (ms): forward" in table and "50 steps (ms): backward" in table
    assert all(len(v) == 1 for per_lib in samples.values() for v in per_lib.values())


def _ops_lib(name: str):
    """The ops bench's adapter for a library (skipping where that library is not installed)."""
    if name == "minigrad":
        return ops.MinigradLib()
    module = pytest.importorskip(name)
    if name == "torch":
        return ops.TorchLib(module)
    return ops.AutogradLib(module) if name == "autograd" else ops.MyGradLib(module)


LIBRARIES = ["minigrad", "torch", *sorted(harness.PEERS)]


@pytest.mark.parametrize("name", LIBRARIES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_ops_chain_backpropagates(dtype, name):
    """The timed unit really runs backward: after a mul chain, w has the product-rule gradient."""
    lib = _ops_lib(name)
    chain = ops.OpChain(lib, "mul", (2, 3), dtype, length=4)
    chain()
    x0, w0 = ops.operands("mul", (2, 3), dtype)
    grad_x, grad_w = chain.grads
    np.testing.assert_allclose(grad_x, w0**4, rtol=1e-5)  # d(x w^4)/dx
    np.testing.assert_allclose(grad_w, 4 * x0 * w0**3, rtol=1e-5)  # d(x w^4)/dw
    assert grad_x.dtype == np.dtype(dtype)
    chain()  # a second run starts from cleared gradients: the same, not twice as much
    np.testing.assert_allclose(chain.grads[0], w0**4, rtol=1e-5)


@pytest.mark.parametrize("name", LIBRARIES)
def test_ops_long_chain_checks_its_gradient(name):
    sample = ops.long_chain(_ops_lib(name), "float64", length=20)
    times = sample()
    assert set(times) == {"forward", "backward", "forward, gc disabled"}
    assert all(t > 0 for t in times.values())
    assert gc.isenabled()  # the sampler switches the collector back on


def test_rnn_bench_runs_and_reports_every_implementation():
    sizes = {"tiny": rnn.Size(1, 2, 3, 4)}
    samples = harness.interleave(rnn.build_groups(sizes, None, 1e-4), rounds=1)
    table = rnn.report(samples, sizes)
    names = [rnn.REFERENCE, "minigrad LSTMCell loop", "minigrad nn.LSTM", "minigrad nn.GRU"]
    names += ["minigrad compiled LSTMCell loop", "minigrad compiled nn.GRU"]
    for name in names:
        assert f"| {name} |" in table
    reference_rows = [line for line in table.splitlines() if f"| {rnn.REFERENCE} |" in line]
    assert len(reference_rows) == 2  # one per cell
    assert all(row.endswith("| 1.00 (1.00–1.00) |") for row in reference_rows)  # vs itself


def test_rnn_memory_report_runs():
    text = rnn.memory_report(rnn.Size(2, 3, 4, 5))
    lines = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert len(lines) == 6  # the cache, then eager and compiled cell loop and layer, and numpy
    assert all(float(line.split("|")[3]) > 0 for line in lines)  # the ratio column


def test_rnn_compile_report_runs():
    text = rnn.compile_report({"tiny": rnn.Size(1, 2, 3, 4)})
    rows = [line for line in text.splitlines() if line.startswith("| tiny")]
    assert len(rows) == 4 and all(float(row.split("|")[3]) > 0 for row in rows)


# --- The harness ------------------------------------------------------------------------------


def test_interleave_rotates_the_order_within_a_case():
    calls = []
    sampler = lambda name: lambda: calls.append(name) or {"m": float(len(calls))}
    groups = {"case": {"a": sampler("a"), "b": sampler("b"), "c": sampler("c")}}
    samples = harness.interleave(groups, rounds=3)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert samples[("case", "m")]["a"] == [1.0, 6.0, 8.0]


def test_paired_ratios_pair_rounds_and_spread_summarises():
    spread = harness.paired_ratios([2.0, 9.0, 3.0], [1.0, 3.0, 3.0])
    assert (spread.median, spread.low, spread.high) == (2.0, 1.0, 3.0)
    assert harness.Spread.of([3e-6, 1e-6, 2e-6]).format(1e6) == "2.0 (1.0–3.0)"
    with pytest.raises(ValueError):
        harness.paired_ratios([1.0, 2.0], [1.0])


def test_markdown_table():
    assert harness.markdown_table(["a", "b"], [["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |"


def test_rnn_profile_report_runs():
    text = rnn.profile_report("tiny", top=5, rounds=1)
    assert "gc enabled" in text and "gc disabled" in text and "run_backward" in text
