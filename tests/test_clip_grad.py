"""clip_grad_norm_ and clip_grad_value_ against torch.nn.utils: every norm type, non-finite
gradients propagated (or refused) exactly as PyTorch does, and bad limits refused."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from oracles import require

from minigrad import nn
from minigrad.testing import shapes

torch = require("torch")

INF, NAN = math.inf, math.nan


def pair(grads: list[np.ndarray]) -> tuple[list[nn.Parameter], list]:
    """Our parameters and PyTorch's, holding the same gradients (plus one without a gradient)."""
    ours = [nn.Parameter(np.zeros(g.shape, dtype=g.dtype)) for g in grads]
    theirs = [
        torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype)) for g in grads
    ]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = g.copy(), torch.from_numpy(g.copy())
    return ours + [nn.Parameter(np.zeros(2))], theirs + [torch.nn.Parameter(torch.zeros(2))]


def assert_same_grads(ours, theirs, rtol=1e-12):
    for p, q in zip(ours, theirs):
        if q.grad is None:
            assert p.grad is None
            continue
        assert p.grad.dtype == q.grad.numpy().dtype
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=rtol, atol=0)  # NaN == NaN


def drawn(seed: int, dtype=np.float64) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((3, 2)).astype(dtype), rng.standard_normal(5).astype(dtype)]


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, 0.5, INF, -INF, 0.0, -1.0, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_pytorch_for_every_norm_type(norm_type, max_norm):
    ours, theirs = pair(drawn(6))
    total = nn.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(expected.item(), rel=1e-12)
    assert_same_grads(ours, theirs)


# Zero or 1e-100 <= |x| <= 1e3: for tinier values PyTorch's short-vector norm underflows to 0
# where ours (scaled) does not.
MAGNITUDES = st.one_of(st.just(0.0), st.floats(1e-100, 1e3), st.floats(-1e3, -1e-100))


@given(
    st.lists(
        shapes(max_dims=2).flatmap(
            lambda shape: hnp.arrays(np.float64, shape, elements=MAGNITUDES)
        ),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from([2.0, 1.0, 3.0, INF]),
    st.floats(0.0, 50.0),
)
def test_clip_grad_norm_matches_pytorch_on_drawn_gradients(grads, norm_type, max_norm):
    ours, theirs = pair(grads)
    total = nn.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert total == pytest.approx(expected.item(), rel=1e-12, abs=1e-300)
    assert_same_grads(ours, theirs, rtol=1e-12)


def test_clip_grad_norm_float32_stays_float32_and_matches_pytorch():
    ours, theirs = pair(drawn(1, np.float32))
    total = nn.clip_grad_norm_(ours, 0.1)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 0.1)
    assert total == pytest.approx(expected.item(), rel=1e-6)
    assert_same_grads(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("spoiled", [NAN, INF, -INF], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, INF])
def test_a_non_finite_norm_reaches_every_gradient_as_in_pytorch(spoiled, norm_type):
    grads = drawn(2)
    grads[1][3] = spoiled
    ours, theirs = pair(grads)
    total = nn.clip_grad_norm_(ours, 1.0, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type=norm_type)
    np.testing.assert_equal(total, expected.item())  # nan or inf, the same
    assert_same_grads(ours, theirs)
    assert not np.isfinite(ours[1].grad).all() and not np.any(ours[0].grad == drawn(2)[0])


def test_error_if_nonfinite_raises_and_changes_nothing():
    grads = drawn(3)
    grads[0][1, 1] = NAN
    ours, theirs = pair(grads)
    with pytest.raises(RuntimeError, match="non-finite") as ours_error:
        nn.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError) as theirs_error:
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, error_if_nonfinite=True)
    assert str(ours_error.value).split(":")[-1].strip() == str(theirs_error.value)
    np.testing.assert_array_equal(ours[0].grad, grads[0])
    assert nn.clip_grad_norm_(pair(drawn(3))[0], 1.0, error_if_nonfinite=True) > 1.0


def test_no_gradients_give_a_zero_norm():
    assert nn.clip_grad_norm_([nn.Parameter(np.zeros(2))], 1.0) == 0.0
    assert nn.clip_grad_norm_([], 1.0) == torch.nn.utils.clip_grad_norm_([], 1.0).item() == 0.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("clip_value", [0.3, 2.0, INF])
def test_clip_grad_value_matches_pytorch(dtype, clip_value):
    grads = drawn(5, dtype)
    grads[0][0, 0] = NAN  # stays NaN, as in PyTorch
    grads[1][0] = -INF
    ours, theirs = pair(grads)
    assert nn.clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    assert_same_grads(ours, theirs)
    single = nn.Parameter(np.array([5.0, -5.0]))
    single.grad = np.array([5.0, -5.0])
    nn.utils.clip_grad_value_(single, 1.0)
    np.testing.assert_array_equal(single.grad, [1.0, -1.0])


@pytest.mark.parametrize("limit", [NAN, -1.0])
@pytest.mark.parametrize(
    ("clip", "name"),
    [
        (nn.clip_grad_norm_, "clip_grad_norm_: max_norm"),
        (nn.clip_grad_value_, "clip_grad_value_: clip_value"),
    ],
    ids=["norm", "value"],
)
def test_a_nan_or_negative_limit_is_refused(clip, name, limit):
    ours, _ = pair(drawn(4))
    with pytest.raises(ValueError, match=name):
        clip(ours, limit)
    np.testing.assert_array_equal(ours[0].grad, drawn(4)[0])


@pytest.mark.parametrize("scale", [1e-200, 1e200])
@pytest.mark.parametrize("norm_type", [2.0, 3.0])
def test_tiny_and_huge_gradients_neither_underflow_nor_overflow(scale, norm_type):
    p = nn.Parameter(np.zeros(2))
    p.grad = np.array([3.0, 4.0]) * scale
    expected = (3.0**norm_type + 4.0**norm_type) ** (1 / norm_type) * scale
    assert nn.clip_grad_norm_(p, math.inf, norm_type=norm_type) == pytest.approx(expected)
