"""Module, Parameter, Linear, Embedding, functional losses, clip_grad_norm_, state and files."""

import math
import pickle
import re

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F

seeds = st.integers(0, 2**32 - 1)


def drawn_tensor(draw, shape, bound=3.0):
    values = draw(hnp.arrays(np.float64, shape, elements=st.floats(-bound, bound)))
    return mg.Tensor(values, requires_grad=True)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(2))
        self.inner = nn.Linear(2, 3, rng=0)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 2, rng=1)
        self.block = Block()
        self.offset = nn.Parameter(np.zeros(3))
        self.head = nn.Linear(3, 4, bias=False, rng=2)
        self.not_a_parameter = mg.Tensor(np.ones(2), requires_grad=True)

    def forward(self, ids):
        hidden = self.block.inner(self.embed(ids) * self.block.scale) + self.offset
        return self.head(hidden)


# --- Module: registration, names, grads, flags ------------------------------------------------


def test_named_parameters_follow_registration_order_with_dotted_names():
    names = [name for name, _ in Model().named_parameters()]
    assert names == [
        "offset",  # a module's own parameters come first, as in PyTorch
        "embed.weight",
        "block.scale",
        "block.inner.weight",
        "block.inner.bias",
        "head.weight",
    ]
    model = Model()
    assert [p for _, p in model.named_parameters()] == list(model.parameters())
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in model.parameters())


def test_shared_parameters_and_modules_are_listed_once():
    model = Model()
    model.alias = model.block  # the same submodule twice
    model.tied = model.offset
    assert len(list(model.parameters())) == 6
    assert [m for m in model.modules()].count(model.block) == 1


def test_reassigning_and_deleting_attributes_updates_the_registry():
    model = Model()
    model.offset = nn.Parameter(np.ones(3))
    assert dict(model.named_parameters())["offset"] is model.offset
    del model.head
    assert not any(name.startswith("head.") for name, _ in model.named_parameters())
    with pytest.raises(TypeError, match="Model: cannot assign a ndarray to the parameter 'offset'"):
        model.offset = np.zeros(3)
    model.offset = None
    assert "offset" not in dict(model.named_parameters())
    with pytest.raises(AttributeError, match="'Model' object has no attribute 'missing'"):
        model.missing  # noqa: B018


def test_forgetting_super_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(np.ones(2))

    with pytest.raises(RuntimeError, match=r"Broken: call super\(\).__init__\(\)"):
        Broken()


def test_zero_grad_sets_grads_to_none_and_train_eval_flags():
    model = Model()
    model([1, 2, 2]).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert model.eval() is model and not model.training and not model.block.inner.training
    assert model.train() is model and model.training and model.block.inner.training


def test_module_without_forward_says_so_and_repr_shows_structure():
    with pytest.raises(NotImplementedError, match="Block must define forward"):
        Block()(1)
    text = repr(Model())
    assert "(block): Block(\n" in text
    assert "(inner): Linear(in_features=2, out_features=3, bias=True)" in text
    assert "(head): Linear(in_features=3, out_features=4, bias=False)" in text
    assert repr(nn.LSTM(3, 4, num_layers=2, batch_first=True)) == (
        "LSTM(3, 4, num_layers=2, batch_first=True)"
    )
    assert repr(nn.Parameter([1.0])).startswith("Parameter([1.]")


# --- state_dict / load_state_dict -----------------------------------------------------------


def test_state_dict_is_a_copy_in_parameter_order():
    model = Model()
    state = model.state_dict()
    assert list(state) == [name for name, _ in model.named_parameters()]
    state["offset"][:] = 7.0
    assert np.all(model.offset.data == 0.0)


def test_load_state_dict_copies_values_in():
    source, target = Model(), Model()
    source.offset.data = np.arange(3.0)
    source.block.inner.weight.data = np.full((3, 2), 0.5)
    state = source.state_dict()
    result = target.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for name, p in target.named_parameters():
        np.testing.assert_array_equal(p.data, source.state_dict()[name])
    state["offset"][:] = -1  # the model holds its own copy
    assert np.all(target.offset.data == np.arange(3.0))


def assert_nothing_changed(model, before):
    after = model.state_dict()
    assert list(after) == list(before)
    for name in before:
        np.testing.assert_array_equal(after[name], before[name])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(extra=np.zeros(1)), r"unexpected key 'extra'"),
        (
            lambda d: d.pop("head.weight"),
            r"missing key 'head.weight' \(a parameter of shape \(4, 3\)",
        ),
        (
            lambda d: d.update({"block.inner.weight": np.zeros((2, 3))}),
            r"shape mismatch for 'block.inner.weight': the dict has shape \(2, 3\), the "
            r"parameter has shape \(3, 2\)",
        ),
        (
            lambda d: d.update(offset=np.zeros(3, dtype=np.int64)),
            r"dtype mismatch for 'offset': the dict has int64, the parameter is float64",
        ),
        (
            lambda d: d.update(offset=np.array(["a", "b", "c"])),
            r"dtype mismatch for 'offset': the dict has <U1",
        ),
    ],
    ids=["unexpected", "missing", "shape", "dtype", "strings"],
)
def test_bad_state_dict_is_refused_and_changes_nothing(edit, message):
    model = Model()
    before = model.state_dict()
    bad = {name: value + 1.0 for name, value in before.items()}  # valid values, all different
    edit(bad)
    with pytest.raises(RuntimeError, match=r"Model.load_state_dict: nothing was loaded"):
        model.load_state_dict(bad)
    with pytest.raises(RuntimeError, match=message):
        model.load_state_dict(bad)
    assert_nothing_changed(model, before)


def test_every_problem_is_listed_at_once():
    model = Model()
    bad = model.state_dict()
    bad.pop("offset")
    bad["head.weight"] = np.zeros((1, 1))
    bad["surplus"] = np.zeros(2)
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(bad)
    text = str(error.value)
    assert "missing key 'offset'" in text and "unexpected key 'surplus'" in text
    assert "shape mismatch for 'head.weight'" in text


def test_non_strict_load_skips_missing_and_unexpected_but_still_checks_shapes():
    model = Model()
    result = model.load_state_dict(
        {"offset": np.full(3, 2.0), "surplus": np.zeros(1)}, strict=False
    )
    assert result.unexpected_keys == ["surplus"]
    assert "offset" not in result.missing_keys and "head.weight" in result.missing_keys
    assert np.all(model.offset.data == 2.0)
    with pytest.raises(RuntimeError, match="shape mismatch for 'offset'"):
        model.load_state_dict({"offset": np.zeros(4)}, strict=False)


def test_loading_rebinds_so_a_live_graph_keeps_its_saved_values():
    layer = nn.Linear(2, 1, rng=0)
    x = mg.Tensor(np.ones((1, 2)), requires_grad=True)
    out = layer(x)  # the graph saved layer.weight's array
    saved = layer.weight.data
    layer.load_state_dict({"weight": np.full((1, 2), 5.0), "bias": np.zeros(1)})
    assert saved is not layer.weight.data and not np.all(saved == 5.0)
    del out


# --- save / load (.npz, never pickle) -------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    source = Model()
    source.offset.data = np.array([1.0, 2.0, 3.0])
    path = tmp_path / "model.weights"  # any name: written exactly there
    source.save(path)
    assert path.exists()
    target = Model()
    target.embed.weight.data = np.zeros((5, 2))
    target.load(path)
    for (name, a), (_, b) in zip(source.named_parameters(), target.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)
    with np.load(path, allow_pickle=False) as archive:  # a plain .npz anyone can read
        assert sorted(archive.files) == sorted(source.state_dict())


def test_save_load_float32(tmp_path):
    source, target = nn.GRU(2, 3, dtype=np.float32, rng=0), nn.GRU(2, 3, dtype=np.float32, rng=1)
    source.save(tmp_path / "gru.npz")
    target.load(tmp_path / "gru.npz")
    for a, b in zip(source.parameters(), target.parameters()):
        assert b.dtype == np.float32
        np.testing.assert_array_equal(a.data, b.data)


class _Payload:
    """Unpickling this would call _Payload.triggered.append: loading must never do it."""

    triggered: list = []

    def __reduce__(self):
        return (_Payload.triggered.append, ("code ran",))


def test_load_refuses_a_pickled_object_array(tmp_path):
    model = Model()
    before = model.state_dict()
    state = dict(before)
    state["offset"] = np.array([_Payload(), _Payload(), _Payload()], dtype=object)
    path = tmp_path / "evil.npz"
    np.savez(path, **state)  # numpy pickles the object array inside the archive
    with pytest.raises(ValueError, match=r"Model.load: .*object array.*pickle"):
        model.load(path)
    assert _Payload.triggered == []
    assert_nothing_changed(model, before)


def test_load_refuses_a_pickle_file_and_a_bare_array(tmp_path):
    model = Model()
    before = model.state_dict()
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(before))
    with pytest.raises(ValueError, match=r"Model.load: .* is not a plain .npz archive"):
        model.load(pickled)
    bare = tmp_path / "array.npy"
    np.save(bare, np.zeros(3))
    with pytest.raises(ValueError, match="holds a single array"):
        model.load(bare)
    assert_nothing_changed(model, before)


# --- Linear -------------------------------------------------------------------------------------


@settings(max_examples=10)
@given(st.data(), st.integers(1, 5), st.integers(1, 5), st.booleans(), seeds)
def test_linear_gradcheck(data, in_features, out_features, bias, seed):
    layer = nn.Linear(in_features, out_features, bias=bias, rng=seed)
    lead = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    x = drawn_tensor(data.draw, lead + (in_features,))
    assert mg.gradcheck(lambda x, *ps: layer(x), [x, *layer.parameters()])


def test_linear_is_x_at_weight_transposed_plus_bias():
    layer = nn.Linear(3, 2, rng=0)
    x = np.arange(6.0).reshape(2, 3)
    expected = x @ layer.weight.data.T + layer.bias.data
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-15)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [
        ("weight", (2, 3)),
        ("bias", (2,)),
    ]


def test_linear_init_is_uniform_with_bound_one_over_sqrt_fan_in():
    layer = nn.Linear(64, 100, rng=0)
    bound = 1 / math.sqrt(64)
    for values in (layer.weight.data.ravel(), layer.bias.data):
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.9 * bound
    weights = layer.weight.data.ravel()
    assert abs(weights.std() / (bound / math.sqrt(3)) - 1) < 0.05


def test_linear_errors_and_dtypes():
    with pytest.raises(
        ValueError, match=r"Linear: expected an input of shape \(\.\.\., 3\).*\(2, 4\)"
    ):
        nn.Linear(3, 2)(np.ones((2, 4)))
    with pytest.raises(TypeError, match="Linear: input is float64 but the parameters are float32"):
        nn.Linear(3, 2, dtype=np.float32)(mg.Tensor(np.ones(3)))
    layer = nn.Linear(3, 2, dtype=np.float32)
    x = mg.Tensor(np.ones((4, 3)), requires_grad=True, dtype=np.float32)
    out = layer(x)
    out.sum().backward()
    assert (
        out.dtype == x.grad.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == np.float32
    )


# --- Embedding ----------------------------------------------------------------------------------


def test_embedding_is_indexing_and_repeated_ids_add_their_gradients():
    embed = nn.Embedding(4, 3, rng=0)
    ids = np.array([[1, 1], [3, 1]])
    out = embed(ids)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.data, embed.weight.data[ids])
    weights = np.arange(12.0).reshape(2, 2, 3)
    (out * weights).sum().backward()
    expected = np.zeros((4, 3))
    expected[1] = weights[0, 0] + weights[0, 1] + weights[1, 1]  # id 1 used three times
    expected[3] = weights[1, 0]
    np.testing.assert_array_equal(embed.weight.grad, expected)


def test_embedding_gradcheck_and_init():
    embed = nn.Embedding(5, 2, rng=0)
    assert mg.gradcheck(lambda w: embed([0, 4, 4, 2]), [embed.weight])
    big = nn.Embedding(200, 50, rng=1).weight.data
    assert abs(big.mean()) < 4 / math.sqrt(big.size) and abs(big.std() - 1) < 0.03


def test_embedding_accepts_id_tensors_and_rejects_bad_ids():
    embed = nn.Embedding(4, 3)
    np.testing.assert_array_equal(embed(mg.Tensor([2.0, 0.0])).data, embed.weight.data[[2, 0]])
    with pytest.raises(IndexError, match=r"Embedding: id 4 is out of range for num_embeddings=4"):
        embed([0, 4])
    with pytest.raises(IndexError, match=r"Embedding: id -1 is out of range"):
        embed(np.array([-1]))
    with pytest.raises(TypeError, match="Embedding: ids must be integer class ids"):
        embed(np.array([0.5]))


# --- functional ---------------------------------------------------------------------------------


@settings(max_examples=10)
@given(st.data(), hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
def test_softmax_and_log_softmax_gradcheck(data, shape):
    x = drawn_tensor(data.draw, shape, bound=5.0)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    assert mg.gradcheck(lambda x: F.softmax(x, axis=axis), [x])
    assert mg.gradcheck(lambda x: F.log_softmax(x, axis=axis), [x])
    expected = x.data - np.log(np.sum(np.exp(x.data), axis=axis, keepdims=True))
    np.testing.assert_allclose(F.log_softmax(x, axis=axis).data, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.softmax(x, axis=axis).data, np.exp(expected), rtol=1e-12)


def test_log_softmax_is_stable_for_huge_logits():
    x = mg.Tensor([[1e4, -1e4, 0.0], [-1e4, -1e4 + 1.0, -1e4]], requires_grad=True)
    out = F.log_softmax(x, dim=-1)
    log_norm = -1e4 + 1.0 + math.log(1 + 2 * math.exp(-1.0))  # logsumexp of row 2, by hand
    expected = np.array(
        [[0.0, -2e4, -1e4], [-1e4 - log_norm, -1e4 + 1.0 - log_norm, -1e4 - log_norm]]
    )
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    out.sum().backward()
    assert np.all(np.isfinite(x.grad))
    np.testing.assert_allclose(F.softmax(x, dim=-1).data.sum(axis=-1), [1.0, 1.0], rtol=1e-15)


@settings(max_examples=10)
@given(st.data(), st.integers(1, 5), st.integers(1, 5), st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_gradcheck_and_formula(data, n, classes, reduction):
    logits = drawn_tensor(data.draw, (n, classes))
    targets = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, classes - 1)))
    assert mg.gradcheck(lambda z: F.cross_entropy(z, targets, reduction=reduction), [logits])
    z = logits.data
    per_row = np.log(np.exp(z).sum(axis=1)) - z[np.arange(n), targets]
    expected = {"mean": per_row.mean(), "sum": per_row.sum(), "none": per_row}[reduction]
    np.testing.assert_allclose(
        F.cross_entropy(logits, targets, reduction=reduction).data, expected, rtol=1e-12, atol=1e-12
    )


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    logits = mg.Tensor([[2.0, -1.0, 0.5], [0.0, 0.0, 0.0]], requires_grad=True)
    F.cross_entropy(logits, [0, 2]).backward()
    e = np.exp(logits.data)
    expected = (e / e.sum(axis=1, keepdims=True) - np.eye(3)[[0, 2]]) / 2
    np.testing.assert_allclose(logits.grad, expected, rtol=1e-12)
    single = F.cross_entropy(mg.Tensor([1.0, 3.0]), 1)  # unbatched: (C,) with one target
    np.testing.assert_allclose(single.item(), np.log(1 + np.exp(-2.0)), rtol=1e-12)


def test_cross_entropy_errors():
    logits = mg.Tensor(np.zeros((3, 4)))
    with pytest.raises(IndexError, match=r"cross_entropy: target 4 is out of range for 4 classes"):
        F.cross_entropy(logits, [0, 4, 1])
    with pytest.raises(IndexError, match=r"target -1 is out of range"):
        F.cross_entropy(logits, [0, -1, 1])
    with pytest.raises(
        ValueError, match=r"input of shape \(3, 4\) .*needs a target of shape \(3,\) .*got \(2,\)"
    ):
        F.cross_entropy(logits, [0, 1])
    with pytest.raises(TypeError, match="targets must be integer class ids"):
        F.cross_entropy(logits, [0.5, 1, 2])
    with pytest.raises(ValueError, match=r"needs a target of shape \(2, 4\)"):
        F.cross_entropy(mg.Tensor(np.zeros((2, 3, 4))), np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="input must be"):
        F.cross_entropy(mg.Tensor(1.0), 0)
    with pytest.raises(ValueError, match="reduction must be"):
        F.cross_entropy(logits, [0, 1, 2], reduction="avg")


@settings(max_examples=10)
@given(st.data(), hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
def test_mse_loss_gradcheck_and_formula(data, shape):
    a, b = drawn_tensor(data.draw, shape), drawn_tensor(data.draw, shape)
    assert mg.gradcheck(lambda a, b: F.mse_loss(a, b), [a, b])
    assert mg.gradcheck(lambda a, b: F.mse_loss(a, b, reduction="none"), [a, b])
    squares = (a.data - b.data) ** 2
    np.testing.assert_allclose(F.mse_loss(a, b).data, squares.mean(), rtol=1e-12)
    np.testing.assert_allclose(F.mse_loss(a, b, reduction="sum").data, squares.sum(), rtol=1e-12)


def test_mse_loss_errors_and_float32():
    with pytest.raises(ValueError, match=r"mse_loss: input has shape \(3,\) but target has shape"):
        F.mse_loss(mg.Tensor(np.zeros(3)), np.zeros((3, 1)))
    x = mg.Tensor(np.ones(3), requires_grad=True, dtype=np.float32)
    loss = F.mse_loss(x, np.zeros(3))  # an array target takes the input's dtype
    loss.backward()
    assert loss.dtype == x.grad.dtype == np.float32
    assert (
        F.cross_entropy(mg.Tensor(np.zeros((2, 3)), dtype=np.float32), [0, 1]).dtype == np.float32
    )


# --- clip_grad_norm_ ----------------------------------------------------------------------------


def test_clip_grad_norm_scales_all_gradients_together():
    a, b, c = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros((2, 2))), nn.Parameter(np.zeros(1))
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([[0.0, 4.0], [0.0, 0.0]])  # c has no grad
    total = nn.clip_grad_norm_([a, b, c], max_norm=1.0)
    assert isinstance(total, float) and total == 5.0
    coefficient = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(a.grad, [3 * coefficient, 0.0], rtol=1e-15)
    np.testing.assert_allclose(b.grad, [[0.0, 4 * coefficient], [0.0, 0.0]], rtol=1e-15)
    assert c.grad is None


def test_clip_grad_norm_leaves_small_gradients_alone_and_keeps_dtype():
    p = nn.Parameter(np.zeros(3), dtype=np.float32)
    p.grad = np.array([1.0, 2.0, 2.0], dtype=np.float32)
    assert nn.clip_grad_norm_(p, max_norm=10.0) == pytest.approx(3.0)
    np.testing.assert_array_equal(p.grad, [1.0, 2.0, 2.0])
    nn.clip_grad_norm_([p], max_norm=0.3)
    assert p.grad.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(p.grad), 0.3, rtol=1e-5)
    assert nn.clip_grad_norm_([nn.Parameter(np.zeros(2))], 1.0) == 0.0


@pytest.mark.parametrize(
    ("args", "error", "text"),
    [
        ((3, -1), ValueError, "out_features must be >= 0, got -1"),
        ((3.5, 2), TypeError, "in_features must be an integer, got 3.5"),
        ((True, 2), TypeError, "in_features must be an integer"),
    ],
)
def test_linear_refuses_bad_sizes_with_its_own_message(args, error, text):
    with pytest.raises(error, match=re.escape(text)):
        nn.Linear(*args)


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_softmax_over_an_empty_axis_is_empty_as_pytorch(fn):
    x = mg.Tensor(np.zeros((2, 0)), requires_grad=True)
    out = fn(x, dim=-1)
    assert out.shape == (2, 0)
    out.sum().backward()
    assert x.grad.shape == (2, 0)
