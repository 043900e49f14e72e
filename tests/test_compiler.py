"""minigrad.compile: compiled calls give eager's values and gradients, retrace when they must,
refuse what they cannot replay, fall back to eager where only eager is right, and print."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn, optim
from minigrad.compiler.program import Program
from minigrad.testing import mutually_broadcastable_shapes


class Cube(mg.Function):
    """A user Function with no lowering: compiled code falls back to its own forward."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a.data**3

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * 3 * a * a


class TwoOutputs(mg.Function):
    """A user Function with two outputs (sin and cos), neither with a lowering."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a.data), np.cos(a.data)

    @staticmethod
    def backward(ctx, g_sin, g_cos):
        (a,) = ctx.saved_tensors
        return g_sin * TwoOutputs.apply(a)[1] - g_cos * TwoOutputs.apply(a)[0]


def tensors_like(shapes, rng, dtype=np.float64):
    return [mg.Tensor(rng.uniform(-2, 2, s), requires_grad=True, dtype=dtype) for s in shapes]


def values_and_grads(fn, xs, seeds, wrt=None):
    """fn's outputs and the gradients of <outputs, seeds> with respect to xs (None: unused)."""
    outs = fn(*xs)
    wrt = xs if wrt is None else wrt
    grads = mg.grad(list(outs), wrt, seeds, allow_unused=True)
    return [o.data for o in outs], [None if g is None else g.data for g in grads]


def assert_same(got, want, tol):
    for g, w in zip(got, want):
        if w is None:
            assert g is None
        else:
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)


# --- Random compositions of primitives -----------------------------------------------------

OPS = (
    "tanh sigmoid relu neg cube square add sub mul div maximum sum max split index fancy "
    "transpose reshape concat stack exp where sincos"
).split()


def composition(ops):
    """A function of three tensors applying `ops` (name, i, j) to a growing pool of results."""

    def fn(*xs):
        pool = list(xs)
        for name, i, j in ops:
            a, b = pool[i % len(pool)], pool[j % len(pool)]
            try:
                np.broadcast_shapes(a.shape, b.shape)
            except ValueError:
                a = a.sum()  # a 0-d tensor broadcasts with anything
            if name in ("tanh", "sigmoid", "relu", "exp"):
                new = [getattr(a.tanh() if name == "exp" else a, name)()]
            elif name == "neg":
                new = [-a]
            elif name == "cube":
                new = [Cube.apply(a.tanh())]
            elif name == "square":
                new = [a**2]
            elif name in ("add", "sub", "mul", "maximum"):
                new = [getattr(mg, name)(a, b)]
            elif name == "div":
                new = [a / (b * b + 1)]
            elif name in ("sum", "max"):
                new = [getattr(a, name)(axis=i % a.ndim if a.ndim else None)]
            elif name == "split" and a.ndim and a.shape[-1] >= 2:
                new = mg.split(a, [1], axis=-1)  # two pieces; later ops may use only one
            elif name == "index" and a.ndim:
                new = [a[..., ::2] if i % 2 else a[0]]
            elif name == "fancy" and a.ndim:
                new = [a[np.array([0, a.shape[0] - 1, 0])]]  # a repeated row: scatter-add
            elif name == "where":
                new = [mg.where(np.arange(a.numel()).reshape(a.shape) % 2 == 0, a, b)]
            elif name == "sincos":
                new = list(TwoOutputs.apply(a))  # later ops may use only one of the two
            elif name == "transpose":
                new = [a.T]
            elif name == "reshape":
                new = [a.reshape(-1)]
            elif name in ("concat", "stack") and a.shape == b.shape and a.ndim:
                new = [mg.concatenate([a, b], axis=0) if name == "concat" else mg.stack([a, b])]
            else:
                new = [a * 0.5]
            pool.extend(new)
        return pool[-1], pool[-1].sum() + pool[-2].sum() * pool[-3].sum()

    return fn


@given(
    shapes=mutually_broadcastable_shapes(3, min_dims=0, max_dims=3, max_side=3),
    ops=st.lists(
        st.tuples(st.sampled_from(OPS), st.integers(0, 50), st.integers(0, 50)),
        min_size=1,
        max_size=8,
    ),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**32 - 1),
)
def test_compiled_matches_eager_on_random_compositions(shapes, ops, dtype, seed):
    rng = np.random.default_rng(seed)
    fn = composition(ops)
    compiled = mg.compile(fn)
    compiled(*tensors_like(shapes, rng, dtype))  # traced on these values...
    xs = tensors_like(shapes, rng, dtype)  # ...replayed on new ones
    outs = fn(*xs)
    seeds = [rng.standard_normal(o.shape).astype(dtype) for o in outs]
    got_values, got_grads = values_and_grads(compiled, xs, seeds)
    want_values, want_grads = values_and_grads(fn, xs, seeds)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert_same(got_values, want_values, tol)
    assert_same(got_grads, want_grads, tol)
    assert compiled.traces == 1


def test_compiled_gradients_and_second_derivatives_match_finite_differences():
    rng = np.random.default_rng(0)
    w = mg.Tensor(rng.standard_normal((3, 4)), requires_grad=True)

    @mg.compile
    def f(x, b):
        y = mg.maximum((x @ w).tanh(), b.sigmoid()) * Cube.apply(x).sum()
        first, second = mg.split(y, 2, axis=-1)
        return (first * second).relu().sum(axis=0) + y.max(axis=-1)[:2]

    x = mg.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = mg.Tensor(rng.standard_normal(4), requires_grad=True)
    assert mg.gradcheck(f, [x, b])
    assert mg.gradgradcheck(f, [x, b])  # backward(create_graph=True) through a compiled call
    assert f.traces == 2  # once recording, once under no_grad (gradcheck's finite differences)


# --- Recurrent cells -----------------------------------------------------------------------


def lstm_loop(cell):
    def run(xs, h, c):
        outputs = []
        for x in mg.unstack(xs):
            h, c = cell(x, (h, c))
            outputs.append(h)
        return (mg.stack(outputs) ** 2).mean(), c

    return run


def test_lstm_cell_loop_over_five_steps_matches_eager():
    rng = np.random.default_rng(1)
    cell = nn.LSTMCell(3, 4, rng=2)
    run = lstm_loop(cell)
    compiled = mg.compile(run)
    inputs = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
    for _ in range(2):  # the second call replays the cached program
        xs, h, c = tensors_like([(5, 2, 3), (2, 4), (2, 4)], rng)
        seeds = [np.asarray(1.0), rng.standard_normal((2, 4))]
        wrt = [xs, h, c, *inputs]
        got_values, got_grads = values_and_grads(compiled, [xs, h, c], seeds, wrt)
        want_values, want_grads = values_and_grads(run, [xs, h, c], seeds, wrt)
        assert_same(got_values, want_values, 1e-12)
        assert_same(got_grads, want_grads, 1e-12)
    assert compiled.traces == 1


def train_gru(use_compile):
    """Five SGD steps of a GRUCell loop; the final parameters, and the compiled step's traces."""
    rng = np.random.default_rng(3)
    cell = nn.GRUCell(3, 4, rng=4)
    opt = optim.SGD(cell.parameters(), lr=0.5)

    def loss(xs, h):
        for x in mg.unstack(xs):
            h = cell(x, h)
        return (h * h).sum()

    step = mg.compile(loss) if use_compile else loss
    for _ in range(5):
        xs, h = tensors_like([(4, 2, 3), (2, 4)], rng)
        opt.zero_grad()
        step(xs, h).backward()
        opt.step()
    return [p.data.copy() for p in cell.parameters()], getattr(step, "traces", 0)


def test_compiled_training_matches_eager_training():
    """The program reads the parameters' new values on every call."""
    want, _ = train_gru(use_compile=False)
    got, traces = train_gru(use_compile=True)
    assert traces == 1
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    assert not np.allclose(got[0], nn.GRUCell(3, 4, rng=4).weight_ih.data)  # it did train


RUNS = {  # name: (module, whether it is a cell stepped in a loop, optimizer)
    "LSTMCell": (lambda: nn.LSTMCell(4, 5, rng=8), True, "sgd"),
    "GRUCell": (lambda: nn.GRUCell(4, 5, rng=9), True, "adam"),
    "LSTM": (lambda: nn.LSTM(4, 5, rng=10), False, "adam"),
    "GRU": (lambda: nn.GRU(4, 5, rng=11), False, "sgd"),
}


def train_fifty_steps(name, use_compile):
    """50 optimizer steps on one fixed batch and target (B=3 I=4 H=5 T=6, float64); the final
    parameters and the loss step's trace count."""
    make, is_cell, kind = RUNS[name]
    model = make()
    rng = np.random.default_rng(12)
    xs = mg.Tensor(rng.standard_normal((6, 3, 4)))
    target = mg.Tensor(rng.standard_normal((6, 3, 5)))
    if kind == "sgd":
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = optim.Adam(model.parameters(), lr=0.01)

    def loss(xs, target):
        if not is_cell:
            return ((model(xs)[0] - target) ** 2).mean()
        h = mg.Tensor(np.zeros((3, 5)))
        state = (h, h) if isinstance(model, nn.LSTMCell) else h
        outputs = []
        for x in mg.unstack(xs):
            state = model(x, state)
            outputs.append(state[0] if isinstance(state, tuple) else state)
        return ((mg.stack(outputs) - target) ** 2).mean()

    step = mg.compile(loss) if use_compile else loss
    for _ in range(50):
        opt.zero_grad()
        step(xs, target).backward()
        opt.step()
    return [p.data.copy() for p in model.parameters()], getattr(step, "traces", 0)


@pytest.mark.parametrize("name", list(RUNS))
def test_fifty_compiled_training_steps_end_where_eager_ends(name):
    want, _ = train_fifty_steps(name, use_compile=False)
    got, traces = train_fifty_steps(name, use_compile=True)
    assert traces == 1
    start = [p.data for p in RUNS[name][0]().parameters()]
    for g, w, s in zip(got, want, start):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10)
        assert np.abs(w - s).max() > 1e-3  # each parameter moved: the comparison means something


# --- Cache and retracing -------------------------------------------------------------------


def test_retraces_on_shape_dtype_and_requires_grad_changes_only():
    compiled = mg.compile(lambda x: (x * x).sum())
    compiled(mg.Tensor(np.ones((2, 3)), requires_grad=True))
    compiled(mg.Tensor(np.zeros((2, 3)), requires_grad=True))  # new values: same program
    assert compiled.traces == 1
    compiled(mg.Tensor(np.ones((3, 3)), requires_grad=True))
    assert compiled.traces == 2
    compiled(mg.Tensor(np.ones((3, 3)), requires_grad=True, dtype=np.float32))
    assert compiled.traces == 3
    out = compiled(mg.Tensor(np.full((3, 3), 2.0)))  # requires_grad=False
    assert compiled.traces == 4 and not out.requires_grad and out.item() == 36.0
    with mg.no_grad():
        compiled(mg.Tensor(np.ones((2, 3)), requires_grad=True))
    assert compiled.traces == 5


def test_retraces_when_a_parameter_is_replaced_or_frozen():
    layer = nn.Linear(3, 2)
    compiled = mg.compile(lambda x: layer(x).sum())
    x = mg.Tensor(np.ones((1, 3)))
    compiled(x).backward()
    layer.weight = nn.Parameter(np.zeros((2, 3)))  # a new parameter object
    compiled(x).backward()
    assert compiled.traces == 2 and np.array_equal(layer.weight.grad, np.ones((2, 3)))
    layer.bias.requires_grad = False
    compiled(x)
    assert compiled.traces == 3


def test_warns_once_when_it_keeps_retracing():
    compiled = mg.compile(lambda x: x.sum(), max_traces=2)
    with pytest.warns(RuntimeWarning, match="traced 3 times"):
        for n in range(1, 4):
            compiled(mg.Tensor(np.ones(n)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled(mg.Tensor(np.ones(7)))
    assert len(compiled.cache) == 2


# --- What cannot be compiled ---------------------------------------------------------------


@pytest.mark.parametrize(
    "read, what",
    [
        (lambda y: y.sum().item() > 0, r"\.item\(\)"),
        (lambda y: bool(y.sum()), r"bool\(\)"),
        (lambda y: float(y.sum()) > 0, r"float\(\)"),
        (lambda y: np.asarray(y).sum() > 0, "numpy conversion"),
        (lambda y: y.numpy().sum() > 0, r"\.numpy\(\)"),
        (lambda y: int(y[0]) > 0, r"int\(\)"),
        (lambda y: (y > 0).any(), "comparison >"),
        (lambda y: y.data.sum() > 0, r"\.data\.sum"),
        (lambda y: mg.Tensor(y).sum().item() > 0, "numpy conversion"),
    ],
)
def test_reading_a_value_while_tracing_names_the_line(read, what):
    def f(x):
        y = x * 2
        if read(y):  # the line the error must name
            return y
        return -y

    with pytest.raises(mg.CompileError, match=what) as error:
        mg.compile(f)(mg.Tensor(np.ones(3), requires_grad=True))
    assert "if read(y):  # the line the error must name" in str(error.value)
    assert "(lambda y:" in str(error.value)  # the innermost line, the read itself


class Masked(mg.Function):
    """A user Function whose backward computes its mask on arrays, outside any op."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a.data)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * mg.Tensor(np.sign(a.data))  # a mask that a trace would fix


def test_a_backward_computing_on_arrays_is_refused():
    x = mg.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(mg.CompileError, match=r"Masked\.backward uses an array of shape \(3,\)"):
        mg.compile(lambda x: Masked.apply(x * 2).sum())(x)  # saves an intermediate
    with pytest.raises(mg.CompileError, match=r"Masked\.backward reads the value") as error:
        mg.compile(lambda x: Masked.apply(x).sum())(x)  # saves the traced input itself
    assert "mg.Tensor(np.sign(a.data))" in str(error.value)


def test_non_tensor_results_and_unhashable_arguments_are_refused():
    x = mg.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(mg.CompileError, match="returned a int"):
        mg.compile(lambda x: (x.sum(), 3))(x)
    with pytest.raises(TypeError, match="neither a Tensor nor hashable"):
        mg.compile(lambda x, options: x.sum())(x, {2})


def test_parameters_are_writable_again_after_tracing():
    w = mg.Tensor(np.ones(3), requires_grad=True)
    compiled = mg.compile(lambda x: (x * w).sum())
    compiled(mg.Tensor(np.ones(3))).backward()
    w.data += 1  # no lock left over from the trace
    assert compiled(mg.Tensor(np.ones(3))).item() == 6.0


# --- check=True ------------------------------------------------------------------------------


def test_check_passes_on_a_correct_program():
    x = mg.Tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    out = mg.compile(lambda x: (x.tanh() * x).relu().sum(), check=True)(x)
    out.backward()
    t = np.tanh(x.data)
    np.testing.assert_allclose(out.item(), (t * x.data).sum(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, t + x.data * (1 - t * t), rtol=1e-12)  # x tanh x > 0


@pytest.mark.parametrize("half", ["forward", "backward"])
def test_check_catches_a_wrong_program(monkeypatch, half):
    finish = Program.finish

    def wrong_finish(program):  # a faulty rewrite: the first Mul becomes an Add
        statements = getattr(program, half)
        mul = next(st for st in statements if st.fn is mg.ops.Mul)
        mul.fn = mg.ops.Add
        finish(program)

    monkeypatch.setattr(Program, "finish", wrong_finish)
    x = mg.Tensor(np.full(3, 0.5), requires_grad=True)
    message = "output 0" if half == "forward" else "the gradient of input 0"
    with pytest.raises(mg.CompileError, match=f"check=True.*{message}.*differs from eager"):
        mg.compile(lambda x: (x * x.tanh()).sum(), check=True)(x)


# --- Falling back to eager -------------------------------------------------------------------


def test_retain_grad_inside_falls_back_to_eager():
    kept = []

    def f(x):
        y = x * 3
        y.retain_grad()
        kept.append(y)
        return y.sum()

    compiled = mg.compile(f)
    x = mg.Tensor(np.ones(2), requires_grad=True)
    compiled(x).backward()
    assert np.array_equal(kept[-1].grad, np.ones(2)) and np.array_equal(x.grad, [3.0, 3.0])
    assert "retain_grad" in str(compiled.program(x))


def test_backward_inside_falls_back_to_eager():
    def f(x):
        loss = (x * x).sum()
        loss.backward()
        return loss

    compiled = mg.compile(f)
    x = mg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    compiled(x)
    assert np.array_equal(x.grad, [2.0, 4.0])  # accumulated once, by the eager run


def test_a_hook_added_inside_falls_back_to_eager():
    seen = []

    def f(x):
        y = x * 3
        y.grad_fn.add_hook(lambda node, grads: seen.append(grads[0].data.copy()))
        return y.sum()

    compiled = mg.compile(f)
    compiled(mg.Tensor(np.ones(2), requires_grad=True)).backward()
    assert len(seen) == 1 and np.array_equal(seen[0], [1.0, 1.0])


def test_debug_tools_run_the_call_eagerly():
    compiled = mg.compile(lambda x: (x * x).sum())
    x = mg.Tensor(np.ones(2), requires_grad=True)
    with mg.debug.trace(print_table=False) as trace:
        compiled(x).backward()
    assert [row.op for row in trace.rows] == ["Sum", "Mul"]  # the ops themselves, not one node
    with mg.debug.detect_anomaly():
        compiled(x)
    assert compiled.traces == 0


# --- Printing --------------------------------------------------------------------------------


def test_program_prints_one_statement_per_line():
    w = mg.Tensor(np.ones((3, 4)), requires_grad=True)
    compiled = mg.compile(lambda x: (x @ w).tanh().sum())
    text = str(compiled.program(mg.Tensor(np.ones((2, 3)), requires_grad=True)))
    lines = text.splitlines()
    assert lines[0] == "def forward(x0: f64[2, 3], p1: f64[3, 4]):"
    assert "    t2 = MatMul(x0, p1)" in lines and "    t3 = Tanh(t2)" in lines
    backward = lines[lines.index("") + 1 :]
    assert backward[0].startswith("def backward(g5: f64[]):")
    statement = re.compile(r"^    \w+(, \w+)* = \w+\(.*\)$")
    body = [line for line in lines if line.startswith("    ") and "return" not in line]
    assert len(body) >= 8 and all(statement.match(line) for line in body)
    assert backward[-1].startswith("    return dx0=") and "dp1=" in backward[-1]
    assert compiled.traces == 1


# --- More of what a call may look like -----------------------------------------------------


def test_arguments_and_results_in_any_nesting_with_check():
    x = mg.Tensor(np.linspace(-1, 1, 3), requires_grad=True)
    same = mg.compile(lambda a, b: (a, a * b), check=True)
    first, second = same(x, x)  # one tensor twice; an input returned as it is
    (first.sum() + second.sum()).backward()
    np.testing.assert_allclose(x.grad, 1 + 2 * x.data, rtol=1e-12)
    scaled = mg.compile(lambda a, *, scale: {"out": [a * scale]}, check=True)
    assert scaled(x, scale=2.0)["out"][0].data.tolist() == (2 * x.data).tolist()
    assert scaled(x, scale=3.0)["out"][0].data.tolist() == (3 * x.data).tolist()
    assert scaled.traces == 2  # a number argument is part of the signature


def test_a_module_passed_in_and_a_layer_loop_with_check():
    lstm = nn.LSTM(3, 4, num_layers=2)

    def loss(model, xs):
        out, (h, c) = model(xs)
        return (out**2).sum() + c.sum()

    compiled = mg.compile(loss, check=True)
    xs = mg.Tensor(np.random.default_rng(5).standard_normal((4, 2, 3)))
    compiled(lstm, xs).backward()
    got = [p.grad.copy() for p in lstm.parameters()]
    lstm.zero_grad()
    loss(lstm, xs).backward()
    for g, p in zip(got, lstm.parameters()):
        np.testing.assert_allclose(g, p.grad, rtol=1e-12, atol=1e-12)


def test_backward_twice_with_retain_graph_and_nested_compiles():
    inner = mg.compile(lambda a: a.tanh() * a)
    outer = mg.compile(lambda a: inner(a).sum() * 2)
    x = mg.Tensor(np.array([0.5, -1.0]), requires_grad=True)
    out = outer(x)
    out.backward(retain_graph=True)
    out.backward()
    t = np.tanh(x.data)
    np.testing.assert_allclose(x.grad, 2 * 2 * (t + x.data * (1 - t * t)), rtol=1e-12)
    assert inner.traces == 0  # traced into the outer program, not on its own
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.backward()


GLOBAL_SCALE = mg.Tensor(np.array([2.0]))


def scaled_by_global(x):
    return x * GLOBAL_SCALE


def test_rebinding_a_global_tensor_retraces():
    global GLOBAL_SCALE
    compiled = mg.compile(scaled_by_global)
    x = mg.Tensor(np.ones(1))
    assert compiled(x).item() == 2.0
    GLOBAL_SCALE = mg.Tensor(np.array([5.0]))
    assert compiled(x).item() == 5.0 and compiled.traces == 2


def test_drawing_from_np_random_while_tracing_is_refused():
    noisy = mg.compile(lambda x: x * mg.Tensor(np.random.standard_normal(x.shape)))
    with pytest.raises(mg.CompileError, match="draws random numbers"):
        noisy(mg.Tensor(np.ones(3)))


def test_saved_values_are_freed_by_backward_like_eager():
    import tracemalloc

    held = {}
    x = mg.Tensor(np.random.default_rng(6).standard_normal((500, 200)), requires_grad=True)
    for name in ("eager", "compiled"):
        chain = lambda a: (((a.tanh() * a).sigmoid() * a).tanh() * a).sum()  # noqa: E731
        fn = mg.compile(chain) if name == "compiled" else chain
        fn(x).backward()  # traced (and the gradient allocated) before measuring
        tracemalloc.start()
        out = fn(x)
        during = tracemalloc.get_traced_memory()[0]
        out.backward()
        held[name] = (during, tracemalloc.get_traced_memory()[0])  # `out` is still alive
        tracemalloc.stop()
    size = x.data.nbytes
    assert held["eager"][0] > 2 * size  # forward keeps what backward reads...
    assert held["compiled"][0] < 1.1 * held["eager"][0]  # ...no more than eager does...
    assert held["compiled"][1] < size / 10 and held["eager"][1] < size / 10  # ...until backward


def test_a_parameter_first_used_inside_no_grad_still_gets_its_gradient():
    w = mg.Tensor(np.array([2.0, 3.0]), requires_grad=True)

    def f(x):
        with mg.no_grad():
            scale = (w * 0).sum()  # w first seen here, where nothing is recorded
        return (x * w).sum() + scale

    mg.compile(f)(mg.Tensor(np.ones(2))).backward()
    assert np.array_equal(w.grad, [1.0, 1.0])


def test_a_traced_tensor_kept_from_an_earlier_trace_is_refused():
    kept = []
    compiled = mg.compile(lambda x: kept.append(x * 1) or kept[0].sum())
    compiled(mg.Tensor(np.ones(2)))
    with pytest.raises(mg.CompileError, match="traced by an earlier call"):
        compiled(mg.Tensor(np.ones(3)))


# --- Passes ----------------------------------------------------------------------------------


def run_program(program, arrays, seeds):
    """Outputs and input gradients of a program on the call's arrays and output gradients."""
    outputs, saved = program.run_forward([*arrays, *(t.data for t in program.captured)])
    return outputs, program.run_backward(saved, seeds)


def test_dead_code_elimination_alone_keeps_the_results(monkeypatch):
    from minigrad.compiler import passes

    def f(x, c):
        x.exp()  # computed, never used
        return mg.maximum(x, c).sum() + (x * c).sum()  # c needs no gradient: its half is dead

    rng = np.random.default_rng(7)
    x = mg.Tensor(rng.standard_normal(4), requires_grad=True)
    c = mg.Tensor(rng.standard_normal(4))
    monkeypatch.setattr(passes, "PASSES", [])
    before = mg.compile(f).program(x, c)
    monkeypatch.undo()
    after = mg.compile(f).program(x, c)
    assert mg.ops.Exp in {st.fn for st in before.forward}
    assert str(after) == after.listing("eliminate_dead_code") != after.listing("traced")
    assert after.listing("traced") == str(before)  # the same names in every stage
    assert "= Exp(x0)" in str(before) and "Exp" not in str(after)
    assert mg.ops.Exp not in {st.fn for st in after.forward}
    assert len(after.backward) < len(before.backward)
    for _ in range(3):  # new values: both programs give the same outputs and gradients
        arrays = [rng.standard_normal(4), rng.standard_normal(4)]
        seeds = [np.asarray(rng.standard_normal())]
        out_a, grads_a = run_program(after, arrays, seeds)
        out_b, grads_b = run_program(before, arrays, seeds)
        np.testing.assert_array_equal(out_a[0], out_b[0])
        np.testing.assert_array_equal(grads_a[0], grads_b[0])
        assert grads_a[1] is None and grads_b[1] is None


def test_listing_writes_literals_and_names_a_zero_d_parameter():
    scale = mg.Tensor(np.array(2.0), requires_grad=True)
    compiled = mg.compile(lambda x: (1 - x) * scale)
    text = str(compiled.program(mg.Tensor(np.ones(3), requires_grad=True)))
    assert "= Sub(1.0, x0)" in text and "Mul(t2, p1)" in text


def test_check_keeps_no_program_it_refused(monkeypatch):
    finish = Program.finish

    def wrong_finish(program):  # a faulty rewrite: the Mul becomes an Add
        next(st for st in program.forward if st.fn is mg.ops.Mul).fn = mg.ops.Add
        finish(program)

    monkeypatch.setattr(Program, "finish", wrong_finish)
    compiled = mg.compile(lambda x: (x * x).sum(), check=True)
    x = mg.Tensor(np.full(3, 0.5), requires_grad=True)
    for _ in range(2):  # refused each time, never replayed
        with pytest.raises(mg.CompileError, match="check=True.*output 0"):
            compiled(x)
