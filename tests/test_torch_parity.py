"""Agreement with PyTorch (float64, to 1e-9): outputs and every gradient, clipping, init bounds.

The optimizers and schedules have their own file, tests/test_optim_torch.py.

PyTorch is only an oracle here: each test loads a PyTorch module's state_dict into ours.
"""

import math
import zlib

import numpy as np
import pytest
from oracles import require

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F

torch = require("torch")


def seed_of(*args):
    """A seed that depends on the test's parameters (and not on Python's hash randomisation)."""
    return zlib.crc32(repr(args).encode())


def close(ours, theirs):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    ours = ours.data if isinstance(ours, mg.Tensor) else ours
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)


def copy_weights(theirs, ours):
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})


def pair(array):
    """The same values as a minigrad and a torch leaf, both requiring grad."""
    return mg.Tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)


def weighted_sum(outputs, weights, lib_sum):
    return lib_sum([(o * w).sum() for o, w in zip(outputs, weights)])


def flatten(result):
    """(output, h) / (output, (h, c)) / h / (h, c) -> a flat list of tensors."""
    if isinstance(result, (tuple, list)):
        return [t for part in result for t in flatten(part)]
    return [result]


def compare_module(ours, theirs, inputs, rng):
    """Run both on the same inputs; compare outputs, input grads and every parameter grad."""
    ours_in, theirs_in = zip(*(pair(a) if a is not None else (None, None) for a in inputs))

    def call(module, args):
        x, *state = args
        if not state or state[0] is None:
            return module(x)
        return module(x, tuple(state) if len(state) == 2 else state[0])

    our_out = flatten(call(ours, ours_in))
    their_out = flatten(call(theirs, theirs_in))
    assert len(our_out) == len(their_out)
    weights = [rng.standard_normal(o.shape) for o in their_out]
    weighted_sum(our_out, weights, sum).backward()
    weighted_sum(their_out, [torch.tensor(w) for w in weights], sum).backward()
    for a, b in zip(our_out, their_out):
        close(a, b)
    for a, b in zip(ours_in, theirs_in):
        if a is not None:
            close(a.grad, b.grad)
    their_params = dict(theirs.named_parameters())
    assert [name for name, _ in ours.named_parameters()] == list(their_params)
    for name, p in ours.named_parameters():
        close(p.grad, their_params[name].grad)


# --- Cells --------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [None, 1, 3])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", ["RNNCell", "RNNCell-relu", "LSTMCell", "GRUCell"])
def test_cells_match_pytorch(kind, bias, batch):
    rng = np.random.default_rng(seed_of(kind, bias, batch))
    name, _, relu = kind.partition("-")
    options = {"nonlinearity": "relu"} if relu else {}
    theirs = getattr(torch.nn, name)(4, 5, bias=bias, dtype=torch.float64, **options)
    ours = getattr(nn, name)(4, 5, bias=bias, **options)
    copy_weights(theirs, ours)
    lead = () if batch is None else (batch,)
    x = rng.standard_normal(lead + (4,))
    states = [rng.standard_normal(lead + (5,)) for _ in range(2 if name == "LSTMCell" else 1)]
    compare_module(ours, theirs, [x, *states], rng)


def test_cells_default_state_matches_pytorch():
    rng = np.random.default_rng(0)
    for name in ("RNNCell", "LSTMCell", "GRUCell"):
        theirs = getattr(torch.nn, name)(3, 2, dtype=torch.float64)
        ours = getattr(nn, name)(3, 2)
        copy_weights(theirs, ours)
        compare_module(ours, theirs, [rng.standard_normal((4, 3))], rng)


# --- Sequence layers ----------------------------------------------------------------------------


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", ["RNN", "RNN-relu", "LSTM", "GRU"])
@pytest.mark.parametrize("with_state", [True, False])
def test_two_layer_sequence_models_match_pytorch(kind, batch_first, with_state):
    rng = np.random.default_rng(seed_of(kind, batch_first, with_state))
    name, _, relu = kind.partition("-")
    options = {"nonlinearity": "relu"} if relu else {}
    theirs = getattr(torch.nn, name)(
        3, 4, num_layers=2, batch_first=batch_first, dtype=torch.float64, **options
    )
    ours = getattr(nn, name)(3, 4, num_layers=2, batch_first=batch_first, **options)
    copy_weights(theirs, ours)
    steps, batch = 6, 2
    x = rng.standard_normal((batch, steps, 3) if batch_first else (steps, batch, 3))
    count = 2 if name == "LSTM" else 1
    states = [rng.standard_normal((2, batch, 4)) for _ in range(count)] if with_state else []
    compare_module(ours, theirs, [x, *states], rng)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_unbatched_and_biasless_sequence_models_match_pytorch(kind):
    rng = np.random.default_rng(7)
    theirs = getattr(torch.nn, kind)(3, 4, num_layers=2, bias=False, dtype=torch.float64)
    ours = getattr(nn, kind)(3, 4, num_layers=2, bias=False)
    copy_weights(theirs, ours)
    count = 2 if kind == "LSTM" else 1
    states = [rng.standard_normal((2, 4)) for _ in range(count)]
    compare_module(ours, theirs, [rng.standard_normal((5, 3)), *states], rng)


def test_default_init_bounds_match_pytorch():
    """Values differ (different generators) but the distributions' ranges must agree."""
    torch.manual_seed(0)
    for name in ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"):
        theirs = getattr(torch.nn, name)(10, 64, dtype=torch.float64)
        ours = getattr(nn, name)(10, 64, rng=0)
        bound = 1 / math.sqrt(64)
        for (n, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters()):
            a, b = np.abs(a.data), np.abs(b.detach().numpy())
            assert a.max() <= bound and b.max() <= bound, (name, n)
            assert a.max() > 0.95 * bound and b.max() > 0.95 * bound, (name, n)
            assert abs(a.mean() - b.mean()) < 0.1 * bound, (name, n)  # both ~ bound / 2
    theirs, ours = torch.nn.Linear(50, 80, dtype=torch.float64), nn.Linear(50, 80, rng=0)
    for a, b in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
        a, b = np.abs(a.data), np.abs(b.detach().numpy())
        assert max(a.max(), b.max()) <= 1 / math.sqrt(50)
        assert min(a.max(), b.max()) > 0.9 / math.sqrt(50)
    theirs, ours = torch.nn.Embedding(100, 50, dtype=torch.float64), nn.Embedding(100, 50, rng=0)
    their_std, our_std = theirs.weight.detach().numpy().std(), ours.weight.data.std()
    assert abs(their_std - 1) < 0.05 and abs(our_std - 1) < 0.05


# --- Linear, Embedding, losses --------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_pytorch(bias):
    rng = np.random.default_rng(1)
    theirs = torch.nn.Linear(4, 3, bias=bias, dtype=torch.float64)
    ours = nn.Linear(4, 3, bias=bias)
    copy_weights(theirs, ours)
    compare_module(ours, theirs, [rng.standard_normal((2, 5, 4))], rng)


def test_embedding_matches_pytorch():
    rng = np.random.default_rng(2)
    theirs = torch.nn.Embedding(6, 3, dtype=torch.float64)
    ours = nn.Embedding(6, 3)
    copy_weights(theirs, ours)
    ids = np.array([[0, 5, 5], [2, 5, 0]])
    out_ours, out_theirs = ours(ids), theirs(torch.tensor(ids))
    weights = rng.standard_normal(out_theirs.shape)
    (out_ours * weights).sum().backward()
    (out_theirs * torch.tensor(weights)).sum().backward()
    close(out_ours, out_theirs)
    close(ours.weight.grad, theirs.weight.grad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_cross_entropy_and_log_softmax_match_pytorch(reduction, scale):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((5, 4)) * scale
    targets = np.array([0, 3, 3, 1, 2])
    ours, theirs = pair(logits)
    loss_ours = F.cross_entropy(ours, targets, reduction=reduction)
    loss_theirs = torch.nn.functional.cross_entropy(
        theirs, torch.tensor(targets), reduction=reduction
    )
    weights = rng.standard_normal(loss_theirs.shape)
    (loss_ours * weights).sum().backward()
    (loss_theirs * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(loss_ours.data, loss_theirs.detach().numpy(), rtol=1e-12, atol=1e-9)
    close(ours.grad, theirs.grad)

    ours, theirs = pair(logits)
    for axis in (0, -1):
        weights = rng.standard_normal(logits.shape)
        (F.log_softmax(ours, axis=axis) * weights).sum().backward()
        (torch.log_softmax(theirs, dim=axis) * torch.tensor(weights)).sum().backward()
        np.testing.assert_allclose(
            F.log_softmax(ours, axis=axis).data,
            torch.log_softmax(theirs, dim=axis).detach().numpy(),
            rtol=1e-12,
            atol=1e-9,
        )
        close(F.softmax(ours, axis=axis), torch.softmax(theirs, dim=axis))
    close(ours.grad, theirs.grad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_pytorch(reduction):
    rng = np.random.default_rng(4)
    (a, ta), (b, tb) = pair(rng.standard_normal((3, 4))), pair(rng.standard_normal((3, 4)))
    ours, theirs = (
        F.mse_loss(a, b, reduction),
        torch.nn.functional.mse_loss(ta, tb, reduction=reduction),
    )
    weights = rng.standard_normal(theirs.shape)
    (ours * weights).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    close(ours, theirs)
    close(a.grad, ta.grad)
    close(b.grad, tb.grad)


# --- Gradient clipping --------------------------------------------------------------------------


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_pytorch(max_norm):
    rng = np.random.default_rng(6)
    grads = [rng.standard_normal((3, 2)), rng.standard_normal(5)]
    ours = [nn.Parameter(np.zeros(g.shape)) for g in grads]
    theirs = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = g.copy(), torch.tensor(g)
    total_ours = nn.clip_grad_norm_(ours, max_norm)
    total_theirs = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert total_ours == pytest.approx(total_theirs.item(), rel=1e-12)
    for p, q in zip(ours, theirs):
        close(p.grad, q.grad)
