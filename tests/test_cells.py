"""The LSTM variants and the MGU (nn/cells.py) against their equations written in numpy, their
gradients against finite differences, and LayerNorm against PyTorch."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import require

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F
from minigrad.testing import shapes

# --- The equations, in float64 numpy, independent of minigrad ---------------------------------


def sigmoid(z):
    return 0.5 * (1 + np.tanh(z / 2))


def normalise(z, gain, shift, eps):
    """Layer normalisation over the last axis, biased variance."""
    centred = z - z.sum(-1, keepdims=True) / z.shape[-1]
    variance = np.square(centred).sum(-1, keepdims=True) / z.shape[-1]
    return centred / np.sqrt(variance + eps) * gain + shift


def affine(p, x, h):
    """W_ih x + b_ih + W_hh h + b_hh (the biases 0 when absent)."""
    out = x @ p["weight_ih"].T + h @ p["weight_hh"].T
    return out + p.get("bias_ih", 0.0) + p.get("bias_hh", 0.0)


def squash(c, output_activation):
    return np.tanh(c) if output_activation else c


def peephole_lstm(p, x, state, output_activation=True):
    h, c = state
    i, f, g, o = np.split(affine(p, x, h), 4, axis=-1)
    i, f = sigmoid(i + p["weight_ci"] * c), sigmoid(f + p["weight_cf"] * c)
    c = f * c + i * np.tanh(g)
    o = sigmoid(o + p["weight_co"] * c)
    return o * squash(c, output_activation), c


def coupled_lstm(p, x, state, output_activation=True):
    h, c = state
    i, g, o = np.split(affine(p, x, h), 3, axis=-1)
    i = sigmoid(i)
    c = (1 - i) * c + i * np.tanh(g)
    return sigmoid(o) * squash(c, output_activation), c


def no_forget_gate_lstm(p, x, state, output_activation=True):
    h, c = state
    i, g, o = np.split(affine(p, x, h), 3, axis=-1)
    c = c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * squash(c, output_activation), c


def layer_norm_lstm(p, x, state, output_activation=True, eps=1e-5):
    h, c = state

    def norm(name, z):
        return normalise(z, p[f"{name}.weight"], p.get(f"{name}.bias", 0.0), eps)

    pre = norm("layernorm_ih", x @ p["weight_ih"].T) + norm("layernorm_hh", h @ p["weight_hh"].T)
    i, f, g, o = np.split(pre, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * squash(norm("layernorm_c", c), output_activation), c


def mgu(p, x, h):
    hidden = h.shape[-1]
    w_f, w_n = p["weight_hh"][:hidden], p["weight_hh"][hidden:]
    b = p.get("bias_hh", np.zeros(2 * hidden))
    x_f, x_n = np.split(x @ p["weight_ih"].T + p.get("bias_ih", 0.0), 2, axis=-1)
    f = sigmoid(x_f + h @ w_f.T + b[:hidden])
    n = np.tanh(x_n + (f * h) @ w_n.T + b[hidden:])
    return (1 - f) * h + f * n


# name: (cell class, numpy step, takes output_activation, has a (h, c) state)
VARIANTS = {
    "peephole": (nn.PeepholeLSTMCell, peephole_lstm, True, True),
    "coupled": (nn.CoupledLSTMCell, coupled_lstm, True, True),
    "no_forget_gate": (nn.NoForgetGateLSTMCell, no_forget_gate_lstm, True, True),
    "layer_norm": (nn.LayerNormLSTMCell, layer_norm_lstm, True, True),
    "mgu": (nn.MGUCell, mgu, False, False),
}
NAMES = sorted(VARIANTS)


def build(name, input_size, hidden_size, bias=True, output_activation=True, seed=0, **kw):
    cell_type, _, takes_activation, _ = VARIANTS[name]
    if takes_activation:
        kw["output_activation"] = output_activation
    cell = cell_type(input_size, hidden_size, bias=bias, rng=seed, **kw)
    rng = np.random.default_rng(seed)
    for key, p in cell.named_parameters():  # the layer norms start at gain 1, shift 0: move off
        if key.startswith("layernorm"):
            p.data = p.data + rng.uniform(-0.5, 0.5, p.shape).astype(p.dtype)
    return cell


def reference(name, cell, x, state, output_activation=True):
    """The numpy step on the cell's parameters and float64 copies of x and the state."""
    _, step, takes_activation, _ = VARIANTS[name]
    params = {k: v.astype(np.float64) for k, v in cell.state_dict().items()}
    state = tuple(np.asarray(s.data, np.float64) for s in state)
    state = state if len(state) > 1 else state[0]
    extra = {"output_activation": output_activation} if takes_activation else {}
    if name == "layer_norm":
        extra["eps"] = cell.eps
    out = step(params, np.asarray(x.data, np.float64), state, **extra)
    return out if isinstance(out, tuple) else (out,)


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def draw_tensor(data, shape, dtype=np.float64):
    values = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-2.0, 2.0)))
    return mg.Tensor(values, requires_grad=True, dtype=dtype)


cell_cases = st.fixed_dictionaries(
    {
        "batch": st.none() | st.integers(1, 3),
        "input_size": st.integers(1, 3),
        "hidden_size": st.integers(1, 3),
        "bias": st.booleans(),
        "output_activation": st.booleans(),
        "seed": st.integers(0, 2**32 - 1),
    }
)


def drawn_step(name, data, case):
    """A cell, an input and a state, all drawn (the state in float64, requiring grad)."""
    # Layer norm's slope is up to 1/sqrt(eps) where its input is nearly constant (as drawn zeros
    # are): a larger eps keeps the finite differences of gradcheck in their linear range.
    extra = {"eps": 0.01} if name == "layer_norm" else {}
    cell = build(
        name,
        case["input_size"],
        case["hidden_size"],
        case["bias"],
        case["output_activation"],
        case["seed"],
        **extra,
    )
    lead = () if case["batch"] is None else (case["batch"],)
    x = draw_tensor(data, lead + (case["input_size"],))
    parts = 2 if VARIANTS[name][3] else 1
    state = tuple(draw_tensor(data, lead + (case["hidden_size"],)) for _ in range(parts))
    return cell, x, state


def call(cell, x, state):
    return cell(x, state if len(state) > 1 else state[0])


# --- Each variant against its equations -------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=10)
@given(data=st.data(), case=cell_cases)
def test_cell_matches_its_equations_and_finite_differences(name, data, case):
    cell, x, state = drawn_step(name, data, case)
    out = as_tuple(call(cell, x, state))
    expected = reference(name, cell, x, state, case["output_activation"])
    assert len(out) == len(expected)
    for got, want in zip(out, expected):
        assert got.shape == want.shape == x.shape[:-1] + (case["hidden_size"],)
        np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)
    k = len(state)  # the arguments after x: the state's parts, then the cell's parameters
    step = lambda x, *rest: call(cell, x, rest[:k])
    assert mg.gradcheck(step, [x, *state, *cell.parameters()])


@pytest.mark.parametrize("name", NAMES)
def test_three_steps_thread_the_state_and_match_the_equations(name):
    cell = build(name, 2, 3, seed=4)
    rng = np.random.default_rng(5)
    xs = mg.Tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)

    def run(xs, *parameters):
        state = None
        for x in mg.unstack(xs):
            state = cell(x, state)
        return state

    expected = (np.zeros((2, 3)),) * (2 if VARIANTS[name][3] else 1)
    for x in xs.data:
        expected = reference(name, cell, mg.Tensor(x), tuple(mg.Tensor(s) for s in expected))
    for got, want in zip(as_tuple(run(xs)), expected):
        np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)
    assert mg.gradcheck(run, [xs, *cell.parameters()])


@pytest.mark.parametrize("name", NAMES)
def test_state_none_is_zeros_and_unbatched_is_a_batch_of_one(name):
    cell = build(name, 3, 2, seed=1)
    x = np.random.default_rng(2).standard_normal((4, 3))
    zeros = tuple(np.zeros((4, 2)) for _ in range(2 if VARIANTS[name][3] else 1))
    from_none = as_tuple(cell(x))
    from_zeros = as_tuple(cell(x, zeros if len(zeros) > 1 else zeros[0]))
    unbatched = as_tuple(cell(x[1]))
    for a, b, row in zip(from_none, from_zeros, unbatched):
        np.testing.assert_array_equal(a.data, b.data)
        assert row.shape == (2,)
        np.testing.assert_allclose(row.data, a.data[1], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_float32_stays_float32(name):
    cell = build(name, 3, 2, seed=3, dtype=np.float32)
    x = mg.Tensor(np.random.default_rng(0).standard_normal((2, 3)), dtype=np.float32)
    state = as_tuple(cell(x))
    state = as_tuple(cell(x, state if len(state) > 1 else state[0]))
    assert all(s.dtype == np.float32 for s in state)
    sum(s.sum() for s in state).backward()
    for p in cell.parameters():
        assert p.dtype == np.float32 and p.grad is not None and p.grad.dtype == np.float32
    expected = reference(name, cell, x, (mg.Tensor(np.zeros((2, 2))),) * len(state))
    step_one = as_tuple(cell(x))
    for got, want in zip(step_one, expected):
        np.testing.assert_allclose(got.data, want, rtol=1e-5, atol=1e-6)


def test_peephole_cell_with_zero_peepholes_is_the_built_in_lstm_cell():
    peephole, lstm = nn.PeepholeLSTMCell(3, 4, rng=7), nn.LSTMCell(3, 4, rng=7)
    for name in ("weight_ci", "weight_cf", "weight_co"):
        assert getattr(peephole, name).shape == (4,)
        getattr(peephole, name).data = np.zeros(4)
    x = np.random.default_rng(8).standard_normal((2, 3))
    h, c = np.random.default_rng(9).standard_normal((2, 2, 4))
    for ours, theirs in zip(peephole(x, (h, c)), lstm(x, (h, c))):
        np.testing.assert_array_equal(ours.data, theirs.data)


@pytest.mark.parametrize("name", NAMES)
def test_parameters_follow_the_built_in_layout_and_initialisation(name):
    cell_type, _, _, _ = VARIANTS[name]
    cell = cell_type(5, 40, rng=0)
    gates = {"peephole": 4, "layer_norm": 4, "coupled": 3, "no_forget_gate": 3, "mgu": 2}[name]
    assert cell.weight_ih.shape == (gates * 40, 5) and cell.weight_hh.shape == (gates * 40, 40)
    bound = 1 / np.sqrt(40)
    drawn = np.concatenate([p.data.ravel() for n, p in cell.named_parameters() if "norm" not in n])
    assert np.abs(drawn).max() <= bound and np.abs(drawn).max() > 0.95 * bound
    assert abs(drawn.std() / (bound / np.sqrt(3)) - 1) < 0.1
    seeded = cell_type(5, 40, rng=0)
    for (n, a), (_, b) in zip(cell.named_parameters(), seeded.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=n)
    if name == "layer_norm":
        names = [n for n, _ in cell.named_parameters()]
        assert names == [
            "weight_ih",
            "weight_hh",
            "layernorm_ih.weight",
            "layernorm_ih.bias",
            "layernorm_hh.weight",
            "layernorm_hh.bias",
            "layernorm_c.weight",
            "layernorm_c.bias",
        ]
        unshifted = [n for n, _ in cell_type(5, 4, bias=False).named_parameters()]
        assert unshifted == ["weight_ih", "weight_hh"] + [
            f"layernorm_{k}.weight" for k in ("ih", "hh", "c")
        ]


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_and_state_are_refused_with_the_shapes(name):
    cell_type, _, _, pair = VARIANTS[name]
    cell = cell_type(3, 2, rng=0)
    with pytest.raises(ValueError, match=rf"{cell_type.__name__}: expected input .* got \(2, 4\)"):
        cell(np.ones((2, 4)))
    with pytest.raises(ValueError, match="input_size must be a positive integer"):
        cell_type(0, 2)
    wrong = np.ones((2, 5))
    with pytest.raises(ValueError, match=r"expected h of shape \(2, 2\).*got \(2, 5\)"):
        cell(np.ones((2, 3)), (wrong, wrong) if pair else wrong)
    with pytest.raises(TypeError, match="float32 but the parameters are float64"):
        cell(mg.Tensor(np.ones(3), dtype=np.float32))
    if pair:
        with pytest.raises(TypeError, match=r"the state must be a pair \(h, c\)"):
            cell(np.ones(3), np.zeros(2))


def test_output_activation_option_shows_in_the_repr():
    assert repr(nn.CoupledLSTMCell(3, 2, output_activation=False)).startswith(
        "CoupledLSTMCell(3, 2, output_activation=False"
    )
    assert repr(nn.MGUCell(3, 2, bias=False)) == "MGUCell(3, 2, bias=False)"


# --- LayerNorm --------------------------------------------------------------------------------


@st.composite
def layer_norm_cases(draw):
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    k = draw(st.integers(1, len(shape)))
    x = draw(hnp.arrays(np.float64, shape, elements=st.floats(-3.0, 3.0)))
    gain = draw(hnp.arrays(np.float64, shape[-k:], elements=st.floats(-2.0, 2.0)))
    shift = draw(hnp.arrays(np.float64, shape[-k:], elements=st.floats(-2.0, 2.0)))
    affine = draw(st.sampled_from(["both", "weight", "none"]))
    return x, shape[-k:], gain, shift, affine


@settings(max_examples=20)
@given(layer_norm_cases())
def test_layer_norm_matches_pytorch_values_and_gradients(case):
    torch = require("torch")
    x, normalized_shape, gain, shift, affine = case
    module = nn.LayerNorm(
        normalized_shape, elementwise_affine=affine != "none", bias=affine == "both"
    )
    theirs = torch.nn.LayerNorm(
        normalized_shape,
        elementwise_affine=affine != "none",
        bias=affine == "both",
        dtype=torch.float64,
    )
    if affine != "none":
        module.weight.data, theirs.weight.data = gain.copy(), torch.tensor(gain)
    if affine == "both":
        module.bias.data, theirs.bias.data = shift.copy(), torch.tensor(shift)
    seed = np.random.default_rng(0).standard_normal(x.shape)
    ours_x, their_x = mg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = module(ours_x), theirs(their_x)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=0, atol=1e-10)
    out.backward(seed)
    expected.backward(torch.tensor(seed))
    np.testing.assert_allclose(ours_x.grad, their_x.grad.numpy(), rtol=0, atol=1e-10)
    for (name, p), (their_name, q) in zip(module.named_parameters(), theirs.named_parameters()):
        assert name == their_name
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=0, atol=1e-10)


@settings(max_examples=10)
@given(layer_norm_cases())
def test_layer_norm_first_and_second_derivatives(case):
    x, normalized_shape, gain, shift, _ = case
    x, gain, shift = (mg.Tensor(v, requires_grad=True) for v in (x, gain, shift))
    fn = lambda x, gain, shift: F.layer_norm(x, normalized_shape, gain, shift, eps=0.1)
    assert mg.gradcheck(fn, [x, gain, shift])
    assert mg.gradgradcheck(fn, [x, gain, shift])


def test_layer_norm_module_loads_a_pytorch_state_dict_and_stays_float32():
    torch = require("torch")
    theirs = torch.nn.LayerNorm((2, 3))
    torch.nn.init.normal_(theirs.weight)
    module = nn.LayerNorm((2, 3), dtype=np.float32)
    module.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    out = module(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, theirs(torch.tensor(x)).detach().numpy(), atol=1e-5)
    out.sum().backward()
    assert module.weight.grad.dtype == np.float32
    assert repr(module) == "LayerNorm((2, 3), eps=1e-05, elementwise_affine=True)"


def test_layer_norm_errors_name_the_shapes():
    x = mg.Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(4,\) .* shape \(2, 3\)"):
        F.layer_norm(x, 4)
    with pytest.raises(ValueError, match=r"normalized_shape \(1, 2, 3\)"):
        F.layer_norm(x, (1, 2, 3))
    with pytest.raises(
        ValueError, match=r"layer_norm: weight must have shape .*\(3,\), got \(2,\)"
    ):
        F.layer_norm(x, 3, weight=np.ones(2))
    with pytest.raises(ValueError, match=r"normalized_shape \(\)"):
        F.layer_norm(x, ())
    with pytest.raises(ValueError, match="LayerNorm: normalized_shape"):
        nn.LayerNorm(0)
    with pytest.raises(TypeError, match="float32 but the parameters are float64"):
        nn.LayerNorm(3)(mg.Tensor(np.ones(3), dtype=np.float32))
