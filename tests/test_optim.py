"""SGD and Adam against hand-derived updates and closed forms."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim


def quadratic_step(p, optimizer):
    """One step on f(p) = sum(p^2) / 2, whose gradient is p itself."""
    optimizer.zero_grad()
    ((p * p).sum() * 0.5).backward()
    optimizer.step()


def test_sgd_on_a_quadratic_shrinks_geometrically():
    p = nn.Parameter([4.0, -2.0])
    optimizer = optim.SGD([p], lr=0.1)
    for _ in range(5):
        quadratic_step(p, optimizer)
    np.testing.assert_allclose(p.data, np.array([4.0, -2.0]) * 0.9**5, rtol=1e-14)


def test_sgd_momentum_buffer_starts_at_the_first_gradient():
    p = nn.Parameter([1.0])
    optimizer = optim.SGD([p], lr=0.5, momentum=0.9)
    p.grad = np.array([2.0])
    optimizer.step()
    np.testing.assert_allclose(p.data, [1.0 - 0.5 * 2.0])  # b = g (not (1 - momentum) g)
    p.grad = np.array([3.0])
    optimizer.step()
    np.testing.assert_allclose(p.data, [0.0 - 0.5 * (0.9 * 2.0 + 3.0)])  # b = 0.9 b + g


def test_sgd_weight_decay_adds_to_the_gradient():
    p = nn.Parameter([2.0, -1.0])
    optimizer = optim.SGD([p], lr=0.1, momentum=0.5, weight_decay=0.01)
    grads = [np.array([1.0, 1.0]), np.array([-1.0, 0.5]), np.array([0.0, 2.0])]
    expected, buffer = np.array([2.0, -1.0]), None
    for g in grads:
        p.grad = g
        optimizer.step()
        d = g + 0.01 * expected
        buffer = d if buffer is None else 0.5 * buffer + d
        expected = expected - 0.1 * buffer
    np.testing.assert_allclose(p.data, expected, rtol=1e-15)


def test_adam_first_step_moves_each_coordinate_by_lr():
    """After one step m_hat = g and v_hat = g^2, so the update is lr * g / (|g| + eps)."""
    p = nn.Parameter([1.0, 1.0, 1.0])
    p.grad = np.array([1e3, -2.0, 1e-3])
    optimizer = optim.Adam([p], lr=0.01)
    optimizer.step()
    g = np.array([1e3, -2.0, 1e-3])
    np.testing.assert_allclose(p.data, 1.0 - 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-14)


def test_adam_matches_the_update_rule_over_several_steps():
    rng = np.random.default_rng(0)
    start = rng.standard_normal((2, 3))
    p = nn.Parameter(start)
    lr, (b1, b2), eps, wd = 0.05, (0.8, 0.99), 1e-6, 0.1
    optimizer = optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    value, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t in range(1, 7):
        g = rng.standard_normal((2, 3))
        p.grad = g
        optimizer.step()
        g = g + wd * value
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        value = value - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(p.data, value, rtol=1e-12)


def test_adam_trains_a_linear_regression():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    model = nn.Linear(3, 1, rng=0)
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    for _ in range(300):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    np.testing.assert_allclose(model.weight.data, [[1.0, -2.0, 0.5]], atol=1e-3)
    np.testing.assert_allclose(model.bias.data, [0.3], atol=1e-3)


@pytest.mark.parametrize(
    "make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.Adam(ps)]
)
def test_parameters_without_grad_are_skipped_and_dtype_is_kept(make):
    used = nn.Parameter(np.ones(3), dtype=np.float32)
    unused = nn.Parameter(np.ones(2), dtype=np.float32)
    optimizer = make([used, unused])
    for _ in range(2):
        used.grad = np.full(3, 0.5, dtype=np.float32)
        optimizer.step()
    assert used.dtype == unused.dtype == np.float32
    assert np.all(used.data < 1.0)
    np.testing.assert_array_equal(unused.data, np.ones(2))
    optimizer.zero_grad()
    assert used.grad is None and unused.grad is None


def test_step_rebinds_data_so_a_live_graph_is_not_corrupted():
    w = nn.Parameter([1.0, 2.0])
    x = mg.Tensor([3.0, 4.0], requires_grad=True)
    loss = (w * x).sum()  # this graph saved w's array, to compute d loss / d x = w
    old = w.data
    w.grad = np.array([1.0, 1.0])
    optim.SGD([w], lr=0.5).step()
    assert w.data is not old
    np.testing.assert_array_equal(old, [1.0, 2.0])  # the saved array was not written into
    np.testing.assert_array_equal(w.data, [0.5, 1.5])
    del loss


def test_optimizer_arguments_are_checked():
    p = nn.Parameter([1.0])
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="SGD: lr must be >= 0"):
        optim.SGD([p], lr=-1.0)
    with pytest.raises(ValueError, match=r"Adam: betas must be two numbers in \[0, 1\)"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Adam: eps must be >= 0"):
        optim.Adam([p], eps=-1e-8)
    with pytest.raises(TypeError, match="Adam: parameter 0 must be a leaf Tensor"):
        optim.Adam([p * 2])
    with pytest.raises(ValueError, match="appears more than once"):
        optim.SGD([p, p], lr=0.1)
