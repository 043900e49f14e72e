"""Recurrent, Bidirectional, sequence packing and dropout: behaviour, reproducibility, errors.

(Agreement with PyTorch is in test_recurrent_parity.py; gradients of every cell unrolled with
Recurrent are checked by minigrad.testing.check_cell in test_rnn.py.)
"""

import math
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F
from minigrad.nn.utils import (
    PackedSequence,
    pack_padded_sequence,
    pad_packed_sequence,
    pad_sequence,
)


def parts(state):
    return state if isinstance(state, tuple) else (state,)


def loop(cell, xs, state=None):
    """The cell applied step by step in a plain Python loop: outputs and the last state."""
    outputs = []
    for x in xs:
        state = cell(x, state)
        outputs.append((state[0] if isinstance(state, tuple) else state).data)
    return np.stack(outputs), state


# --- Recurrent ------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [nn.RNNCell, nn.LSTMCell, nn.GRUCell])
@pytest.mark.parametrize("layout", ["time first", "batch first", "unbatched"])
def test_recurrent_is_the_cell_in_a_loop(cls, layout):
    rng = np.random.default_rng(0)
    cell = cls(3, 4, rng=1)
    x = rng.standard_normal((5, 2, 3))  # (T, B, I)
    if layout == "unbatched":
        x = x[:, 0]
    want_out, want_state = loop(cell, x)
    given = x.transpose(1, 0, 2) if layout == "batch first" else x
    out, state = nn.Recurrent(cell, batch_first=layout == "batch first")(given)
    got_out = out.data.transpose(1, 0, 2) if layout == "batch first" else out.data
    np.testing.assert_allclose(got_out, want_out, rtol=1e-13, atol=1e-15)
    for got, want in zip(parts(state), parts(want_state)):
        np.testing.assert_allclose(got.data, want.data, rtol=1e-13, atol=1e-15)
    # reverse=True is the loop over the steps from last to first
    rev_out, rev_state = nn.Recurrent(cell, reverse=True)(x)
    want_rev_out, want_rev_state = loop(cell, x[::-1])
    np.testing.assert_allclose(rev_out.data, want_rev_out[::-1], rtol=1e-13, atol=1e-15)
    for got, want in zip(parts(rev_state), parts(want_rev_state)):
        np.testing.assert_allclose(got.data, want.data, rtol=1e-13, atol=1e-15)


def test_recurrent_with_lengths_is_each_row_on_its_own():
    rng = np.random.default_rng(1)
    cell = nn.LSTMCell(2, 3, rng=2)
    x, lengths = rng.standard_normal((4, 3, 2)), [2, 4, 1]
    h0, c0 = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    for reverse in (False, True):
        out, (h, c) = nn.Recurrent(cell, reverse=reverse)(x, (h0, c0), lengths=lengths)
        for b, n in enumerate(lengths):
            steps = x[:n, b : b + 1]
            want_out, (want_h, want_c) = loop(
                cell, steps[::-1] if reverse else steps, (h0[b : b + 1], c0[b : b + 1])
            )
            want_out = want_out[::-1] if reverse else want_out
            np.testing.assert_allclose(out.data[:n, b], want_out[:, 0], rtol=1e-13, atol=1e-15)
            np.testing.assert_array_equal(out.data[n:, b], 0.0)  # padded steps output zeros
            np.testing.assert_allclose(h.data[b], want_h.data[0], rtol=1e-13, atol=1e-15)
            np.testing.assert_allclose(c.data[b], want_c.data[0], rtol=1e-13, atol=1e-15)


class Accumulator(nn.Module):
    """A cell of one's own, with no parameters: the state is the running sum of the inputs."""

    def forward(self, x, state=None):
        return x if state is None else state + x


def test_recurrent_runs_a_users_cell_and_padded_inputs_get_no_gradient():
    x = mg.Tensor(np.arange(12.0).reshape(3, 2, 2), requires_grad=True)  # (T=3, B=2, 2)
    out, final = nn.Recurrent(Accumulator())(x, lengths=np.array([3, 1]))
    np.testing.assert_array_equal(out.data[:, 0], np.cumsum(x.data[:, 0], axis=0))
    np.testing.assert_array_equal(out.data[:, 1], [x.data[0, 1], [0, 0], [0, 0]])
    np.testing.assert_array_equal(final.data, [x.data[:, 0].sum(axis=0), x.data[0, 1]])
    final.sum().backward()
    np.testing.assert_array_equal(x.grad[:, 0], 1.0)
    np.testing.assert_array_equal(x.grad[:, 1], [[1, 1], [0, 0], [0, 0]])


def test_recurrent_takes_and_returns_a_packed_sequence():
    rng = np.random.default_rng(3)
    cell = nn.GRUCell(2, 3, rng=0)
    x, lengths = rng.standard_normal((4, 3, 2)), [1, 4, 2]
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, final = nn.Recurrent(cell)(packed)
    assert isinstance(out, PackedSequence) and out.lengths.tolist() == lengths
    want_out, want_final = nn.Recurrent(cell)(x, lengths=lengths)
    np.testing.assert_array_equal(pad_packed_sequence(out)[0].data, want_out.data)
    np.testing.assert_array_equal(final.data, want_final.data)


def test_bidirectional_concatenates_the_directions():
    rng = np.random.default_rng(4)
    f, b = nn.RNNCell(2, 3, rng=0), nn.RNNCell(2, 3, rng=1)
    layer = nn.Bidirectional(nn.Recurrent(f, batch_first=True), nn.Recurrent(b, True, True))
    x = rng.standard_normal((2, 5, 2))  # (B, T, I)
    out, (final_f, final_b) = layer(x, lengths=[5, 3])
    assert out.shape == (2, 5, 6)
    want_f, _ = nn.Recurrent(f, batch_first=True)(x, lengths=[5, 3])
    want_b, want_final_b = nn.Recurrent(b, batch_first=True, reverse=True)(x, lengths=[5, 3])
    np.testing.assert_array_equal(out.data[..., :3], want_f.data)
    np.testing.assert_array_equal(out.data[..., 3:], want_b.data)
    np.testing.assert_array_equal(final_b.data, want_final_b.data)
    assert [name for name, _ in layer.named_parameters()][:1] == ["forward_layer.cell.weight_ih"]


def test_recurrent_and_bidirectional_reject_bad_input():
    cell = nn.LSTMCell(3, 2)
    layer = nn.Recurrent(cell)
    x = np.ones((4, 2, 3))
    with pytest.raises(ValueError, match=r"Recurrent: every length must be in 1..4.*\[5, 1\]"):
        layer(x, lengths=[5, 1])
    with pytest.raises(ValueError, match=r"Recurrent: every length must be in 1..4.*\[0, 1\]"):
        layer(x, lengths=[0, 1])
    with pytest.raises(ValueError, match=r"Recurrent: expected one length per batch row \(2\)"):
        layer(x, lengths=[1, 2, 3])
    with pytest.raises(TypeError, match="Recurrent: lengths must be a 1-D sequence of integers"):
        layer(x, lengths=[1.5, 2])
    with pytest.raises(ValueError, match="Recurrent: lengths need a batched input"):
        layer(x[:, 0], lengths=[2])
    with pytest.raises(ValueError, match="Recurrent: a PackedSequence carries its lengths"):
        layer(pack_padded_sequence(x, [4, 2]), lengths=[4, 2])
    with pytest.raises(
        ValueError, match=r"Recurrent: expected input .*\(input_size=3\), got \(4, 2\)"
    ):
        layer(np.ones((4, 2)))
    with pytest.raises(ValueError, match="Recurrent: the input sequence is empty"):
        layer(np.ones((0, 2, 3)))
    with pytest.raises(TypeError, match="Recurrent: cell must be a Module"):
        nn.Recurrent(lambda x, s: x)
    with pytest.raises(ValueError, match="Recurrent: .* the cell returned a state part of shape"):
        nn.Recurrent(DropsTheBatch())(x)
    with pytest.raises(
        ValueError, match="Bidirectional: the backward_layer must have reverse=True"
    ):
        nn.Bidirectional(nn.Recurrent(cell), nn.Recurrent(cell))
    with pytest.raises(ValueError, match="Bidirectional: the two layers disagree on batch_first"):
        nn.Bidirectional(nn.Recurrent(cell), nn.Recurrent(cell, batch_first=True, reverse=True))
    both = nn.Bidirectional(nn.Recurrent(cell), nn.Recurrent(cell, reverse=True))
    with pytest.raises(TypeError, match="Bidirectional: state must be None or a pair"):
        both(x, np.zeros((2, 2)))


class DropsTheBatch(nn.Module):
    def forward(self, x, state=None):
        return x.sum(axis=0)


# --- Packing ----------------------------------------------------------------------------------


def test_pack_then_pad_gives_the_padded_batch_back():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6, 2))  # (B, T, F), the last step is padding for every row
    lengths = [2, 5, 3]
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    assert packed.padded.shape == (5, 3, 2)  # time first, as long as the longest row
    np.testing.assert_array_equal(packed.batch_sizes, [3, 3, 2, 1, 1])  # PyTorch's
    np.testing.assert_array_equal(packed.sorted_indices, [1, 2, 0])
    padded, got_lengths = pad_packed_sequence(packed, batch_first=True, padding_value=9.0)
    np.testing.assert_array_equal(got_lengths, lengths)
    for b, n in enumerate(lengths):
        np.testing.assert_array_equal(padded.data[b, :n], x[b, :n])
        np.testing.assert_array_equal(padded.data[b, n:], 9.0)
    longer, _ = pad_packed_sequence(packed, total_length=7)
    assert longer.shape == (7, 3, 2) and not longer.data[5:].any()


def test_pad_sequence_pads_at_the_end():
    got = pad_sequence([np.ones((2, 1)), 2 * np.ones((3, 1))], batch_first=True, padding_value=-1)
    np.testing.assert_array_equal(got.data[..., 0], [[1, 1, -1], [2, 2, 2]])
    assert pad_sequence([np.ones((2, 1)), np.ones((1, 1))]).shape == (2, 2, 1)


def test_packing_rejects_bad_input():
    x = np.ones((4, 3, 2))
    with pytest.raises(ValueError, match=r"sorted in decreasing order .*\[2, 4, 1\]"):
        pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises(ValueError, match=r"pack_padded_sequence: every length must be in 1..4"):
        pack_padded_sequence(x, [5, 4, 1])
    with pytest.raises(ValueError, match="pack_padded_sequence: input must be"):
        pack_padded_sequence(np.ones(3), [1])
    packed = pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(ValueError, match="total_length=3 is less than the longest .* 4"):
        pad_packed_sequence(packed, total_length=3)
    with pytest.raises(NotImplementedError, match="PackedSequence.data: minigrad does not keep"):
        packed.data  # noqa: B018
    with pytest.raises(TypeError, match="pad_packed_sequence: expected a PackedSequence"):
        pad_packed_sequence(x)
    with pytest.raises(TypeError, match="LSTM: input is float64 but the parameters are float32"):
        nn.LSTM(2, 3, dtype=np.float32)(packed)
    with pytest.raises(
        ValueError, match=r"GRU: expected input .*\(input_size=3\), got \(4, 3, 2\)"
    ):
        nn.GRU(3, 3)(packed)
    with pytest.raises(ValueError, match="pad_sequence: sequences must be .* same trailing shape"):
        pad_sequence([np.ones((2, 1)), np.ones((2, 3))])


# --- Layers: bidirectional shapes, dropout ---------------------------------------------------


def test_bidirectional_layer_names_and_shapes_are_pytorchs():
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    shapes = dict((name, p.shape) for name, p in lstm.named_parameters())
    assert list(shapes)[:8] == [
        "weight_ih_l0",
        "weight_hh_l0",
        "bias_ih_l0",
        "bias_hh_l0",
        "weight_ih_l0_reverse",
        "weight_hh_l0_reverse",
        "bias_ih_l0_reverse",
        "bias_hh_l0_reverse",
    ]
    assert shapes["weight_ih_l1"] == shapes["weight_ih_l1_reverse"] == (20, 10)  # 2H inputs
    output, (h_n, c_n) = lstm(np.ones((7, 2, 3)))
    assert output.shape == (7, 2, 10) and h_n.shape == c_n.shape == (4, 2, 5)
    assert "bidirectional=True" in repr(lstm)


def test_dropout_function_statistics_reproducibility_and_gradient():
    ones = np.ones((400, 500))
    p = 0.3
    dropped = F.dropout(ones, p, rng=0).data
    zero = dropped == 0
    standard_error = math.sqrt(p * (1 - p) / ones.size)
    assert abs(zero.mean() - p) < 4 * standard_error  # each element zeroed with probability p
    np.testing.assert_allclose(dropped[~zero], 1 / (1 - p))  # inverted: the mean is kept
    np.testing.assert_array_equal(F.dropout(ones, p, rng=0).data, dropped)  # a seed: same mask
    nn.init.manual_seed(7)
    first = F.dropout(ones, p).data  # the shared generator by default
    nn.init.manual_seed(7)
    np.testing.assert_array_equal(F.dropout(ones, p).data, first)
    assert not np.array_equal(F.dropout(ones, p).data, first)  # and it moves on
    x = mg.Tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
    assert F.dropout(x, p, training=False) is x and F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).data, 0.0)
    assert mg.gradcheck(lambda x: F.dropout(x, 0.5, rng=3), [x])
    f32 = mg.Tensor(np.ones(5), dtype=np.float32, requires_grad=True)
    assert F.dropout(f32, 0.5, rng=1).dtype == np.float32
    with pytest.raises(ValueError, match=r"dropout: p must be a probability in \[0, 1\], got 1.5"):
        F.dropout(x, 1.5)


def test_dropout_module_trains_and_evaluates():
    layer = nn.Dropout(0.5, rng=4)
    x = np.ones((100, 100))
    a, b = layer(x).data, layer(x).data
    assert not np.array_equal(a, b)  # its generator advances from call to call
    np.testing.assert_array_equal(a, nn.Dropout(0.5, rng=4)(x).data)  # and is reproducible
    assert 0.45 < (a == 0).mean() < 0.55
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, x)
    assert repr(layer) == "Dropout(p=0.5)"
    with pytest.raises(ValueError, match="dropout: p must be a probability"):
        nn.Dropout(-0.1)


def test_layer_dropout_acts_in_training_only_and_is_reproducible():
    x = np.random.default_rng(6).standard_normal((5, 2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning with num_layers > 1
        first, second = (nn.GRU(3, 4, 2, dropout=0.5, rng=8) for _ in range(2))
    plain = nn.GRU(3, 4, 2, rng=8)
    np.testing.assert_array_equal(first(x)[0].data, second(x)[0].data)  # same seed, same masks
    assert not np.array_equal(first(x)[0].data, plain(x)[0].data)
    first.eval()
    np.testing.assert_array_equal(first(x)[0].data, plain(x)[0].data)  # eval: no dropout
    assert "dropout=0.5" in repr(first)
