"""nn.functional's activations and losses: finite-difference gradients, formulas, errors.

Agreement with PyTorch (values and gradients) is in test_nn_parity.py; these run without it.
"""

import math
import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F


def leaf(array):
    return mg.Tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def arrays(draw, shape, lo=-3.0, hi=3.0):
    return draw(hnp.arrays(np.float64, shape, elements=st.floats(lo, hi)))


# --- Activations --------------------------------------------------------------------------------


def test_erfc_inside_gelu_matches_math_erfc_across_every_branch():
    z = np.concatenate([np.linspace(-30.0, 30.0, 4001), [0.0, 1.0, -1.0, 8.0, -8.0, 27.0, 1e300]])
    x = mg.Tensor(-z * math.sqrt(2.0))  # gelu(x) = x erfc(-x / sqrt 2) / 2
    phi = F.gelu(x).data / np.where(x.data == 0, 1.0, 0.5 * x.data)
    expected = np.array([math.erfc(v) for v in x.data * -math.sqrt(0.5)])  # the same z
    finite = np.isfinite(x.data) & (x.data != 0)
    np.testing.assert_allclose(phi[finite], expected[finite], rtol=1e-13, atol=1e-300)


@settings(max_examples=10)
@given(st.data(), st.sampled_from(["none", "tanh"]))
def test_gelu_gradcheck_on_every_branch(data, approximate):
    values = arrays(data.draw, (6,), -12.0, 12.0)
    x = leaf(np.concatenate([values, [-1.3, 1.3, -0.4, 12.5, -12.5, 40.0]]))  # |x|/sqrt2 of 1, 8
    assert mg.gradcheck(lambda x: F.gelu(x, approximate=approximate), [x])
    assert mg.gradgradcheck(lambda x: F.gelu(x, approximate=approximate), [x])


def test_gelu_values_and_extremes():
    x = leaf([-1e4, -40.0, -1.0, 0.0, 1.0, 1e4])
    exact = [
        0.0,
        0.0,
        -1 * 0.5 * math.erfc(1 / math.sqrt(2)),
        0.0,
        0.5 * (1 + math.erf(1 / 2**0.5)),
    ]
    np.testing.assert_allclose(F.gelu(x).data[:5], exact, rtol=1e-14, atol=1e-300)
    assert F.gelu(x).data[5] == 1e4
    F.gelu(x).sum().backward()
    assert np.all(np.isfinite(x.grad)) and x.grad[0] == 0 and x.grad[-1] == 1.0
    t = F.gelu(x, approximate="tanh").data
    np.testing.assert_allclose(t[2], -0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * -1.044715)))
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        F.gelu(x, approximate="erf")
    f32 = F.gelu(mg.Tensor(np.ones(3), dtype=np.float32))
    assert f32.dtype == np.float32


def test_softmax_takes_dim_or_axis_and_warns_without_either():
    x = leaf(np.random.default_rng(0).standard_normal((2, 3, 4)))
    np.testing.assert_array_equal(F.softmax(x, dim=1).data, F.softmax(x, axis=1).data)
    np.testing.assert_array_equal(F.log_softmax(x, 2).data, F.log_softmax(x, axis=-1).data)
    with pytest.raises(TypeError, match="softmax: got dim=1 and axis=2"):
        F.softmax(x, dim=1, axis=2)
    with pytest.warns(UserWarning, match=r"implicit dimension choice \(dim=0 for a 3-D input"):
        implicit = F.softmax(x)  # PyTorch's legacy rule: dim 0 for 3-D inputs
    np.testing.assert_allclose(implicit.data.sum(axis=0), np.ones((3, 4)), rtol=1e-15)
    with pytest.warns(UserWarning, match=r"dim=1 for a 2-D input"):
        F.log_softmax(x[0])


@settings(max_examples=10)
@given(st.data())
def test_logsigmoid_gradcheck_and_formula(data):
    x = leaf(np.concatenate([arrays(data.draw, (5,), -30.0, 30.0), [0.0]]))
    assert mg.gradcheck(F.logsigmoid, [x])
    np.testing.assert_allclose(F.logsigmoid(x).data, -np.logaddexp(0, -x.data), rtol=1e-14)


def test_logsigmoid_is_exact_in_the_tails():
    x = leaf([-1e4, -40.0, 0.0, 40.0, 1e4])
    out = F.logsigmoid(x)
    np.testing.assert_allclose(
        out.data, [-1e4, -40.0 - math.exp(-40.0), -math.log(2), -math.exp(-40.0), 0.0], rtol=1e-15
    )
    out.sum().backward()
    np.testing.assert_allclose(
        x.grad,
        [1.0, 1 / (1 + math.exp(-40)), 0.5, math.exp(-40.0) / (1 + math.exp(-40.0)), 0.0],
        rtol=1e-15,
    )


def test_activation_modules_compute_their_functions():
    x = leaf(np.linspace(-2, 2, 12).reshape(2, 3, 2))
    cases = {
        nn.ReLU(): np.maximum(x.data, 0),
        nn.Tanh(): np.tanh(x.data),
        nn.Sigmoid(): 1 / (1 + np.exp(-x.data)),
        nn.GELU(approximate="tanh"): F.gelu(x, approximate="tanh").data,
        nn.Softmax(dim=1): np.exp(x.data) / np.exp(x.data).sum(axis=1, keepdims=True),
        nn.LogSoftmax(dim=-1): F.log_softmax(x, dim=-1).data,
        nn.Identity(3, unused=True): x.data,
        nn.Flatten(): x.data.reshape(2, 6),
        nn.Flatten(0, 1): x.data.reshape(6, 2),
    }
    for module, expected in cases.items():
        np.testing.assert_allclose(module(x).data, expected, rtol=1e-14, err_msg=repr(module))
    assert nn.Flatten()(x).shape == (2, 6) and nn.Flatten(-2)(x).shape == (2, 6)
    with pytest.raises(NotImplementedError, match="ReLU: inplace=True is not supported"):
        nn.ReLU(inplace=True)
    with pytest.raises(ValueError, match="Flatten: start_dim=2 comes after end_dim=1"):
        nn.Flatten(2, 1)(x)
    with pytest.raises(IndexError, match="Flatten: start_dim=1 / end_dim=5 out of range"):
        nn.Flatten(1, 5)(x)
    with pytest.raises(ValueError, match="GELU: approximate must be"):
        nn.GELU("fast")


# --- Embedding padding_idx and the shared id check ----------------------------------------------


def test_embedding_padding_row_is_zero_and_gets_no_gradient():
    embed = nn.Embedding(5, 3, padding_idx=1, rng=0)
    assert not embed.weight.data[1].any() and embed.weight.data[0].any()
    ids = np.array([[1, 2, 1], [0, 1, 2]])
    out = embed(ids)
    assert not out.data[0, 0].any()
    weights = np.random.default_rng(1).standard_normal(out.shape)
    (out * weights).sum().backward()
    expected = np.zeros((5, 3))
    np.add.at(expected, ids[ids != 1], weights[ids != 1])
    np.testing.assert_array_equal(embed.weight.grad, expected)
    embed.weight.data = np.ones((5, 3))  # a padding row that was changed is still looked up
    np.testing.assert_array_equal(embed([1]).data, [[1.0, 1.0, 1.0]])
    assert nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4


def test_embedding_padding_idx_errors():
    with pytest.raises(ValueError, match="padding_idx=5 is out of range for num_embeddings=5"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(TypeError, match="padding_idx must be an int or None.*dtype= by keyword"):
        nn.Embedding(5, 2, np.float32)


def test_one_id_check_names_the_op_shape_position_and_value():
    with pytest.raises(
        IndexError,
        match=r"Embedding: id 7 is out of range for num_embeddings=4 \(at index \(1, 0\) of the "
        r"ids of shape \(2, 2\); valid ids are 0 to 3\)",
    ):
        nn.Embedding(4, 2)([[0, 1], [7, 2]])
    with pytest.raises(IndexError, match=r"nll_loss: target 3 is out of range for 3 classes"):
        F.nll_loss(mg.Tensor(np.zeros((2, 3))), [0, 3])
    with pytest.raises(IndexError, match=r"valid targets are 0 to 2, or ignore_index=-1\)"):
        F.cross_entropy(mg.Tensor(np.zeros((2, 3))), [-1, -2], ignore_index=-1)
    with pytest.raises(
        TypeError, match=r"cross_entropy: targets must be integer class ids, got an"
    ):
        F.cross_entropy(mg.Tensor(np.zeros((2, 3))), np.array([True, False]))


# --- cross_entropy and nll_loss -----------------------------------------------------------------


def reference_cross_entropy(x, y, weight, ignore_index, reduction, smoothing):
    """numpy, from the definition (class axis 1 of (N, C, d...)), for the gradchecked cases."""
    classes = x.shape[1]
    log_p = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    w = np.ones(classes) if weight is None else weight
    keep = y != ignore_index
    safe = np.where(keep, y, 0)
    one_hot = np.moveaxis(np.eye(classes)[safe], -1, 1)
    nll = -(one_hot * log_p).sum(axis=1) * w[safe] * keep
    smooth = -(log_p * w.reshape((1, classes) + (1,) * (x.ndim - 2))).sum(axis=1) * keep
    losses = (1 - smoothing) * nll + smoothing / classes * smooth
    if reduction == "none":
        return losses
    return losses.sum() / ((w[safe] * keep).sum() if reduction == "mean" else 1.0)


@settings(max_examples=15)
@given(
    st.data(),
    st.sampled_from([(4, 3), (2, 3, 2), (2, 4, 2, 2)]),
    st.sampled_from(["mean", "sum", "none"]),
    st.booleans(),
    st.sampled_from([0.0, 0.3]),
)
def test_cross_entropy_class_ids_gradcheck_and_formula(data, shape, reduction, weighted, smoothing):
    x = leaf(arrays(data.draw, shape))
    classes = shape[1]
    target_shape = shape[:1] + shape[2:]
    y = data.draw(hnp.arrays(np.int64, target_shape, elements=st.integers(-1, classes - 1)))
    y[(0,) * y.ndim] = 0  # at least one target is kept
    weight = np.linspace(0.5, 2.0, classes) if weighted else None
    options = dict(weight=weight, ignore_index=-1, reduction=reduction, label_smoothing=smoothing)
    assert mg.gradcheck(lambda x: F.cross_entropy(x, y, **options), [x])
    expected = reference_cross_entropy(x.data, y, weight, -1, reduction, smoothing)
    np.testing.assert_allclose(
        F.cross_entropy(x, y, **options).data, expected, rtol=1e-12, atol=1e-12
    )


def test_cross_entropy_mean_is_over_kept_targets_and_their_weights():
    x = leaf(np.random.default_rng(2).standard_normal((4, 3)))
    y = np.array([2, -100, 0, -100])
    per_row = F.cross_entropy(x, y, reduction="none").data
    assert per_row[1] == per_row[3] == 0.0
    np.testing.assert_allclose(F.cross_entropy(x, y).data, (per_row[0] + per_row[2]) / 2)
    w = np.array([1.0, 5.0, 3.0])
    weighted = F.cross_entropy(x, y, weight=w, reduction="none").data
    np.testing.assert_allclose(weighted, per_row * [3.0, 0.0, 1.0, 0.0], rtol=1e-15)
    np.testing.assert_allclose(F.cross_entropy(x, y, weight=w).data, weighted.sum() / 4.0)


def test_all_ignored_targets_give_nan_mean_and_zero_gradients():
    x = leaf(np.ones((3, 4)))
    y = np.full(3, -100)
    for kwargs in ({}, {"weight": np.ones(4)}, {"label_smoothing": 0.1}):
        loss = F.cross_entropy(x, y, **kwargs)
        assert math.isnan(loss.item())
        x.grad = None
        loss.backward()
        np.testing.assert_array_equal(x.grad, np.zeros((3, 4)))
    assert F.cross_entropy(x, y, reduction="sum").item() == 0.0
    assert math.isnan(F.nll_loss(x, y).item())


@settings(max_examples=10)
@given(st.data(), st.sampled_from([(3,), (2, 3), (2, 3, 2)]), st.sampled_from(["mean", "sum"]))
def test_cross_entropy_probability_targets_gradcheck(data, shape, reduction):
    x = leaf(arrays(data.draw, shape))
    axis = 0 if len(shape) == 1 else 1
    p = leaf(F.softmax(mg.Tensor(arrays(data.draw, shape)), dim=axis).data)
    w = np.array([0.5, 1.0, 2.0])
    assert mg.gradcheck(lambda x, p: F.cross_entropy(x, p, reduction=reduction), [x, p])
    assert mg.gradcheck(lambda x: F.cross_entropy(x, p.data, w, label_smoothing=0.2), [x])
    log_p = F.log_softmax(x, dim=axis).data
    spread = w.reshape((3,) + (1,) * (len(shape) - axis - 1))
    per = -(log_p * p.data * spread).sum(axis=axis)
    expected = per.sum() if reduction == "sum" else per.mean()
    got = F.cross_entropy(x, p, w, reduction=reduction).data
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_nll_loss_picks_and_weights_log_probabilities():
    log_p = leaf(np.log(np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]])))
    y = np.array([1, 0, 0])
    w = np.array([2.0, 1.0])
    expected = -(1.0 * log_p.data[0, 1] + 2.0 * log_p.data[1, 0] + 2.0 * log_p.data[2, 0]) / 5.0
    np.testing.assert_allclose(F.nll_loss(log_p, y, weight=w).data, expected, rtol=1e-15)
    assert mg.gradcheck(lambda z: F.nll_loss(z, y, w, reduction="none"), [log_p])
    single = F.nll_loss(mg.Tensor([0.1, 0.2, 0.7]), 2)  # unbatched: (C,) and a scalar target
    assert single.item() == -0.7


def test_class_loss_errors():
    x = mg.Tensor(np.zeros((2, 3)))
    with pytest.raises(
        TypeError, match=r"weight must be an array of weights, got the string 'sum'"
    ):
        F.cross_entropy(x, [0, 1], "sum")
    with pytest.raises(ValueError, match=r"weight must have one entry per class, shape \(3,\)"):
        F.cross_entropy(x, [0, 1], weight=np.ones(2))
    with pytest.raises(NotImplementedError, match="no gradient flows to weight"):
        F.nll_loss(x, [0, 1], weight=leaf(np.ones(3)))
    with pytest.raises(ValueError, match=r"ignore_index=0 only applies to class-id targets"):
        F.cross_entropy(x, np.full((2, 3), 1 / 3), ignore_index=0)
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        F.cross_entropy(x, [0, 1], label_smoothing=1.5)
    with pytest.raises(
        ValueError, match="nll_loss: reduction must be one of 'mean', 'sum', 'none'"
    ):
        F.nll_loss(x, [0, 1], reduction="batchmean")


# --- Elementwise losses -------------------------------------------------------------------------


ELEMENTWISE = {
    "l1_loss": (F.l1_loss, {}, lambda d: np.abs(d)),
    "huber_loss": (
        F.huber_loss,
        {"delta": 0.7},
        lambda d: np.where(np.abs(d) < 0.7, 0.5 * d**2, 0.7 * (np.abs(d) - 0.35)),
    ),
    "smooth_l1_loss": (
        F.smooth_l1_loss,
        {"beta": 0.5},
        lambda d: np.where(np.abs(d) < 0.5, d**2, np.abs(d) - 0.25),
    ),
    "mse_loss": (F.mse_loss, {}, lambda d: d**2),
}


@settings(max_examples=10)
@given(st.data(), st.sampled_from(sorted(ELEMENTWISE)), st.sampled_from(["mean", "sum", "none"]))
def test_elementwise_losses_gradcheck_and_formula(data, name, reduction):
    fn, options, formula = ELEMENTWISE[name]
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    a, b = leaf(arrays(data.draw, shape)), leaf(arrays(data.draw, shape))
    kinks = [0.0, *options.values()]  # |d| where the derivative jumps: keep finite differences off
    assume(all(np.all(np.abs(np.abs(a.data - b.data) - k) > 1e-4) for k in kinks))
    assert mg.gradcheck(lambda a, b: fn(a, b, reduction=reduction, **options), [a, b])
    per = formula(a.data - b.data)
    expected = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    np.testing.assert_allclose(fn(a, b, reduction, **options).data, expected, rtol=1e-12)


def test_l1_gradient_at_zero_difference_is_zero_and_smooth_l1_beta_zero_is_l1():
    a = leaf([1.0, 2.0])
    F.l1_loss(a, np.array([1.0, 0.0]), reduction="sum").backward()
    np.testing.assert_array_equal(a.grad, [0.0, 1.0])
    b = leaf([0.3, -2.0])
    np.testing.assert_array_equal(F.smooth_l1_loss(b, np.zeros(2), beta=0.0).data, 1.15)
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must not be negative"):
        F.smooth_l1_loss(b, np.zeros(2), beta=-1.0)
    with pytest.raises(ValueError, match="huber_loss: delta must be positive"):
        F.huber_loss(b, np.zeros(2), delta=0.0)
    with pytest.raises(ValueError, match=r"l1_loss: input has shape \(2,\) but target has shape"):
        F.l1_loss(b, np.zeros(3))


@settings(max_examples=10)
@given(st.data(), st.sampled_from(["mean", "sum", "none"]), st.booleans())
def test_binary_cross_entropy_gradcheck_and_formula(data, reduction, weighted):
    p = leaf(arrays(data.draw, (2, 3), 0.05, 0.95))
    y = leaf(arrays(data.draw, (2, 3), 0.0, 1.0))
    w = np.array([1.0, 2.0, 0.5]) if weighted else None
    assert mg.gradcheck(
        lambda p, y: F.binary_cross_entropy(p, y, weight=w, reduction=reduction), [p, y]
    )
    per = -(y.data * np.log(p.data) + (1 - y.data) * np.log(1 - p.data)) * (1 if w is None else w)
    expected = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    np.testing.assert_allclose(
        F.binary_cross_entropy(p, y, w, reduction).data, expected, rtol=1e-12
    )


def test_binary_cross_entropy_clamps_logs_at_minus_100_and_checks_inputs():
    p = leaf([0.0, 1.0, 0.0])
    loss = F.binary_cross_entropy(p, np.array([1.0, 0.0, 0.0]), reduction="none")
    np.testing.assert_array_equal(loss.data, [100.0, 100.0, 0.0])
    loss.sum().backward()
    assert np.all(np.isfinite(p.grad))
    with pytest.raises(
        ValueError, match=r"binary_cross_entropy: every input must be a probability"
    ):
        F.binary_cross_entropy(mg.Tensor([0.5, 1.5]), np.ones(2))


@settings(max_examples=10)
@given(st.data(), st.sampled_from(["mean", "sum", "none"]), st.booleans(), st.booleans())
def test_binary_cross_entropy_with_logits_gradcheck_and_formula(data, reduction, weighted, pos):
    x = leaf(arrays(data.draw, (2, 3), -8.0, 8.0))
    y = leaf(arrays(data.draw, (2, 3), 0.0, 1.0))
    w = np.array([[1.0], [0.5]]) if weighted else None
    pw = np.array([1.0, 3.0, 0.2]) if pos else None
    fn = lambda x, y: F.binary_cross_entropy_with_logits(
        x, y, weight=w, reduction=reduction, pos_weight=pw
    )
    assert mg.gradcheck(fn, [x, y])
    s = 1 / (1 + np.exp(-x.data))
    pos_w = 1.0 if pw is None else pw
    per = -(pos_w * y.data * np.log(s) + (1 - y.data) * np.log(1 - s)) * (1 if w is None else w)
    expected = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    np.testing.assert_allclose(fn(x, y).data, expected, rtol=1e-10)


def test_binary_cross_entropy_with_logits_is_finite_at_1e4():
    x = leaf([1e4, -1e4, 1e4, -1e4])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none", pos_weight=np.full(4, 2.0))
    np.testing.assert_array_equal(loss.data, [0.0, 0.0, 1e4, 2e4])
    loss.sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0, -2.0])


@settings(max_examples=10)
@given(st.data(), st.sampled_from(["batchmean", "sum", "none"]), st.booleans())
def test_kl_div_gradcheck_and_formula(data, reduction, log_target):
    x = leaf(F.log_softmax(mg.Tensor(arrays(data.draw, (2, 3))), dim=1).data)
    t = F.softmax(mg.Tensor(arrays(data.draw, (2, 3))), dim=1).data
    t = leaf(np.log(t) if log_target else t)
    fn = lambda x, t: F.kl_div(x, t, reduction=reduction, log_target=log_target)
    assert mg.gradcheck(fn, [x, t])
    p = np.exp(t.data) if log_target else t.data
    per = p * (np.log(p) - x.data)
    expected = {"batchmean": per.sum() / 2, "sum": per.sum(), "none": per}[reduction]
    np.testing.assert_allclose(fn(x, t).data, expected, rtol=1e-12, atol=1e-15)


def test_kl_div_zero_targets_and_the_mean_warning():
    x = leaf(np.log([[0.5, 0.5]]))
    loss = F.kl_div(x, np.array([[1.0, 0.0]]), reduction="sum")
    np.testing.assert_allclose(loss.item(), math.log(2.0), rtol=1e-15)  # 0 log 0 counts as 0
    loss.backward()
    np.testing.assert_array_equal(x.grad, [[-1.0, 0.0]])
    with pytest.warns(UserWarning, match="'batchmean' gives the KL divergence"):
        F.kl_div(x, np.array([[1.0, 0.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(x, np.array([[1.0, 0.0]]), reduction="batchmean")


def test_loss_modules_hold_options_and_buffers():
    x = leaf(np.random.default_rng(3).standard_normal((4, 3)))
    y = np.array([0, 2, -100, 1])
    w = np.array([1.0, 2.0, 3.0])
    module = nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)
    expected = F.cross_entropy(x, y, weight=w, label_smoothing=0.1).data
    np.testing.assert_array_equal(module(x, y).data, expected)
    assert list(module.state_dict()) == ["weight"] and list(module.parameters()) == []
    assert repr(module) == "CrossEntropyLoss()"
    pos = nn.BCEWithLogitsLoss(pos_weight=np.full(3, 2.0))
    assert list(pos.state_dict()) == ["pos_weight"]
    z = np.ones((4, 3)) / 2
    np.testing.assert_array_equal(
        pos(x, z).data, F.binary_cross_entropy_with_logits(x, z, pos_weight=np.full(3, 2.0)).data
    )
    pairs = [
        (nn.NLLLoss(reduction="sum"), F.nll_loss(x, y, reduction="sum")),
        (nn.MSELoss(reduction="none"), F.mse_loss(x, z, reduction="none")),
        (nn.L1Loss(), F.l1_loss(x, z)),
        (nn.SmoothL1Loss(beta=0.5), F.smooth_l1_loss(x, z, beta=0.5)),
        (nn.HuberLoss(delta=0.5), F.huber_loss(x, z, delta=0.5)),
        (nn.BCELoss(), F.binary_cross_entropy(mg.Tensor(z), z)),
        (nn.KLDivLoss(reduction="batchmean"), F.kl_div(x, z, reduction="batchmean")),
    ]
    for module, expected in pairs:
        inputs = (
            (mg.Tensor(z), z)
            if isinstance(module, nn.BCELoss)
            else (x, y if isinstance(module, nn.NLLLoss) else z)
        )
        np.testing.assert_array_equal(module(*inputs).data, expected.data, err_msg=repr(module))
    with pytest.raises(ValueError, match="l1_loss: reduction must be one of"):
        nn.L1Loss(reduction="avg")(x, z)


def test_losses_keep_float32():
    x = mg.Tensor(np.zeros((2, 3)), requires_grad=True, dtype=np.float32)
    z = np.full((2, 3), 0.5)
    results = [
        F.cross_entropy(x, [0, 1], weight=np.ones(3), label_smoothing=0.1),
        F.cross_entropy(x, z),
        F.binary_cross_entropy_with_logits(x, z, pos_weight=np.ones(3)),
        F.huber_loss(x, z),
        F.kl_div(x, z, reduction="batchmean"),
        F.gelu(x),
    ]
    for result in results:
        assert result.dtype == np.float32
        x.grad = None
        result.sum().backward()
        assert x.grad.dtype == np.float32


def test_target_shape_errors_name_both_layouts_for_cross_entropy_only():
    x = mg.Tensor(np.zeros((2, 3, 4)))
    with pytest.raises(
        ValueError,
        match=r"cross_entropy: input of shape \(2, 3, 4\) \(classes on axis 1\) needs a target of "
        r"shape \(2, 4\) \(class ids\) or \(2, 3, 4\) \(probabilities\), got \(2, 3\)",
    ):
        F.cross_entropy(x, np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match=r"needs a target of shape \(2, 4\) \(class ids\), got"):
        F.nll_loss(x, np.zeros((2, 3), dtype=int))
