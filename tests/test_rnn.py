"""Recurrent cells and layers: gradients against finite differences, BPTT, training, errors."""

import math
import textwrap

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn, optim
from minigrad.nn import functional as F
from minigrad.testing import check_cell

sizes = st.integers(1, 6)
small = st.integers(1, 3)
seeds = st.integers(0, 2**32 - 1)
batches = st.none() | st.integers(1, 6)  # None: an unbatched input


def drawn_tensor(draw, shape, bound=2.0):
    """A float64 Tensor that requires grad, with Hypothesis-drawn values in [-bound, bound]."""
    values = draw(hnp.arrays(np.float64, shape, elements=st.floats(-bound, bound)))
    return mg.Tensor(values, requires_grad=True)


def assert_uniform(values, bound):
    """Loose checks that `values` look like U(-bound, bound) samples (and not narrower/shifted)."""
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.95 * bound
    assert abs(values.mean()) < 4 * bound / math.sqrt(3 * values.size)  # 4 standard errors
    assert abs(values.std() / (bound / math.sqrt(3)) - 1) < 0.1


def lead(batch):
    return () if batch is None else (batch,)


# --- Cells: gradcheck w.r.t. input, state(s) and every parameter ----------------------------


@pytest.mark.parametrize("cell_type", [nn.RNNCell, nn.GRUCell])
@settings(max_examples=10)
@given(st.data(), batches, sizes, sizes, st.booleans(), seeds)
def test_single_state_cell_gradcheck(cell_type, data, batch, input_size, hidden_size, bias, seed):
    cell = cell_type(input_size, hidden_size, bias=bias, rng=seed)
    x = drawn_tensor(data.draw, lead(batch) + (input_size,))
    h = drawn_tensor(data.draw, lead(batch) + (hidden_size,))
    assert mg.gradcheck(lambda x, h, *ps: cell(x, h), [x, h, *cell.parameters()])


@settings(max_examples=10)
@given(st.data(), batches, sizes, sizes, seeds)
def test_relu_rnn_cell_gradcheck_away_from_the_kink(data, batch, input_size, hidden_size, seed):
    cell = nn.RNNCell(input_size, hidden_size, nonlinearity="relu", rng=seed)
    x = drawn_tensor(data.draw, lead(batch) + (input_size,))
    h = drawn_tensor(data.draw, lead(batch) + (hidden_size,))
    pre = x.data @ cell.weight_ih.data.T + cell.bias_ih.data
    pre = pre + h.data @ cell.weight_hh.data.T + cell.bias_hh.data
    assume(np.abs(pre).min() > 1e-3)  # relu has no derivative at 0; keep finite differences off it
    assert mg.gradcheck(lambda x, h, *ps: cell(x, h), [x, h, *cell.parameters()])


@settings(max_examples=10)
@given(st.data(), batches, sizes, sizes, st.booleans(), seeds)
def test_lstm_cell_gradcheck(data, batch, input_size, hidden_size, bias, seed):
    cell = nn.LSTMCell(input_size, hidden_size, bias=bias, rng=seed)
    x = drawn_tensor(data.draw, lead(batch) + (input_size,))
    h = drawn_tensor(data.draw, lead(batch) + (hidden_size,))
    c = drawn_tensor(data.draw, lead(batch) + (hidden_size,))
    assert mg.gradcheck(lambda x, h, c, *ps: cell(x, (h, c)), [x, h, c, *cell.parameters()])


CELLS = {
    "RNNCell": lambda dtype, rng: nn.RNNCell(3, 4, dtype=dtype, rng=rng),
    "RNNCell-relu": lambda dtype, rng: nn.RNNCell(3, 4, nonlinearity="relu", dtype=dtype, rng=rng),
    "RNNCell-nobias": lambda dtype, rng: nn.RNNCell(3, 4, bias=False, dtype=dtype, rng=rng),
    "LSTMCell": lambda dtype, rng: nn.LSTMCell(3, 4, dtype=dtype, rng=rng),
    "LSTMCell-forget_bias": lambda dtype, rng: nn.LSTMCell(
        3, 4, dtype=dtype, rng=rng, forget_bias=1
    ),
    "GRUCell": lambda dtype, rng: nn.GRUCell(3, 4, dtype=dtype, rng=rng),
    "GRUCell-nobias": lambda dtype, rng: nn.GRUCell(3, 4, bias=False, dtype=dtype, rng=rng),
    "PeepholeLSTMCell": lambda dtype, rng: nn.PeepholeLSTMCell(3, 4, dtype=dtype, rng=rng),
    "CoupledLSTMCell": lambda dtype, rng: nn.CoupledLSTMCell(3, 4, dtype=dtype, rng=rng),
    "NoForgetGateLSTMCell": lambda dtype, rng: nn.NoForgetGateLSTMCell(3, 4, dtype=dtype, rng=rng),
    "PeepholeLSTMCell-noaf": lambda dtype, rng: nn.PeepholeLSTMCell(
        3, 4, output_activation=False, dtype=dtype, rng=rng
    ),
    # eps=0.1: at zero input and state layer norm's slope 1/sqrt(eps) compounds over the steps,
    # which the finite differences (not the gradient) cannot follow at the default 1e-5
    "LayerNormLSTMCell": lambda dtype, rng: nn.LayerNormLSTMCell(
        3, 4, eps=0.1, dtype=dtype, rng=rng
    ),
    "MGUCell": lambda dtype, rng: nn.MGUCell(3, 4, dtype=dtype, rng=rng),
}


@pytest.mark.parametrize("kind", list(CELLS))
def test_every_cell_passes_check_cell(kind):
    """Unrolled by nn.Recurrent: gradients, dtypes, state shapes and padding (minigrad.testing)."""
    check_cell(CELLS[kind], input_size=3, max_examples=10)


@pytest.mark.parametrize("cls", [nn.LSTMCell, nn.LSTM])
def test_forget_bias_raises_the_forget_block_of_the_biases_and_nothing_else(cls):
    options = {"num_layers": 2, "bidirectional": True} if cls is nn.LSTM else {}
    plain, opened = cls(3, 4, rng=7, **options), cls(3, 4, rng=7, forget_bias=1.5, **options)
    hidden, changed = 4, 0
    for (name, p), (_, q) in zip(plain.named_parameters(), opened.named_parameters()):
        if not name.startswith("bias_hh"):  # the same draws: weights and bias_ih untouched
            np.testing.assert_array_equal(q.data, p.data)
            continue
        changed += 1
        rise = q.data - p.data
        np.testing.assert_allclose(rise[hidden : 2 * hidden], 1.5, rtol=1e-15)  # rows [H, 2H): f
        np.testing.assert_array_equal(np.delete(rise, np.s_[hidden : 2 * hidden]), 0.0)
    assert changed == (4 if cls is nn.LSTM else 1)  # every layer and direction
    assert "forget_bias=1.5" in repr(opened)
    f32 = cls(3, 4, rng=7, forget_bias=1.0, dtype=np.float32, **options)
    assert all(p.dtype == np.float32 for p in f32.parameters())


def test_lstm_cell_matches_the_equations_written_in_numpy():
    rng = np.random.default_rng(0)
    cell = nn.LSTMCell(3, 4, rng=1)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    w_ih, w_hh = cell.weight_ih.data, cell.weight_hh.data
    gates = x @ w_ih.T + cell.bias_ih.data + h @ w_hh.T + cell.bias_hh.data
    i, f, g, o = gates[:, :4], gates[:, 4:8], gates[:, 8:12], gates[:, 12:]
    sig = lambda a: 1 / (1 + np.exp(-a))
    c_new = sig(f) * c + sig(i) * np.tanh(g)
    h_new = sig(o) * np.tanh(c_new)
    h_got, c_got = cell(x, (h, c))
    np.testing.assert_allclose(h_got.data, h_new, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_got.data, c_new, rtol=1e-12, atol=1e-14)


def test_gru_cell_matches_the_equations_written_in_numpy():
    rng = np.random.default_rng(0)
    cell = nn.GRUCell(3, 4, rng=1)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    wi, wh = cell.weight_ih.data, cell.weight_hh.data
    bi, bh = cell.bias_ih.data, cell.bias_hh.data
    sig = lambda a: 1 / (1 + np.exp(-a))
    block = lambda k: slice(4 * k, 4 * k + 4)
    r = sig(x @ wi[block(0)].T + bi[block(0)] + h @ wh[block(0)].T + bh[block(0)])
    z = sig(x @ wi[block(1)].T + bi[block(1)] + h @ wh[block(1)].T + bh[block(1)])
    n = np.tanh(x @ wi[block(2)].T + bi[block(2)] + r * (h @ wh[block(2)].T + bh[block(2)]))
    np.testing.assert_allclose(cell(x, h).data, (1 - z) * n + z * h, rtol=1e-12, atol=1e-14)


def test_cell_state_defaults_to_zeros():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2))
    lstm, gru, rnn = nn.LSTMCell(2, 4, rng=0), nn.GRUCell(2, 4, rng=0), nn.RNNCell(2, 4, rng=0)
    zeros = np.zeros((3, 4))
    for got, want in zip(lstm(x), lstm(x, (zeros, zeros))):
        np.testing.assert_array_equal(got.data, want.data)
    np.testing.assert_array_equal(gru(x).data, gru(x, zeros).data)
    np.testing.assert_array_equal(rnn(x).data, rnn(x, zeros).data)
    assert lstm(x[0])[0].shape == (4,) and gru(x[0]).shape == (4,)  # unbatched


def test_module_docstring_snippet_runs():
    """The 'LSTM from primitives' snippet in minigrad/nn/rnn.py must stay true."""
    lines = nn.rnn.__doc__.split("::", 1)[1].splitlines()[1:]
    end = next(i for i, line in enumerate(lines) if line and not line.startswith("    "))
    snippet = "\n".join(lines[:end])
    assert "mg.split(gates, 4" in snippet and "assert" in snippet
    exec(textwrap.dedent(snippet), {})


# --- Sequence layers: parameters, shapes, BPTT gradients ------------------------------------


@pytest.mark.parametrize(
    ("cls", "gates"), [(nn.RNN, 1), (nn.LSTM, 4), (nn.GRU, 3)], ids=["RNN", "LSTM", "GRU"]
)
def test_layer_parameter_names_and_shapes_are_pytorchs(cls, gates):
    layer = cls(3, 5, num_layers=2)
    expected = [
        ("weight_ih_l0", (gates * 5, 3)),
        ("weight_hh_l0", (gates * 5, 5)),
        ("bias_ih_l0", (gates * 5,)),
        ("bias_hh_l0", (gates * 5,)),
        ("weight_ih_l1", (gates * 5, 5)),
        ("weight_hh_l1", (gates * 5, 5)),
        ("bias_ih_l1", (gates * 5,)),
        ("bias_hh_l1", (gates * 5,)),
    ]
    assert [(name, p.shape) for name, p in layer.named_parameters()] == expected
    assert [name for name, _ in cls(3, 5, bias=False).named_parameters()] == [
        "weight_ih_l0",
        "weight_hh_l0",
    ]


@pytest.mark.parametrize(
    ("cls", "gates"), [(nn.RNNCell, 1), (nn.LSTMCell, 4), (nn.GRUCell, 3)], ids=["R", "L", "G"]
)
def test_cell_parameter_names_shapes_and_init_bounds(cls, gates):
    cell = cls(3, 16, rng=0)
    expected = [
        ("weight_ih", (16 * gates, 3)),
        ("weight_hh", (16 * gates, 16)),
        ("bias_ih", (16 * gates,)),
        ("bias_hh", (16 * gates,)),
    ]
    assert [(name, p.shape) for name, p in cell.named_parameters()] == expected
    assert_uniform(np.concatenate([p.data.ravel() for p in cell.parameters()]), 1 / math.sqrt(16))


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_layer_output_shapes(cls):
    layer = cls(3, 4, num_layers=2, rng=0)
    first = cls(3, 4, num_layers=2, batch_first=True, rng=0)
    x = np.random.default_rng(0).standard_normal((6, 2, 3))  # (T, B, I)
    output, state = layer(x)
    output_bf, state_bf = first(x.transpose(1, 0, 2))  # (B, T, I)
    unbatched_output, unbatched_state = layer(x[:, 0])  # (T, I)
    assert output.shape == (6, 2, 4) and output_bf.shape == (2, 6, 4)
    assert unbatched_output.shape == (6, 4)
    states = state if isinstance(state, tuple) else (state,)
    states_bf = state_bf if isinstance(state_bf, tuple) else (state_bf,)
    unbatched = unbatched_state if isinstance(unbatched_state, tuple) else (unbatched_state,)
    for s, s_bf, s_one in zip(states, states_bf, unbatched):
        assert s.shape == s_bf.shape == (2, 2, 4) and s_one.shape == (2, 4)
        np.testing.assert_allclose(s.data, s_bf.data, rtol=1e-13)
        np.testing.assert_allclose(s.data[:, 0], s_one.data, rtol=1e-13)
    np.testing.assert_allclose(output_bf.data, output.data.transpose(1, 0, 2), rtol=1e-13)
    np.testing.assert_allclose(unbatched_output.data, output.data[:, 0], rtol=1e-13)
    # The last layer's final state is the output's last step.
    np.testing.assert_array_equal(states[0].data[-1], output.data[-1])


def test_layer_runs_the_cell_step_by_step():
    """A 1-layer LSTM equals its cell (same weights) applied in a Python loop."""
    rng = np.random.default_rng(3)
    layer, cell = nn.LSTM(3, 4, rng=0), nn.LSTMCell(3, 4, rng=5)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})  # drop "_l0"
    x, h0, c0 = (
        rng.standard_normal((5, 2, 3)),
        rng.standard_normal((2, 4)),
        rng.standard_normal((2, 4)),
    )
    output, (h_n, c_n) = layer(x, (h0[None], c0[None]))
    h, c = h0, c0
    for t in range(5):
        h, c = cell(x[t], (h, c))
        np.testing.assert_allclose(output.data[t], h.data, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(h_n.data[0], h.data, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(c_n.data[0], c.data, rtol=1e-13, atol=1e-15)


@settings(max_examples=12)
@given(
    st.data(),
    st.sampled_from(["LSTM", "GRU", "RNN"]),
    st.integers(1, 8),
    st.integers(1, 2),
    st.none() | small,
    small,
    small,
    st.booleans(),
    seeds,
)
def test_bptt_gradcheck_whole_sequence(
    data, kind, steps, num_layers, batch, input_size, hidden_size, batch_first, seed
):
    """d(output, final state) / d(input sequence, initial state, every weight), over T steps."""
    layer = getattr(nn, kind)(
        input_size, hidden_size, num_layers, batch_first=batch_first, rng=seed
    )
    if batch is None:
        x_shape = (steps, input_size)
    else:
        x_shape = (batch, steps, input_size) if batch_first else (steps, batch, input_size)
    state_shape = (num_layers,) + lead(batch) + (hidden_size,)
    x = drawn_tensor(data.draw, x_shape)
    h0 = drawn_tensor(data.draw, state_shape, bound=1.0)
    params = list(layer.parameters())
    if kind == "LSTM":
        c0 = drawn_tensor(data.draw, state_shape, bound=1.0)
        fn = lambda x, h0, c0, *ps: (lambda out, hc: (out, *hc))(*layer(x, (h0, c0)))
        assert mg.gradcheck(fn, [x, h0, c0, *params])
    else:
        assert mg.gradcheck(lambda x, h0, *ps: layer(x, h0), [x, h0, *params])


def test_long_sequence_has_the_analytic_gradient_and_no_recursion_error():
    """A 1x1 relu RNN with unit weights sums its positive inputs: h_t = x_1 + ... + x_t.

    So d(sum_t h_t)/d x_s = T - s (0-based s), an independent formula over 3,000 steps.
    """
    steps = 3000
    rnn = nn.RNN(1, 1, nonlinearity="relu", bias=False)
    rnn.load_state_dict({"weight_ih_l0": np.ones((1, 1)), "weight_hh_l0": np.ones((1, 1))})
    x = mg.Tensor(np.random.default_rng(0).uniform(0.1, 1.0, (steps, 1, 1)), requires_grad=True)
    output, h_n = rnn(x)
    output.sum().backward()
    np.testing.assert_allclose(h_n.data.item(), x.data.sum(), rtol=1e-12)
    np.testing.assert_array_equal(x.grad.ravel(), steps - np.arange(steps))
    assert rnn.weight_hh_l0.grad is not None


def test_long_lstm_sequence_backpropagates():
    lstm = nn.LSTM(1, 2, rng=0)
    x = mg.Tensor(np.random.default_rng(0).standard_normal((3000, 1, 1)), requires_grad=True)
    output, (h_n, c_n) = lstm(x)
    (output.sum() + c_n.sum()).backward()
    assert x.grad.shape == (3000, 1, 1) and np.all(np.isfinite(x.grad))
    assert np.abs(x.grad[-1]).max() > 0  # the last input affects the loss
    assert all(np.all(np.isfinite(p.grad)) for p in lstm.parameters())


def test_truncated_bptt_stops_the_gradient_at_detach():
    rng = np.random.default_rng(4)
    lstm = nn.LSTM(2, 3, rng=1)
    first = mg.Tensor(rng.standard_normal((4, 1, 2)), requires_grad=True)
    second = mg.Tensor(rng.standard_normal((4, 1, 2)), requires_grad=True)
    weights = rng.standard_normal((4, 1, 3))

    _, (h, c) = lstm(first)
    output, _ = lstm(second, (h.detach(), c.detach()))  # carry the state, not its history
    (output * weights).sum().backward()
    assert first.grad is None  # nothing reached the first chunk
    assert second.grad is not None and np.abs(second.grad).max() > 0

    # The weight gradient is exactly that of the second chunk from a constant initial state.
    h_fixed, c_fixed = mg.Tensor(h.data), mg.Tensor(c.data)
    loss = lambda *ps: (lstm(second, (h_fixed, c_fixed))[0] * weights).sum()
    assert mg.gradcheck(loss, list(lstm.parameters()))
    grads = [p.grad.copy() for p in lstm.parameters()]
    lstm.zero_grad()
    loss().backward()
    for got, want in zip(grads, (p.grad for p in lstm.parameters())):
        np.testing.assert_array_equal(got, want)

    # Without detach, the gradient does reach the first chunk.
    _, (h, c) = lstm(first)
    (lstm(second, (h, c))[0] * weights).sum().backward()
    assert first.grad is not None and np.abs(first.grad).max() > 0


# --- Learning a toy task ----------------------------------------------------------------------


class Echo(nn.Module):
    """A recurrent layer and a linear read-out of two classes per step."""

    def __init__(self, cls, hidden):
        super().__init__()
        self.rnn = cls(1, hidden, rng=1)
        self.head = nn.Linear(hidden, 2, rng=2)

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.head(output)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_learns_to_echo_a_bit_from_three_steps_ago(cls):
    """Target at step t is the input bit of step t - 3: a memory task.

    Bits are fair coin flips, independent of everything else, so a model that does not remember
    can do no better than predicting 1/2, whose cross-entropy is ln 2 ~ 0.693 nats. The trained
    model must get far below that.
    """
    delay, steps, batch = 3, 10, 32
    rng = np.random.default_rng(0)
    model = Echo(cls, 12)
    optimizer = optim.Adam(model.parameters(), lr=0.03)

    def batch_loss():
        bits = rng.integers(0, 2, size=(steps, batch))
        logits = model(bits[:, :, None].astype(np.float64) * 2 - 1)[delay:]
        return F.cross_entropy(logits.reshape(-1, 2), bits[:-delay].reshape(-1))

    chance = math.log(2)
    for _ in range(100):
        optimizer.zero_grad()
        loss = batch_loss()
        loss.backward()
        optimizer.step()
    with mg.no_grad():
        final = np.mean([batch_loss().item() for _ in range(5)])
    assert final < 0.1 * chance, f"{cls.__name__} did not learn: loss {final:.3f} vs {chance:.3f}"


# --- float32 end to end ---------------------------------------------------------------------


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_float32_end_to_end(cls, packed):
    options = {"bidirectional": True, "dropout": 0.5} if packed else {}
    layer = cls(3, 4, num_layers=2, dtype=np.float32, rng=0, **options)
    assert all(p.dtype == np.float32 for p in layer.parameters())
    x = mg.Tensor(np.ones((5, 2, 3)), requires_grad=True, dtype=np.float32)
    if packed:
        sequence = nn.utils.pack_padded_sequence(x, [3, 5], enforce_sorted=False)
        output, state = layer(sequence)
        output = nn.utils.pad_packed_sequence(output, padding_value=1.0, total_length=6)[0]
    else:
        output, state = layer(x)
    states = state if isinstance(state, tuple) else (state,)
    assert output.dtype == np.float32 and all(s.dtype == np.float32 for s in states)
    loss = output.sum() + sum(s.sum() for s in states)
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())


def test_float32_layer_matches_float64_to_float32_precision():
    single = nn.LSTM(3, 4, dtype=np.float32, rng=7)
    double = nn.LSTM(3, 4, rng=7)
    for p32, p64 in zip(single.parameters(), double.parameters()):
        np.testing.assert_array_equal(p32.data, p64.data.astype(np.float32))
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    got = single(x)[0].data  # a numpy input is converted to the layer's dtype
    np.testing.assert_allclose(got, double(x)[0].data, rtol=1e-5, atol=1e-6)


# --- Seeding ----------------------------------------------------------------------------------


def test_init_is_reproducible_from_manual_seed_or_rng():
    nn.init.manual_seed(123)
    a = nn.GRU(2, 3, num_layers=2)
    nn.init.manual_seed(123)
    b = nn.GRU(2, 3, num_layers=2)
    c = nn.GRU(2, 3, num_layers=2)  # the shared generator moved on
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
        assert not np.array_equal(pa.data, pc.data)
    d, e = nn.LSTMCell(2, 3, rng=5), nn.LSTMCell(2, 3, rng=np.random.default_rng(5))
    for pd, pe in zip(d.parameters(), e.parameters()):
        np.testing.assert_array_equal(pd.data, pe.data)


# --- Errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_cell_rejects_wrong_input_width(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: expected input .*\(4, 5\)"):
        cls(3, 2)(np.ones((4, 5)))


def test_cells_reject_mismatched_state_shapes():
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"GRUCell: expected h of shape \(4, 2\), got \(3, 2\)"):
        nn.GRUCell(3, 2)(x, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"RNNCell: expected h of shape \(4, 2\), got \(4, 5\)"):
        nn.RNNCell(3, 2)(x, np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"LSTMCell: expected c of shape \(4, 2\), got \(2,\)"):
        nn.LSTMCell(3, 2)(x, (np.zeros((4, 2)), np.zeros(2)))
    with pytest.raises(TypeError, match="LSTMCell: the state must be a pair"):
        nn.LSTMCell(3, 2)(x, np.zeros((4, 2)))


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_layer_rejects_wrong_input(cls):
    layer = cls(3, 2, num_layers=2)
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"{name}: expected input .*got \(5, 4, 7\)"):
        layer(np.ones((5, 4, 7)))
    with pytest.raises(ValueError, match=rf"{name}: expected input .*got \(3,\)"):
        layer(np.ones(3))
    with pytest.raises(ValueError, match=rf"{name}: the input sequence is empty"):
        layer(np.ones((0, 4, 3)))
    with pytest.raises(
        TypeError, match=rf"{name}: input is float32 but the parameters are float64"
    ):
        layer(mg.Tensor(np.ones((5, 4, 3)), dtype=np.float32))


def test_layers_reject_mismatched_state_shapes():
    x = np.ones((5, 4, 3))
    with pytest.raises(
        ValueError, match=r"GRU: expected h_0 of shape \(2, 4, 2\), got \(1, 4, 2\)"
    ):
        nn.GRU(3, 2, num_layers=2)(x, np.zeros((1, 4, 2)))
    with pytest.raises(ValueError, match=r"RNN: expected h_0 of shape \(1, 2\), got \(1, 1, 2\)"):
        nn.RNN(3, 2)(x[:, 0], np.zeros((1, 1, 2)))  # unbatched input needs (num_layers, H)
    lstm = nn.LSTM(3, 2, batch_first=True)
    with pytest.raises(
        ValueError, match=r"LSTM: expected c_0 of shape \(1, 5, 2\), got \(1, 4, 2\)"
    ):
        lstm(x, (np.zeros((1, 5, 2)), np.zeros((1, 4, 2))))  # batch_first: x is (B=5, T=4, 3)
    with pytest.raises(TypeError, match="LSTM: the state must be a pair"):
        lstm(x, np.zeros((1, 5, 2)))


def test_bad_options_raise_clearly():
    with pytest.raises(ValueError, match=r"LSTM: dropout must be a probability in \[0, 1\]"):
        nn.LSTM(3, 2, num_layers=2, dropout=1.5)
    with pytest.warns(UserWarning, match="GRU: dropout=0.5 acts between layers"):
        nn.GRU(3, 2, dropout=0.5)
    with pytest.raises(ValueError, match="LSTMCell: forget_bias=1.0 needs bias=True"):
        nn.LSTMCell(3, 2, bias=False, forget_bias=1.0)
    with pytest.raises(TypeError, match="LSTM: forget_bias must be a number"):
        nn.LSTM(3, 2, forget_bias="1")
    with pytest.raises(ValueError, match="RNN: nonlinearity must be 'tanh' or 'relu'"):
        nn.RNN(3, 2, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="LSTM: num_layers must be a positive integer"):
        nn.LSTM(3, 2, num_layers=0)
    with pytest.raises(ValueError, match="GRUCell: hidden_size must be a positive integer"):
        nn.GRUCell(3, 0)
    with pytest.raises(TypeError, match="LSTM: dtype must be float32 or float64"):
        nn.LSTM(3, 2, dtype=np.int64)
