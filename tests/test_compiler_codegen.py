"""The generated code of a compiled program: lowerings, buffers reused by liveness, views made
once, arenas kept apart between calls whose backward has not run yet."""

from __future__ import annotations

import numpy as np
from test_compiler import Cube  # a user Function with no lowering

import minigrad as mg
from minigrad import nn


def lstm_loss(cell, steps=3):
    def loss(x):
        h = c = mg.Tensor(np.zeros((2, cell.hidden_size)))
        for x_t in mg.unstack(x):
            h, c = cell(x_t, (h, c))
        return (h * h).sum()

    return loss


def test_an_lstm_step_is_plain_numpy_calls_with_views_made_once():
    cell = nn.LSTMCell(3, 4, rng=0)
    x = mg.Tensor(np.ones((3, 2, 3)), requires_grad=True)
    source = mg.compile(lstm_loss(cell)).program(x).source
    body = source[source.index("def forward") :]
    assert ".forward(" not in source  # every op has a lowering
    assert "np_tanh(" in body and "np_matmul(" in body  # numpy's, bound to names
    assert "np_multiply(v" in body  # writing into a buffer given as out
    assert "[:, 0:4]" not in body  # the gate views are made with the buffers, not per call
    assert "np_concatenate" not in body and "np_stack" not in body  # parts written in place


def test_a_function_without_lowering_calls_its_forward_and_is_right():
    compiled = mg.compile(lambda a: (Cube.apply(a.tanh()) * a).sum())
    a = mg.Tensor(np.linspace(-1, 1, 5), requires_grad=True)
    assert "forward(Ctx(" in compiled.program(a).source
    assert mg.gradcheck(compiled, [a])


def test_buffers_are_reused_once_their_last_reader_ran():
    def chain(a):
        for _ in range(20):
            a = (a * 1.5).tanh()
        return a.sum()

    x = mg.Tensor(np.ones(1000), requires_grad=True)
    program = mg.compile(chain).program(x)
    generated = program.generated
    n_values = sum(len(st.outputs) for st in program.forward + program.backward)
    assert len(generated.buffers) < n_values / 2
    want = mg.grad(chain(x), [x])[0].data
    got = mg.grad(mg.compile(chain)(x), [x])[0].data
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_two_calls_before_backward_keep_their_own_buffers():
    cell = nn.LSTMCell(3, 4, rng=1)
    loss = lstm_loss(cell)
    compiled = mg.compile(loss)
    rng = np.random.default_rng(0)
    xs = [mg.Tensor(rng.standard_normal((3, 2, 3)), requires_grad=True) for _ in range(2)]
    outs = [compiled(x) for x in xs]  # the second forward runs before the first backward
    for out in reversed(outs):
        out.backward()
    for x, out in zip(xs, outs):
        twin = mg.Tensor(x.data, requires_grad=True)
        want = loss(twin)
        want.backward()
        np.testing.assert_allclose(out.data, want.data, rtol=1e-12)
        np.testing.assert_allclose(x.grad, twin.grad, rtol=1e-12)


def test_outputs_and_gradients_are_fresh_arrays_every_call():
    compiled = mg.compile(lambda a: ((a * 2).tanh(), a.reshape(-1), a * 1))
    a = mg.Tensor(np.ones((2, 2)), requires_grad=True)
    first = compiled(a)
    kept = [o.data.copy() for o in first]
    compiled(mg.Tensor(np.zeros((2, 2)), requires_grad=True))
    for o, k in zip(first, kept):
        np.testing.assert_array_equal(o.data, k)
    g1 = mg.grad(list(compiled(a)), [a], [np.ones((2, 2)), np.ones(4), np.ones((2, 2))])[0]
    g2 = mg.grad(list(compiled(a)), [a], [np.ones((2, 2)), np.ones(4), np.ones((2, 2))])[0]
    assert not np.shares_memory(g1.data, g2.data)


def test_a_reshape_that_copies_is_redone_every_call():
    compiled = mg.compile(lambda a: (a.T.reshape(-1) * 1).tanh())
    for seed in range(2):
        a = mg.Tensor(np.random.default_rng(seed).standard_normal((3, 2)), requires_grad=True)
        np.testing.assert_allclose(compiled(a).data, np.tanh(a.data.T.reshape(-1)), rtol=1e-15)


def test_a_join_of_computed_parts_and_an_input_writes_the_parts_in_place_and_copies_the_input():
    def fn(a, b):
        parts = [a, (a * 2).tanh(), (a * 3).tanh()]  # an input, then two computed values
        return (mg.stack(parts) * b).sum()

    a = mg.Tensor(np.linspace(-1, 1, 4), requires_grad=True)
    b = mg.Tensor(np.arange(12.0).reshape(3, 4))
    compiled = mg.compile(fn)
    source = compiled.program(a, b).source
    forward = source[source.index("def forward") : source.index("def backward")]
    assert "np_stack" not in forward and forward.count("np_copyto(") == 1  # the input part only
    for scale in (1.0, -0.5):  # replayed with new values: the copy is made on every call
        a2 = mg.Tensor(a.data * scale, requires_grad=True)
        want = fn(a2, b)
        want_grad = mg.grad(want, [a2])[0].data
        got = compiled(a2, b)
        np.testing.assert_allclose(got.data, want.data, rtol=1e-12)
        np.testing.assert_allclose(mg.grad(got, [a2])[0].data, want_grad, rtol=1e-12)
