"""The nn surface against PyTorch (float64): activations, losses and every option, values and
input gradients, plus reprs and state_dict keys of the containers and modules.
"""

import math
import warnings
import zlib

import numpy as np
import pytest
from oracles import require

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F

torch = require("torch")
TF = torch.nn.functional


def agree(our_fn, their_fn, inputs, constants=(), seed=0, rtol=1e-10, atol=1e-12):
    """Call both on the same float64 leaves (and constants); compare results and leaf grads."""
    ours = [mg.Tensor(a, requires_grad=True) for a in inputs]
    theirs = [torch.tensor(a, requires_grad=True) for a in inputs]
    their_constants = [torch.tensor(c) if isinstance(c, np.ndarray) else c for c in constants]
    our_out, their_out = our_fn(*ours, *constants), their_fn(*theirs, *their_constants)
    expected = their_out.detach().numpy()
    assert our_out.shape == expected.shape
    np.testing.assert_allclose(our_out.data, expected, rtol=rtol, atol=atol)
    if np.isnan(expected).all():
        seeds = np.ones(expected.shape)  # nan * a random weight would still be nan
    else:
        seeds = np.random.default_rng(seed).standard_normal(expected.shape)
    (our_out * seeds).sum().backward()
    (their_out * torch.tensor(seeds)).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=rtol, atol=atol)


def rng_for(*args):
    return np.random.default_rng(zlib.crc32(repr(args).encode()))


# --- Activations --------------------------------------------------------------------------------


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_pytorch_from_1e4_down_to_minus_1e4(approximate):
    x = np.concatenate([np.linspace(-12, 12, 481), [-1e4, -40.0, -8.5, 0.0, 1e-8, 40.0, 1e4]])
    agree(
        lambda x: F.gelu(x, approximate=approximate),
        lambda x: TF.gelu(x, approximate=approximate),
        [x],
        atol=1e-14,  # the tanh form's 1 + tanh(z) cancels for x << 0, in PyTorch too
    )
    agree(
        lambda x: nn.GELU(approximate)(x),
        lambda x: torch.nn.GELU(approximate)(x),
        [x[:50]],
        atol=1e-14,
    )


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_softmax_log_softmax_and_modules_match_pytorch(dim):
    x = rng_for(dim).standard_normal((2, 3, 4)) * 5
    agree(lambda x: F.softmax(x, dim=dim), lambda x: TF.softmax(x, dim=dim), [x])
    agree(lambda x: F.log_softmax(x, dim), lambda x: TF.log_softmax(x, dim), [x])
    agree(lambda x: nn.Softmax(dim)(x), lambda x: torch.nn.Softmax(dim)(x), [x])
    agree(lambda x: nn.LogSoftmax(dim=dim)(x), lambda x: torch.nn.LogSoftmax(dim=dim)(x), [x])


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4), (2, 3, 4, 2)])
def test_implicit_softmax_dim_is_pytorchs(shape):
    x = rng_for(shape).standard_normal(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agree(lambda x: F.softmax(x), lambda x: TF.softmax(x), [x])
        agree(lambda x: nn.LogSoftmax()(x), lambda x: torch.nn.LogSoftmax()(x), [x])


def test_pointwise_activations_and_flatten_match_pytorch():
    x = np.concatenate([np.linspace(-30, 30, 121), [0.0, -1e4, 1e4]]).reshape(4, 31)
    agree(F.logsigmoid, TF.logsigmoid, [x], atol=1e-15)
    for ours, theirs in [
        (nn.ReLU(), torch.nn.ReLU()),
        (nn.Tanh(), torch.nn.Tanh()),
        (nn.Sigmoid(), torch.nn.Sigmoid()),
        (nn.Identity(), torch.nn.Identity()),
    ]:
        agree(ours, theirs, [x], atol=1e-15)
    y = rng_for("flatten").standard_normal((2, 3, 4, 5))
    for args in [(), (0,), (1, 2), (-3, -2), (2, 3)]:
        agree(nn.Flatten(*args), torch.nn.Flatten(*args), [y])
    for args in [(0,), (-1,), (0, -1)]:  # a 0-d input counts as 1-d
        agree(nn.Flatten(*args), torch.nn.Flatten(*args), [np.array(2.0)])
    with pytest.raises(IndexError, match=r"Flatten: start_dim=1 / end_dim=-1 out of range"):
        nn.Flatten()(np.array(2.0))  # as torch.nn.Flatten()


def test_embedding_padding_idx_matches_pytorch():
    theirs = torch.nn.Embedding(6, 3, padding_idx=2, dtype=torch.float64)
    ours = nn.Embedding(6, 3, padding_idx=2)
    assert not theirs.weight[2].any() and not ours.weight.data[2].any()
    ours.load_state_dict({"weight": theirs.weight.detach().numpy().copy()})
    ids = np.array([[2, 5, 2], [0, 2, 5]])
    seeds = rng_for("embedding").standard_normal((2, 3, 3))
    out_ours, out_theirs = ours(ids), theirs(torch.tensor(ids))
    (out_ours * seeds).sum().backward()
    (out_theirs * torch.tensor(seeds)).sum().backward()
    np.testing.assert_allclose(out_ours.data, out_theirs.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-13)
    assert repr(ours) == repr(theirs) == "Embedding(6, 3, padding_idx=2)"


# --- cross_entropy and nll_loss -----------------------------------------------------------------

LAYOUTS = [(5,), (6, 4), (3, 4, 5), (2, 4, 3, 2)]


def class_targets(rng, shape, ignore):
    classes = shape[0] if len(shape) == 1 else shape[1]
    target_shape = () if len(shape) == 1 else shape[:1] + shape[2:]
    target = rng.integers(0, classes, size=target_shape)
    if ignore and target.ndim:
        target.flat[::3] = ignore  # every third one ignored
    return np.asarray(target), classes


CLASS_LOSSES = {  # our function and module, then PyTorch's
    "cross_entropy": (
        F.cross_entropy,
        nn.CrossEntropyLoss,
        TF.cross_entropy,
        torch.nn.CrossEntropyLoss,
    ),
    "nll_loss": (F.nll_loss, nn.NLLLoss, TF.nll_loss, torch.nn.NLLLoss),
}


@pytest.mark.parametrize("shape", LAYOUTS, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 1])
@pytest.mark.parametrize(
    ("name", "label_smoothing"),
    [("cross_entropy", 0.0), ("cross_entropy", 0.25), ("nll_loss", 0.0)],
)
def test_class_id_losses_match_pytorch(
    shape, reduction, weighted, ignore_index, name, label_smoothing
):
    rng = rng_for(shape, reduction, weighted, ignore_index, name, label_smoothing)
    x = rng.standard_normal(shape) * 3
    if name == "nll_loss":  # log-probabilities
        x = F.log_softmax(mg.Tensor(x), dim=0 if len(shape) == 1 else 1).data
    target, classes = class_targets(rng, shape, ignore_index)
    weight = rng.uniform(0.2, 2.0, classes) if weighted else None
    options = dict(ignore_index=ignore_index, reduction=reduction)
    if label_smoothing:
        options["label_smoothing"] = label_smoothing
    our_fn, our_loss, their_fn, their_loss = CLASS_LOSSES[name]
    agree(
        lambda x, t, w: our_fn(x, t, w, **options),
        lambda x, t, w: their_fn(x, t, w, **options),
        [x],
        [target, weight],
    )
    agree(
        lambda x, t, w: our_loss(w, **options)(x, t),
        lambda x, t, w: their_loss(w, **options)(x, t),
        [x],
        [target, weight],
    )


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_all_ignored_batches_match_pytorch(weighted, label_smoothing):
    x = rng_for(weighted).standard_normal((3, 4))
    target = np.full(3, -100)
    weight = np.arange(1.0, 5.0) if weighted else None
    for reduction in ("mean", "sum", "none"):
        options = dict(reduction=reduction, label_smoothing=label_smoothing)
        agree(
            lambda x, t, w, o=options: F.cross_entropy(x, t, w, **o),
            lambda x, t, w, o=options: TF.cross_entropy(x, t, w, **o),
            [x],
            [target, weight],
        )
        agree(
            lambda x, t, w, r=reduction: F.nll_loss(x, t, w, reduction=r),
            lambda x, t, w, r=reduction: TF.nll_loss(x, t, w, reduction=r),
            [x],
            [target, weight],
        )


@pytest.mark.parametrize("shape", LAYOUTS, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(("weighted", "label_smoothing"), [(False, 0.0), (True, 0.0), (True, 0.3)])
def test_cross_entropy_probability_targets_match_pytorch(
    shape, reduction, weighted, label_smoothing
):
    rng = rng_for(shape, reduction, weighted, label_smoothing)
    axis = 0 if len(shape) == 1 else 1
    x, logits = rng.standard_normal(shape), rng.standard_normal(shape)
    p = np.exp(logits) / np.exp(logits).sum(axis=axis, keepdims=True)
    weight = rng.uniform(0.2, 2.0, shape[axis]) if weighted else None
    options = dict(reduction=reduction, label_smoothing=label_smoothing)
    agree(  # gradients for both the logits and the probabilities
        lambda x, p, w: F.cross_entropy(x, p, w, **options),
        lambda x, p, w: TF.cross_entropy(x, p, w, **options),
        [x, p],
        [weight],
    )


def test_cross_entropy_is_stable_for_huge_logits_like_pytorch():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4 + 1.0, -1e4], [5e3, 5e3, -5e3]])
    for target in (np.array([1, 0, 2]), np.full((3, 3), 1 / 3)):
        agree(
            lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1),
            lambda x, t: TF.cross_entropy(x, t, label_smoothing=0.1),
            [x],
            [target],
        )


# --- Binary and elementwise losses --------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_matches_pytorch(reduction, weighted):
    rng = rng_for(reduction, weighted)
    p, y = rng.uniform(1e-6, 1 - 1e-6, (4, 3)), rng.uniform(0, 1, (4, 3))
    weight = rng.uniform(0.5, 2, (3,)) if weighted else None
    agree(
        lambda p, y, w: F.binary_cross_entropy(p, y, w, reduction),
        lambda p, y, w: TF.binary_cross_entropy(p, y, w, reduction=reduction),
        [p, y],
        [weight],
    )
    agree(
        lambda p, y, w: nn.BCELoss(w, reduction)(p, y),
        lambda p, y, w: torch.nn.BCELoss(w, reduction=reduction)(p, y),
        [p, y],
        [weight],
    )
    edges, labels = np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0])
    ours = F.binary_cross_entropy(mg.Tensor(edges), labels, reduction="none")
    theirs = TF.binary_cross_entropy(torch.tensor(edges), torch.tensor(labels), reduction="none")
    np.testing.assert_array_equal(ours.data, theirs.numpy())  # the logs are clamped at -100


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weighted", [False, True])
def test_binary_cross_entropy_with_logits_matches_pytorch_up_to_1e4(
    reduction, weighted, pos_weighted
):
    rng = rng_for(reduction, weighted, pos_weighted)
    x = np.concatenate(
        [rng.standard_normal(8) * 4, [1e4, -1e4, 1e4, -1e4, 40.0, -40.0, 0.0, 745.5]]
    )
    x, y = x.reshape(4, 4), rng.uniform(0, 1, (4, 4))
    y[0, :] = [1.0, 0.0, 0.0, 1.0]
    y[1, :] = [1.0, 0.0, 0.0, 1.0]
    weight = rng.uniform(0.5, 2, (4, 1)) if weighted else None
    pos_weight = rng.uniform(0.5, 3, (4,)) if pos_weighted else None
    agree(  # gradients for the logits and the targets
        lambda x, y, w, pw: F.binary_cross_entropy_with_logits(x, y, w, reduction, pw),
        lambda x, y, w, pw: TF.binary_cross_entropy_with_logits(
            x, y, w, reduction=reduction, pos_weight=pw
        ),
        [x, y],
        [weight, pos_weight],
        rtol=1e-12,
        atol=1e-14,
    )
    agree(
        lambda x, y, w, pw: nn.BCEWithLogitsLoss(w, reduction, pw)(x, y),
        lambda x, y, w, pw: torch.nn.BCEWithLogitsLoss(w, reduction=reduction, pos_weight=pw)(x, y),
        [x, y],
        [weight, pos_weight],
        rtol=1e-12,
        atol=1e-14,
    )


ELEMENTWISE = [
    ("mse_loss", {}, nn.MSELoss, torch.nn.MSELoss),
    ("l1_loss", {}, nn.L1Loss, torch.nn.L1Loss),
    ("smooth_l1_loss", {"beta": 1.0}, nn.SmoothL1Loss, torch.nn.SmoothL1Loss),
    ("smooth_l1_loss", {"beta": 0.3}, nn.SmoothL1Loss, torch.nn.SmoothL1Loss),
    ("smooth_l1_loss", {"beta": 0.0}, nn.SmoothL1Loss, torch.nn.SmoothL1Loss),
    ("huber_loss", {"delta": 1.0}, nn.HuberLoss, torch.nn.HuberLoss),
    ("huber_loss", {"delta": 0.4}, nn.HuberLoss, torch.nn.HuberLoss),
]


@pytest.mark.parametrize(("name", "options", "ours", "theirs"), ELEMENTWISE)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_elementwise_losses_match_pytorch(name, options, ours, theirs, reduction):
    rng = rng_for(name, options, reduction)
    a, b = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    b[0, :3] = a[0, :3]  # zero differences: the gradient at the kink
    b[1, 0], b[1, 1] = a[1, 0] + 1.0, a[1, 1] - 0.4  # exactly on the beta / delta boundaries
    agree(
        lambda a, b: getattr(F, name)(a, b, reduction=reduction, **options),
        lambda a, b: getattr(TF, name)(a, b, reduction=reduction, **options),
        [a, b],
    )
    agree(
        lambda a, b: ours(reduction=reduction, **options)(a, b),
        lambda a, b: theirs(reduction=reduction, **options)(a, b),
        [a, b],
    )


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_pytorch(reduction, log_target):
    rng = rng_for(reduction, log_target)
    x = np.log(rng.dirichlet(np.ones(4), size=3))
    t = rng.dirichlet(np.ones(4), size=3)
    t[0, 1] = 0.0  # a zero target: 0 log 0 = 0
    if log_target:
        t = np.log(np.where(t > 0, t, 1.0))
        t[0, 1] = -1e3  # a vanishing probability
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reduction="mean" warns in both
        agree(
            lambda x: F.kl_div(x, t, reduction=reduction, log_target=log_target),
            lambda x: TF.kl_div(x, torch.tensor(t), reduction=reduction, log_target=log_target),
            [x],
        )
        agree(
            lambda x: nn.KLDivLoss(reduction, log_target)(x, t),
            lambda x: torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)(
                x, torch.tensor(t)
            ),
            [x],
        )


# --- Reprs and state ----------------------------------------------------------------------------


def build(lib):
    """The same model in minigrad and in PyTorch: every container and activation."""
    block = lib.Sequential(lib.Linear(3, 4), lib.ReLU(), lib.GELU(approximate="tanh"))
    layers = lib.ModuleList([lib.Linear(4, 4) for _ in range(3)] + [lib.Tanh(), lib.Tanh()])
    heads = lib.ModuleDict({"a": lib.Linear(4, 2, bias=False), "b": lib.Sequential(lib.Sigmoid())})
    return lib.Sequential(
        block,
        layers,
        heads,
        lib.Embedding(5, 2, padding_idx=0),
        lib.Softmax(dim=1),
        lib.LogSoftmax(dim=-1),
        lib.Identity(),
        lib.Flatten(),
        lib.GELU(),
        lib.ModuleList(),
        lib.CrossEntropyLoss(),
        lib.BCEWithLogitsLoss(),
        lib.MSELoss(),
        lib.NLLLoss(),
        lib.L1Loss(),
        lib.Softmax(),
    )


def test_reprs_are_pytorchs():
    assert repr(build(nn)) == repr(build(torch.nn))
    ours = nn.ParameterList([np.zeros((3, 2)), np.zeros(4)])
    theirs = torch.nn.ParameterList(
        [torch.zeros(3, 2, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)]
    )
    assert repr(ours) == repr(theirs).replace("torch.", "")


def test_state_dict_keys_and_order_are_pytorchs():
    class Net:
        def __init__(self, lib, make):
            self.module = lib.Module()
            self.module.register_buffer("running", make(np.zeros(3)))
            self.module.body = build(lib)
            self.module.register_buffer("count", make(np.zeros(1)))
            self.module.head = lib.Linear(2, 1)
            self.module.register_buffer("scratch", make(np.zeros(1)), persistent=False)

    ours = Net(nn, lambda a: a).module
    theirs = Net(torch.nn, torch.tensor).module
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    losses = nn.CrossEntropyLoss(weight=np.ones(3)), torch.nn.CrossEntropyLoss(torch.ones(3))
    assert list(losses[0].state_dict()) == list(losses[1].state_dict()) == ["weight"]


def test_hook_semantics_match_pytorch():
    """A pre-hook's bare return value replaces the single argument; a hook's replaces output."""
    results = []
    for lib, make in ((nn, mg.Tensor), (torch.nn, torch.tensor)):
        layer = lib.Identity()
        layer.register_forward_pre_hook(lambda m, args: args[0] * 3)
        layer.register_forward_hook(lambda m, args, out: out + args[0])
        results.append(layer(make(np.array([2.0]))).sum().item())
    assert results[0] == results[1] == 12.0
    assert not math.isnan(results[0])


def test_a_pytorch_sequential_state_dict_loads_and_computes_the_same():
    def mlp(lib, **options):
        return lib.Sequential(
            lib.Flatten(),
            lib.Linear(6, 5, **options),
            lib.GELU(),
            lib.ModuleList([lib.Linear(5, 5, **options)])[0],
            lib.Tanh(),
            lib.Linear(5, 3, **options),
            lib.LogSoftmax(dim=1),
        )

    theirs, ours = mlp(torch.nn, dtype=torch.float64), mlp(nn)
    ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    x = rng_for("mlp").standard_normal((4, 2, 3))
    agree(ours, theirs, [x])
    for (name, p), (their_name, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == their_name
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-10, atol=1e-12)
