"""Each rewrite pass alone: the program before and after it gives the same outputs and input
gradients on random inputs, and the pass did rewrite what it is for."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.compiler import passes
from minigrad.ops import Add, Linear, MatMul, Neg, Sum


def lstm_loop(cell):
    def loss(x, h, c):
        for x_t in mg.unstack(x):
            h, c = cell(x_t, (h, c))
        return (h * h).sum(), c

    return loss


def gru_loop(cell):
    def loss(x, h, c):
        for x_t in mg.unstack(x):
            h = cell(x_t, h)
        return (h * c).sum(), h

    return loss


def programs(monkeypatch, fn, args, rewrite):
    """The program of `fn` traced with no pass, and with only `rewrite`."""
    monkeypatch.setattr(passes, "PASSES", [])
    before = mg.compile(fn).program(*args)
    monkeypatch.setattr(passes, "PASSES", [rewrite])
    after = mg.compile(fn).program(*args)
    return before, after


def run(program, arrays, seeds):
    outputs, saved = program.run_forward([*arrays, *(t.data for t in program.captured)])
    return outputs, program.run_backward(saved, seeds)


def assert_same_results(before, after, shapes, rng):
    for _ in range(3):
        arrays = [rng.standard_normal(s) for s in shapes]
        seeds = [rng.standard_normal(before.meta[v][0]) for v in before.outputs]
        out_b, grads_b = run(before, arrays, seeds)
        out_a, grads_a = run(after, arrays, seeds)
        for a, b in zip(out_a + grads_a, out_b + grads_b):
            if b is None:
                assert a is None
            else:
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


CASES = {
    "lstm": (nn.LSTMCell, lstm_loop),
    "gru": (nn.GRUCell, gru_loop),
}


def loop_case(kind, steps=4):
    cell_type, loop = CASES[kind]
    cell = cell_type(3, 5, rng=0)
    shapes = [(steps, 2, 3), (2, 5), (2, 5)]
    args = [mg.Tensor(np.zeros(s), requires_grad=True) for s in shapes]
    return loop(cell), args, shapes


BOTH, GRU, LSTM = {"lstm", "gru"}, {"gru"}, {"lstm"}


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize(
    "rewrite, changed, changes",
    [
        (passes.join_sums_of_pieces, lambda old, new: new.count(Add) < old.count(Add), GRU),
        (passes.fuse_gate_activations, lambda old, new: passes.GateActivations in new, LSTM),
        (
            passes.hoist_input_projections,
            lambda old, new: new.count(Linear) < old.count(Linear),
            BOTH,
        ),
        (
            passes.form_recurrent_gradients_once,
            lambda old, new: new.count(Sum) < old.count(Sum),
            BOTH,
        ),
        (passes.transpose_recurrent_weights, lambda old, new: Linear not in new, BOTH),
        (passes.subtract_negations, lambda old, new: new.count(Neg) < old.count(Neg), GRU),
        (passes.batch_derivative_factors, lambda old, new: passes.TanhFactor in new, BOTH),
        (passes.eliminate_common_subexpressions, lambda old, new: len(new) < len(old), LSTM),
        (passes.eliminate_dead_code, lambda old, new: len(new) <= len(old), BOTH),
    ],
)
def test_a_pass_alone_keeps_the_results(monkeypatch, kind, rewrite, changed, changes):
    fn, args, shapes = loop_case(kind)
    before, after = programs(monkeypatch, fn, args, rewrite)
    old, new = ([st.fn for st in p.forward + p.backward] for p in (before, after))
    if kind in changes:  # a GRU has no gate blocks cut by one split, no twin bias sums, ...
        assert changed(old, new), after
    assert_same_results(before, after, shapes, np.random.default_rng(1))


def test_the_recurrent_bias_is_added_once_into_the_hoisted_projection(monkeypatch):
    fn, args, shapes = loop_case("lstm", steps=4)
    hoist = passes.hoist_input_projections

    def hoisted_then(program):
        hoist(program)
        passes.fold_recurrent_bias(program)

    _, before = programs(monkeypatch, fn, args, hoist)
    _, folded = programs(monkeypatch, fn, args, hoisted_then)
    biased = lambda p: [st.args[2][0] for st in p.forward if st.fn is Linear]  # noqa: E731
    assert biased(before) == [True] * 5  # the hoisted projection and 4 steps, each with a bias
    assert biased(folded) == [True] + [False] * 4  # the steps' bias now in the projection
    assert_same_results(before, folded, shapes, np.random.default_rng(4))


def test_a_gru_adds_its_r_and_z_pieces_in_one_call_and_fuses_their_sigmoids(monkeypatch):
    fn, args, shapes = loop_case("gru", steps=3)

    def joined_then_fused(program):
        passes.join_sums_of_pieces(program)
        passes.fuse_gate_activations(program)

    before, after = programs(monkeypatch, fn, args, joined_then_fused)
    count = lambda p, f: sum(st.fn is f for st in p.forward + p.backward)  # noqa: E731
    sigmoids = [st for st in after.forward if st.fn is mg.ops.Sigmoid]
    assert count(before, mg.ops.Sigmoid) == 6 and len(sigmoids) == 3  # r, z: one block a step
    assert all(after.meta[st.outputs[0]][0] == (2, 10) for st in sigmoids)  # 2 x 5 columns
    assert count(before, mg.ops.SigmoidGrad) == 6 and count(after, mg.ops.SigmoidGrad) == 3
    assert_same_results(before, after, shapes, np.random.default_rng(5))


def test_gate_fusion_joins_the_gates_forward_and_backward(monkeypatch):
    fn, args, _ = loop_case("lstm", steps=2)
    before, after = programs(monkeypatch, fn, args, passes.fuse_gate_activations)
    count = lambda program, f: [st.fn for st in program.forward + program.backward].count(f)  # noqa: E731
    assert count(before, mg.ops.Sigmoid) == 6 and count(after, mg.ops.Sigmoid) == 0
    assert count(before, mg.ops.SigmoidGrad) == 6 and count(after, mg.ops.SigmoidGrad) == 0
    assert count(after, passes.GateActivations) == count(after, passes.GateActivationsGrad) == 2
    assert count(after, mg.ops.Tanh) == 2  # tanh(c) stays: it is not a gate block


def test_hoisting_makes_one_projection_and_one_product_per_gradient(monkeypatch):
    fn, args, _ = loop_case("lstm", steps=5)
    before, after = programs(monkeypatch, fn, args, passes.hoist_input_projections)
    linear_before = [st for st in before.forward if st.fn is mg.ops.Linear]
    linear_after = [st for st in after.forward if st.fn is mg.ops.Linear]
    assert len(linear_before) == 10 and len(linear_after) == 6  # 5 x-projections became 1
    matmuls = lambda p: sum(st.fn is mg.ops.MatMul for st in p.backward)  # noqa: E731
    assert matmuls(before) - matmuls(after) == 2 * 5 - 2  # dW_ih and dx: 2 products, not 10


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_the_recurrent_weight_gets_one_product_and_one_sum(monkeypatch, kind):
    steps = 5
    fn, args, shapes = loop_case(kind, steps=steps)
    before, after = programs(monkeypatch, fn, args, passes.form_recurrent_gradients_once)
    count = lambda p, f: sum(st.fn is f for st in p.backward)  # noqa: E731
    # W_ih and W_hh, each used by one Linear per step: T products G_t.T @ x_t (h_t) become
    # one each, T bias sums one each; the products G_t @ W carrying gradients back stay
    assert count(before, MatMul) - count(after, MatMul) == 2 * (steps - 1)
    assert count(before, Sum) - count(after, Sum) == 2 * (steps - 1)
    assert_same_results(before, after, shapes, np.random.default_rng(3))


def test_a_projection_whose_weight_is_computed_inside_is_left_alone(monkeypatch):
    cell = nn.LSTMCell(3, 5, rng=0)

    def fn(x, h, c):
        w = cell.weight_ih * 1.0  # made inside: not hoisted (it could depend on the step)
        for x_t in mg.unstack(x):
            gates = mg.linear(x_t, w) + mg.linear(h, cell.weight_hh)
            i, f, g, o = mg.split(gates, 4, axis=-1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
        return h.sum()

    shapes = [(3, 2, 3), (2, 5), (2, 5)]
    args = [mg.Tensor(np.zeros(s), requires_grad=True) for s in shapes]
    before, after = programs(monkeypatch, fn, args, passes.hoist_input_projections)
    assert len(before.forward) == len(after.forward)
    assert_same_results(before, after, shapes, np.random.default_rng(2))


def test_the_gate_derivatives_of_all_steps_are_formed_at_once_and_in_place(monkeypatch):
    steps, batch, hidden = 6, 2, 5
    fn, args, shapes = loop_case("lstm", steps=steps)
    early = [passes.fuse_gate_activations, passes.hoist_input_projections]
    early += [passes.form_recurrent_gradients_once, passes.eliminate_common_subexpressions]

    def with_batching(program):
        for rewrite in early:
            rewrite(program)
        passes.batch_derivative_factors(program)

    def without(program):
        for rewrite in early:
            rewrite(program)

    _, before = programs(monkeypatch, fn, args, without)
    _, after = programs(monkeypatch, fn, args, with_batching)
    count = lambda p, f: sum(st.fn is f for st in p.backward)  # noqa: E731
    assert count(before, passes.GateActivationsGrad) == steps
    assert count(after, passes.GateActivationsGrad) == 0 and count(after, passes.GateFactor) == 1
    assert count(after, passes.MulInPlace) == steps  # each step multiplies over its factor
    # the factors live where the stacked gate gradients did: what is new is tanh(c)'s factors
    # (steps x batch x hidden) and at most one step's gate block
    grown = after.generated.arena_bytes - before.generated.arena_bytes
    assert grown <= (steps * batch * hidden + batch * 4 * hidden) * 8
    assert_same_results(before, after, shapes, np.random.default_rng(6))


def test_factors_of_zero_dimensional_values_are_batched_right():
    def fn(x):
        parts = [x[k].tanh() * x[k + 1].sigmoid() for k in range(3)]  # 0-d values, 0-d factors
        return mg.stack(parts).sum()

    x = mg.Tensor(np.linspace(-1.0, 1.5, 4), requires_grad=True)
    compiled = mg.compile(fn)
    program = compiled.program(x)
    assert any(st.fn is passes.TanhFactor for st in program.backward)
    got = mg.grad(compiled(x), [x])[0].data
    want = mg.grad(fn(x), [x])[0].data
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_the_sigmoids_halving_moves_into_the_weights(monkeypatch, kind):
    fn, args, shapes = loop_case(kind, steps=4)
    early = [passes.join_sums_of_pieces, passes.fuse_gate_activations]
    early += [passes.hoist_input_projections, passes.fold_recurrent_bias]

    def run_passes(with_prescale):
        def rewrite(program):
            for early_pass in early:
                early_pass(program)
            if with_prescale:
                passes.prescale_gate_inputs(program)

        return rewrite

    _, before = programs(monkeypatch, fn, args, run_passes(False))
    _, after = programs(monkeypatch, fn, args, run_passes(True))
    fns = [st.fn for st in after.forward]
    assert fns.count(passes.ScaledTanh) == 4  # every step's gate block
    assert passes.GateActivations not in fns and mg.ops.Sigmoid not in fns
    assert fns.count(passes.Scale) in (3, 4)  # W_ih, the bias(es), W_hh: once per call
    assert_same_results(before, after, shapes, np.random.default_rng(7))


CELLS = [
    nn.RNNCell,
    nn.LSTMCell,
    nn.GRUCell,
    nn.PeepholeLSTMCell,
    nn.CoupledLSTMCell,
    nn.NoForgetGateLSTMCell,
    nn.LayerNormLSTMCell,
    nn.MGUCell,
]


@settings(max_examples=25, deadline=None)
@given(
    cell_type=st.sampled_from(CELLS),
    steps=st.integers(1, 4),
    batch=st.integers(1, 3),
    hidden=st.integers(1, 4),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_every_cell_loop_compiles_to_eagers_values_and_gradients(
    cell_type, steps, batch, hidden, bias, seed
):
    """All the passes together, on loops of every cell in minigrad.nn, including one step, a
    batch of one and no biases (where the patterns the passes look for are partly missing)."""
    cell = cell_type(3, hidden, bias=bias, rng=seed)
    rng = np.random.default_rng(seed)
    x = mg.Tensor(rng.standard_normal((steps, batch, 3)), requires_grad=True)
    weights = mg.Tensor(rng.standard_normal((batch, hidden)))

    def loss(x):
        state = None
        for x_t in mg.unstack(x):
            state = cell(x_t, state)
        h = state[0] if isinstance(state, tuple) else state
        return (h * weights).sum() + (h * h).sum()

    eager = loss(x)
    want = mg.grad(eager, [x, *cell.parameters()])
    compiled = mg.compile(loss)
    for _ in range(2):  # traced, then replayed
        got_loss = compiled(x)
        got = mg.grad(got_loss, [x, *cell.parameters()])
        np.testing.assert_allclose(got_loss.data, eager.data, rtol=1e-12, atol=1e-12)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.data, w.data, rtol=1e-10, atol=1e-12)


def test_a_gru_copies_its_r_and_z_gradients_once_after_the_loop_not_every_step(monkeypatch):
    steps = 5
    fn, args, shapes = loop_case("gru", steps=steps)
    with_it = mg.compile(fn).program(*args)  # every pass
    without = [p for p in passes.PASSES if p is not passes.share_stacked_pieces]
    monkeypatch.setattr(passes, "PASSES", without)
    without_it = mg.compile(fn).program(*args)
    copies = lambda p: p.source[p.source.index("def backward") :].count("np_copyto(")  # noqa: E731
    assert copies(without_it) >= steps  # each step copies its r, z gradients once more
    assert copies(with_it) <= 2  # one copy of all of them; h_0 into the stack of states
    assert_same_results(without_it, with_it, shapes, np.random.default_rng(8))


def test_a_projection_read_elsewhere_keeps_its_scale(monkeypatch):
    cell = nn.GRUCell(3, 5, rng=0)

    def fn(x, h, c):
        projected = mg.unstack(mg.linear(x, cell.weight_ih, cell.bias_ih))
        total = 0.0
        for p_t in projected:  # a GRU step, as GRUCell.step writes it
            x_r, x_z, x_n = mg.split(p_t, 3, axis=-1)
            h_r, h_z, h_n = mg.split(mg.linear(h, cell.weight_hh, cell.bias_hh), 3, axis=-1)
            r, z = (x_r + h_r).sigmoid(), (x_z + h_z).sigmoid()
            n = (x_n + r * h_n).tanh()
            h = (h - n) * z + n
            total = total + (p_t + 1.0).sum()  # the projection read again, unscaled
        return (h * c).sum() + total

    shapes = [(3, 2, 3), (2, 5), (2, 5)]
    args = [mg.Tensor(np.zeros(s), requires_grad=True) for s in shapes]
    compiled = mg.compile(fn).program(*args)
    monkeypatch.setattr(passes, "PASSES", [])
    traced = mg.compile(fn).program(*args)
    assert passes.ScaledTanh not in [st.fn for st in compiled.forward]  # left as it was
    assert_same_results(traced, compiled, shapes, np.random.default_rng(9))
