"""Layer options against PyTorch (float64, to 1e-9): bidirectional, packed batches of unequal
lengths, batch_first, unbatched input, dropout between layers, Recurrent and Bidirectional.

Outputs, final states and every gradient (inputs, initial states, parameters) are compared.
"""

import copy

import numpy as np
import pytest
from oracles import require
from test_torch_parity import close, compare_module, copy_weights, seed_of

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F
from minigrad.nn.utils import rnn as mg_rnn

torch = require("torch")
torch_rnn = torch.nn.utils.rnn


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def backward_both(ours, theirs, rng):
    """Backward a random projection of the same outputs in both libraries."""
    weights = [rng.standard_normal(t.shape) for t in theirs]
    sum((o * w).sum() for o, w in zip(ours, weights)).backward()
    sum((t * torch.tensor(w)).sum() for t, w in zip(theirs, weights)).backward()
    for o, t in zip(ours, theirs):
        close(o, t)


def compare_parameter_grads(ours, theirs):
    their_params = dict(theirs.named_parameters())
    assert [name for name, _ in ours.named_parameters()] == list(their_params)
    for name, p in ours.named_parameters():
        close(p.grad, their_params[name].grad)


KINDS = ["RNN", "RNN-relu", "LSTM", "GRU"]


def make_pair(kind, input_size=3, hidden=4, **options):
    name, _, relu = kind.partition("-")
    if relu:
        options["nonlinearity"] = "relu"
    theirs = getattr(torch.nn, name)(input_size, hidden, dtype=torch.float64, **options)
    ours = getattr(nn, name)(input_size, hidden, **options)
    copy_weights(theirs, ours)
    return name, ours, theirs


# --- Bidirectional layers, padded input ---------------------------------------------------------


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_state", [True, False])
def test_bidirectional_two_layer_models_match_pytorch(kind, batch_first, with_state):
    rng = np.random.default_rng(seed_of(kind, batch_first, with_state))
    name, ours, theirs = make_pair(kind, num_layers=2, bidirectional=True, batch_first=batch_first)
    steps, batch = 5, 3
    x = rng.standard_normal((batch, steps, 3) if batch_first else (steps, batch, 3))
    count = 2 if name == "LSTM" else 1
    states = [rng.standard_normal((4, batch, 4)) for _ in range(count)] if with_state else []
    compare_module(ours, theirs, [x, *states], rng)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_unbatched_bidirectional_models_match_pytorch(kind):
    rng = np.random.default_rng(seed_of(kind))
    name, ours, theirs = make_pair(kind, num_layers=2, bidirectional=True, bias=False)
    states = [rng.standard_normal((4, 4)) for _ in range(2 if name == "LSTM" else 1)]
    compare_module(ours, theirs, [rng.standard_normal((6, 3)), *states], rng)


# --- Packed batches of unequal lengths --------------------------------------------------------


@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize(
    ("kind", "num_layers", "bidirectional"),
    [("LSTM", 2, True), ("GRU", 2, True), ("RNN", 1, True), ("LSTM", 2, False)],
)
@pytest.mark.parametrize("batch_first", [False, True])
def test_packed_batches_match_pytorch(kind, num_layers, bidirectional, enforce_sorted, batch_first):
    rng = np.random.default_rng(seed_of(kind, num_layers, bidirectional, enforce_sorted))
    name, ours, theirs = make_pair(
        kind, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first
    )
    lengths = [6, 4, 4, 2, 1] if enforce_sorted else [2, 6, 1, 4, 4]
    steps, batch, rows = 7, 5, num_layers * (2 if bidirectional else 1)
    x = rng.standard_normal((batch, steps, 3) if batch_first else (steps, batch, 3))
    x_ours, x_theirs = mg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    count = 2 if name == "LSTM" else 1
    h0 = [rng.standard_normal((rows, batch, 4)) for _ in range(count)]
    h0_ours = [mg.Tensor(h, requires_grad=True) for h in h0]
    h0_theirs = [torch.tensor(h, requires_grad=True) for h in h0]
    state = (lambda s: tuple(s)) if count == 2 else (lambda s: s[0])

    packed_ours = mg_rnn.pack_padded_sequence(x_ours, lengths, batch_first, enforce_sorted)
    packed_theirs = torch_rnn.pack_padded_sequence(
        x_theirs, torch.tensor(lengths), batch_first, enforce_sorted
    )
    out_ours, final_ours = ours(packed_ours, state(h0_ours))
    out_theirs, final_theirs = theirs(packed_theirs, state(h0_theirs))
    assert isinstance(out_ours, mg_rnn.PackedSequence)
    # total_length and padding_value as PyTorch's, and the lengths come back in the given order
    pad_ours, lengths_ours = mg_rnn.pad_packed_sequence(out_ours, batch_first, -2.0, steps + 1)
    pad_theirs, lengths_theirs = torch_rnn.pad_packed_sequence(
        out_theirs, batch_first, -2.0, steps + 1
    )
    np.testing.assert_array_equal(lengths_ours, lengths_theirs.numpy())
    backward_both([pad_ours, *as_tuple(final_ours)], [pad_theirs, *as_tuple(final_theirs)], rng)
    close(x_ours.grad, x_theirs.grad)  # zero at the padded steps, in both
    for a, b in zip(h0_ours, h0_theirs):
        close(a.grad, b.grad)
    compare_parameter_grads(ours, theirs)


def test_pad_sequence_and_pack_sequence_match_pytorch():
    rng = np.random.default_rng(11)
    arrays = [rng.standard_normal((n, 2)) for n in (2, 4, 1)]
    ours = [mg.Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    for batch_first in (False, True):
        got = mg_rnn.pad_sequence(ours, batch_first, padding_value=0.5)
        want = torch_rnn.pad_sequence(theirs, batch_first, padding_value=0.5)
        backward_both([got], [want], rng)
        for a, b in zip(ours, theirs):
            close(a.grad, b.grad)
    _, ours_lstm, theirs_lstm = make_pair("LSTM", input_size=2, hidden=3)
    got = ours_lstm(mg_rnn.pack_sequence(ours, enforce_sorted=False))
    want = theirs_lstm(torch_rnn.pack_sequence(theirs, enforce_sorted=False))
    close(mg_rnn.pad_packed_sequence(got[0])[0], torch_rnn.pad_packed_sequence(want[0])[0])
    close(got[1][0], want[1][0])


# --- Recurrent and Bidirectional on the cells ----------------------------------------------------


def cell_weights(theirs, suffix):
    """A torch layer's weights of one layer and direction, named as a cell's."""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    state = theirs.state_dict()
    return {name: state[name + suffix].detach().numpy().copy() for name in names}


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_bidirectional_recurrent_cells_over_lengths_match_a_packed_pytorch_layer(kind):
    rng = np.random.default_rng(seed_of("cells", kind))
    theirs = getattr(torch.nn, kind)(3, 4, bidirectional=True, dtype=torch.float64)
    cells = [getattr(nn, kind + "Cell")(3, 4) for _ in range(2)]
    for cell, suffix in zip(cells, ("_l0", "_l0_reverse")):
        cell.load_state_dict(cell_weights(theirs, suffix))
    ours = nn.Bidirectional(nn.Recurrent(cells[0]), nn.Recurrent(cells[1], reverse=True))
    lengths = [3, 5, 1]
    x = rng.standard_normal((5, 3, 3))
    x_ours, x_theirs = mg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out_ours, (final_f, final_b) = ours(x_ours, lengths=lengths)
    packed = torch_rnn.pack_padded_sequence(x_theirs, torch.tensor(lengths), enforce_sorted=False)
    out_theirs, final_theirs = theirs(packed)
    out_theirs = torch_rnn.pad_packed_sequence(out_theirs)[0]
    parts_f, parts_b = as_tuple(final_f), as_tuple(final_b)
    ours_flat = [out_ours, *(s for pair in zip(parts_f, parts_b) for s in pair)]  # h_f, h_b, ...
    theirs_flat = [out_theirs, *(part[d] for part in as_tuple(final_theirs) for d in (0, 1))]
    backward_both(ours_flat, theirs_flat, rng)
    close(x_ours.grad, x_theirs.grad)
    their_grads = {name: p.grad for name, p in theirs.named_parameters()}
    for cell, suffix in zip(cells, ("_l0", "_l0_reverse")):
        for name, p in cell.named_parameters():
            close(p.grad, their_grads[name + suffix])


# --- Dropout between layers ---------------------------------------------------------------------


def test_dropout_between_layers_is_pytorchs_layers_with_our_mask_in_between():
    """A 2-layer bidirectional LSTM with dropout = its two layers with the dropout mask between.

    The mask is replayed from a copy of the generator the layer was given (PyTorch's own RNG
    differs, so its masks cannot be compared).
    """
    rng = np.random.default_rng(12)
    generator = np.random.default_rng(99)
    ours = nn.LSTM(3, 4, num_layers=2, bidirectional=True, dropout=0.4, rng=generator)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    copy_weights(theirs, ours)
    layers = []
    for k, inputs in ((0, 3), (1, 8)):
        layer = torch.nn.LSTM(inputs, 4, bidirectional=True, dtype=torch.float64)
        state = theirs.state_dict()
        layer.load_state_dict({n: state[n.replace("_l0", f"_l{k}")] for n in layer.state_dict()})
        layers.append(layer)
    x = rng.standard_normal((5, 2, 3))
    x_ours, x_theirs = mg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    replay = copy.deepcopy(generator)  # the state the layer's first mask is drawn from
    out_ours, (h_ours, c_ours) = ours(x_ours)
    mask = F.dropout(np.ones((5, 2, 8)), 0.4, rng=replay).data
    assert set(np.unique(mask)) == {0.0, 1 / 0.6}
    middle, (h_a, c_a) = layers[0](x_theirs)
    out_theirs, (h_b, c_b) = layers[1](middle * torch.tensor(mask))
    theirs_flat = [out_theirs, torch.cat([h_a, h_b]), torch.cat([c_a, c_b])]
    backward_both([out_ours, h_ours, c_ours], theirs_flat, rng)
    close(x_ours.grad, x_theirs.grad)

    ours.eval()  # no dropout in eval mode: PyTorch's layer, dropout or not
    theirs_eval = torch.nn.LSTM(3, 4, 2, bidirectional=True, dropout=0.4, dtype=torch.float64)
    theirs_eval.load_state_dict(theirs.state_dict())
    theirs_eval.eval()
    close(ours(x)[0], theirs_eval(torch.tensor(x))[0])
