"""SGD and Adam against hand-derived updates and closed forms."""

import re

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


# --- Parameter groups, zero_grad, step(closure) ---------------------------------------------


def test_groups_take_their_own_options_and_the_rest_from_the_arguments():
    a, b = nn.Parameter([1.0, 2.0]), nn.Parameter([3.0])
    optimizer = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in optimizer.param_groups] == [0.9, 0.9]
    assert optimizer.params == [a, b]
    a.grad, b.grad = np.array([1.0, 1.0]), np.array([2.0])
    optimizer.step()
    np.testing.assert_allclose(a.data, [0.9, 1.9], rtol=1e-15)
    np.testing.assert_allclose(b.data, [2.0], rtol=1e-15)
    optimizer.param_groups[1]["lr"] = 0.25  # a change between steps applies to the next one
    optimizer.step()
    np.testing.assert_allclose(b.data, [2.0 - 0.25 * (0.9 * 2.0 + 2.0)], rtol=1e-15)


def test_add_param_group_and_its_checks():
    a, b = nn.Parameter([1.0]), nn.Parameter([2.0])
    optimizer = optim.Adam([a], lr=0.1)
    optimizer.add_param_group({"params": [b], "betas": (0.5, 0.9)})
    assert optimizer.param_groups[1]["betas"] == (0.5, 0.9)
    assert optimizer.param_groups[1]["lr"] == 0.1
    with pytest.raises(ValueError, match="appears more than once"):
        optimizer.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['betas1'\]"):
        optim.Adam([{"params": [a], "betas1": 0.5}])
    with pytest.raises(ValueError, match="Adam: lr must be >= 0 \\(Invalid learning rate: -2"):
        optim.Adam([{"params": [a], "lr": -2.0}])
    with pytest.raises(TypeError, match="not a set"):
        optim.Adam({a})
    with pytest.raises(TypeError, match="got a single Tensor of shape \\(1,\\)"):
        optim.Adam(a)
    assert len(optimizer.param_groups) == 2  # the failed additions added nothing


def test_zero_grad_to_zeros_keeps_shape_and_dtype_and_leaves_none_alone():
    a = nn.Parameter(np.ones((2, 3)), dtype=np.float32)
    b = nn.Parameter([1.0])
    a.grad = np.full((2, 3), 4.0, dtype=np.float32)
    optimizer = optim.SGD([a, b], lr=0.1)
    optimizer.zero_grad(set_to_none=False)
    assert a.grad.dtype == np.float32 and a.grad.shape == (2, 3) and not a.grad.any()
    assert b.grad is None
    optimizer.zero_grad()
    assert a.grad is None


def test_step_runs_the_closure_first_with_grad_enabled_and_returns_its_loss():
    p = nn.Parameter([3.0, -1.0])
    optimizer = optim.SGD([p], lr=0.1)

    def closure():
        optimizer.zero_grad()
        loss = (p * p).sum() * 0.5
        loss.backward()
        return loss

    with mg.no_grad():  # the closure still records its graph, as in PyTorch
        loss = optimizer.step(closure)
    assert loss.item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.data, [2.7, -0.9], rtol=1e-15)
    assert optimizer.step() is None


def test_step_rejects_a_gradient_of_the_wrong_shape():
    p = nn.Parameter(np.zeros((2, 3)))
    p.grad = np.zeros(3)
    with pytest.raises(ValueError, match=r"SGD.step: a gradient of shape \(3,\) for a parameter"):
        optim.SGD([p]).step()
    np.testing.assert_array_equal(p.data, np.zeros((2, 3)))


ALL = {
    "SGD": dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
    "SGD-nesterov": dict(lr=0.05, momentum=0.9, nesterov=True),
    "Adam": dict(lr=0.05, amsgrad=True, weight_decay=0.1),
    "AdamW": dict(lr=0.05, betas=(0.8, 0.9)),
    "RMSprop": dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01),
    "Adagrad": dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
}


def make(case, params):
    return getattr(optim, case.split("-")[0])(params, **ALL[case])


@pytest.mark.parametrize("case", sorted(ALL))
def test_float32_stays_float32_in_parameters_and_state(case):
    p = nn.Parameter(np.linspace(-1, 1, 6).reshape(2, 3), dtype=np.float32)
    optimizer = make(case, [p])
    for _ in range(3):
        p.grad = np.full((2, 3), 0.25, dtype=np.float32)
        optimizer.step()
    assert p.dtype == np.float32 and p.data.dtype == np.float32
    arrays = [v for v in optimizer.state[id(p)].values() if isinstance(v, np.ndarray)]
    assert arrays and all(a.dtype == np.float32 for a in arrays)


# --- state_dict / load_state_dict -----------------------------------------------------------


def model_and_grads(seed=0):
    """Two parameters (in two groups with different lr) and a fixed stream of gradients."""
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    grads = [[rng.standard_normal(s.shape) for s in start] for _ in range(12)]
    return start, grads


def build(case, start):
    params = [nn.Parameter(s.copy()) for s in start]
    groups = [{"params": [params[0]]}, {"params": [params[1]], "lr": 0.02}]
    return params, make(case, groups)


def run(params, optimizer, grads):
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.copy()
        optimizer.step()


def to_archive(state_dict, path):
    """Flatten a state dict into an .npz archive (arrays only, no pickle)."""
    arrays = {}
    for index, entries in state_dict["state"].items():
        for key, value in entries.items():
            arrays[f"state/{index}/{key}"] = np.asarray(value)
    for g, group in enumerate(state_dict["param_groups"]):
        for key, value in group.items():
            arrays[f"param_groups/{g}/{key}"] = np.asarray(value)
    np.savez(path, **arrays)


def from_archive(path):
    """The nested dict back from `to_archive`'s file; leaves stay numpy arrays."""
    state, groups = {}, {}
    with np.load(path, allow_pickle=False) as archive:
        for name in archive.files:
            kind, number, key = name.split("/")
            target = state if kind == "state" else groups
            target.setdefault(int(number), {})[key] = archive[name]
    return {"state": state, "param_groups": [groups[g] for g in sorted(groups)]}


@pytest.mark.parametrize("case", sorted(ALL))
def test_save_load_and_continue_is_the_same_as_not_stopping(case, tmp_path):
    start, grads = model_and_grads()
    straight_params, straight = build(case, start)
    run(straight_params, straight, grads)

    params, optimizer = build(case, start)
    run(params, optimizer, grads[:5])
    to_archive(optimizer.state_dict(), tmp_path / "optimizer.npz")
    values = [p.data.copy() for p in params]
    del optimizer

    resumed_params = [nn.Parameter(v) for v in values]
    _, fresh = build(case, start)  # another optimizer with the same groups and options
    resumed = make(case, [{"params": [resumed_params[0]]}, {"params": [resumed_params[1]]}])
    resumed.load_state_dict(from_archive(tmp_path / "optimizer.npz"))
    assert resumed.param_groups[1]["lr"] == 0.02  # the groups' options came from the file
    assert resumed.param_groups[0] == {**fresh.param_groups[0], "params": [resumed_params[0]]}
    run(resumed_params, resumed, grads[5:])
    for p, q in zip(resumed_params, straight_params):
        np.testing.assert_array_equal(p.data, q.data)


def test_state_dict_layout_is_pytorchs_and_holds_copies():
    start, grads = model_and_grads()
    params, optimizer = build("Adam", start)
    run(params, optimizer, grads[:2])
    saved = optimizer.state_dict()
    assert sorted(saved) == ["param_groups", "state"]
    assert sorted(saved["state"]) == [0, 1]
    assert sorted(saved["state"][1]) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step"]
    assert saved["state"][1]["step"] == 2 and type(saved["state"][1]["step"]) is int
    assert [g["params"] for g in saved["param_groups"]] == [[0], [1]]
    assert saved["param_groups"][1]["lr"] == 0.02 and saved["param_groups"][0]["betas"] == (
        0.9,
        0.999,
    )
    saved["state"][0]["exp_avg"][...] = 123.0
    assert not np.any(optimizer.state[id(params[0])]["exp_avg"] == 123.0)


def test_adagrad_has_state_before_its_first_step_like_pytorch():
    p = nn.Parameter(np.zeros(3))
    saved = optim.Adagrad([p], initial_accumulator_value=0.5).state_dict()
    assert saved["state"][0]["step"] == 0
    np.testing.assert_array_equal(saved["state"][0]["sum"], np.full(3, 0.5))


def snapshot(optimizer):
    """Everything an optimizer holds, as plain nested values, for comparing before and after."""
    saved = optimizer.state_dict()
    return repr(
        {
            "state": {
                i: {k: np.asarray(v).tolist() for k, v in e.items()}
                for i, e in saved["state"].items()
            },
            "groups": saved["param_groups"],
        }
    )


def corrupt(saved, change):
    """A deep-enough copy of `saved` with `change` applied to it."""
    copy = {
        "state": {i: dict(e) for i, e in saved["state"].items()},
        "param_groups": [dict(g) for g in saved["param_groups"]],
    }
    change(copy)
    return copy


BAD = [
    ("an unknown top-level key", lambda s: s.update(extra=1), "expected a dict with keys"),
    ("a group too few", lambda s: s["param_groups"].pop(), "has 2 parameter group"),
    (
        "a parameter too many",
        lambda s: s["param_groups"][1].update(params=[1, 2]),
        r"param_groups\[1\] has 2 parameter\(s\), the optimizer's group has 1",
    ),
    (
        "a missing option",
        lambda s: s["param_groups"][0].pop("amsgrad"),
        r"param_groups\[0\] lacks the option\(s\) \['amsgrad'\]",
    ),
    (
        "a bad option",
        lambda s: s["param_groups"][1].update(lr=-1.0),
        r"param_groups\[1\]: Adam: lr must be >= 0 \(Invalid learning rate: -1.0\)",
    ),
    (
        "a beta of the wrong kind",
        lambda s: s["param_groups"][0].update(betas=(0.9,)),
        r"param_groups\[0\]\['betas'\] = \(0.9,\) is not like",
    ),
    (
        "a string for a flag",
        lambda s: s["param_groups"][0].update(amsgrad="yes"),
        r"param_groups\[0\]\['amsgrad'\] = 'yes'",
    ),
    (
        "a wrong shape",
        lambda s: s["state"][1].update(exp_avg=np.zeros(5)),
        r"state\[1\]\['exp_avg'\] has shape \(5,\), its parameter has shape \(4,\)",
    ),
    (
        "a wrong dtype",
        lambda s: s["state"][0].update(exp_avg_sq=np.zeros((3, 2), np.float32)),
        r"state\[0\]\['exp_avg_sq'\] is float32, its parameter is float64",
    ),
    (
        "a NaN",
        lambda s: s["state"][1].update(max_exp_avg_sq=np.full(4, np.nan)),
        r"state\[1\]\['max_exp_avg_sq'\] has non-finite values",
    ),
    (
        "a missing moment",
        lambda s: s["state"][1].pop("max_exp_avg_sq"),
        r"state\[1\] has the keys \['exp_avg', 'exp_avg_sq', 'step'\], expected",
    ),
    (
        "a fractional step",
        lambda s: s["state"][0].update(step=2.5),
        r"state\[0\]\['step'\] must be a whole number >= 0, got 2.5",
    ),
    (
        "a list for an array",
        lambda s: s["state"][1].update(exp_avg=[0.0] * 4),
        r"state\[1\]\['exp_avg'\] must be a numpy array, got list",
    ),
    ("state for no parameter", lambda s: s["state"].update({7: {}}), r"state\[7\] is for no"),
    (
        "a repeated index",
        lambda s: s["param_groups"][1].update(params=[0]),
        r"param_groups\[1\]: parameter index 0 is not a whole number, or is repeated",
    ),
    (
        "a name for an index",
        lambda s: s["param_groups"][0].update(params=["weight"]),
        r"param_groups\[0\]: parameter index 'weight' is not a whole number",
    ),
]


@pytest.mark.parametrize(("what", "change", "message"), BAD, ids=[b[0] for b in BAD])
def test_a_failed_load_names_the_problem_and_changes_nothing(what, change, message):
    start, grads = model_and_grads()
    params, source = build("Adam", start)
    run(params, source, grads[:3])
    bad = corrupt(source.state_dict(), change)

    target_params, target = build("Adam", start)
    run(target_params, target, grads[:1])
    target.param_groups[0]["lr"] = 0.07  # differs from the file, so a partial load would show
    before = snapshot(target)
    with pytest.raises(ValueError, match=message) as error:
        target.load_state_dict(bad)
    assert "Adam.load_state_dict: nothing was loaded" in str(error.value)
    assert snapshot(target) == before


def test_a_load_reports_every_problem_at_once():
    start, grads = model_and_grads()
    params, optimizer = build("Adam", start)
    run(params, optimizer, grads[:1])
    bad = corrupt(
        optimizer.state_dict(),
        lambda s: (s["state"][0].update(exp_avg=np.zeros(2)), s["param_groups"][1].update(eps=-1)),
    )
    with pytest.raises(ValueError, match=r"(?s)Invalid epsilon value: -1.*state\[0\]\['exp_avg'\]"):
        optimizer.load_state_dict(bad)


# --- Schedules ------------------------------------------------------------------------------


def sgd_with_two_groups():
    a, b = nn.Parameter([1.0]), nn.Parameter([2.0])
    return optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.1, momentum=0.9)


SCHEDULES = {
    "StepLR": lambda o: optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5),
    "ExponentialLR": lambda o: optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda o: optim.lr_scheduler.CosineAnnealingLR(o, T_max=4),
    "LambdaLR": lambda o: optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + e)),
    "OneCycleLR": lambda o: optim.lr_scheduler.OneCycleLR(o, max_lr=1.0, total_steps=12),
    "ReduceLROnPlateau": lambda o: optim.lr_scheduler.ReduceLROnPlateau(o, patience=1),
}


def advance(schedule, steps, metric=1.0):
    if isinstance(schedule, optim.lr_scheduler.ReduceLROnPlateau):
        for _ in range(steps):
            schedule.step(metric)
    else:
        for _ in range(steps):
            schedule.step()


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_state_survives_json_and_continues_the_same(name):
    import json

    straight_opt = sgd_with_two_groups()
    straight = SCHEDULES[name](straight_opt)
    advance(straight, 10)

    first_opt = sgd_with_two_groups()
    first = SCHEDULES[name](first_opt)
    advance(first, 4)
    text = json.dumps({"optimizer": first_opt.state_dict(), "schedule": first.state_dict()})
    saved = json.loads(text)  # plain numbers, strings and lists only
    assert "optimizer" not in saved["schedule"] and "lr_lambdas" not in saved["schedule"]

    second_opt = sgd_with_two_groups()
    second = SCHEDULES[name](second_opt)
    groups = saved["optimizer"]["param_groups"]
    second_opt.load_state_dict({"state": {}, "param_groups": groups})
    second.load_state_dict(saved["schedule"])
    advance(second, 6)
    assert second.get_last_lr() == straight.get_last_lr()
    assert [g["lr"] for g in second_opt.param_groups] == straight.get_last_lr()
    assert [g["momentum"] for g in second_opt.param_groups] == [
        g["momentum"] for g in straight_opt.param_groups
    ]


def test_a_failed_schedule_load_names_the_problem_and_changes_nothing():
    schedule = optim.lr_scheduler.StepLR(sgd_with_two_groups(), step_size=3)
    advance(schedule, 2)
    before = schedule.state_dict()
    bad = [
        ({**before, "gamma": "0.5"}, "'gamma' must be a number"),
        ({**before, "base_lrs": [0.1]}, r"'base_lrs' must be a list of 2"),
        ({k: v for k, v in before.items() if k != "step_size"}, r"missing keys \['step_size'\]"),
        ({**before, "extra": 1, "last_epoch": 0}, r"unexpected keys \['extra'\]"),
    ]
    for state, message in bad:
        with pytest.raises(ValueError, match="StepLR.load_state_dict: nothing was loaded") as e:
            schedule.load_state_dict(state)
        assert re.search(message, str(e.value))
        assert schedule.state_dict() == before


def test_schedule_arguments_are_checked_with_pytorchs_messages():
    s = optim.lr_scheduler
    opt = sgd_with_two_groups()
    cases = [
        (lambda: s.StepLR("not an optimizer", 3), TypeError, "str is not an Optimizer"),
        (lambda: s.StepLR(opt, 0), ValueError, "step_size must be a positive integer"),
        (lambda: s.CosineAnnealingLR(opt, T_max=0), ValueError, "T_max must be > 0"),
        (lambda: s.LambdaLR(opt, [lambda e: 1.0]), ValueError, "Expected 2 lr_lambdas, but got 1"),
        (lambda: s.ReduceLROnPlateau(opt, factor=1.0), ValueError, "Factor should be < 1.0"),
        (lambda: s.ReduceLROnPlateau(opt, mode="up"), ValueError, "mode up is unknown!"),
        (lambda: s.ReduceLROnPlateau(opt, min_lr=[0.0]), ValueError, "expected 2 min_lrs, got 1"),
        (
            lambda: s.OneCycleLR(opt, max_lr=1.0),
            ValueError,
            "You must define either total_steps OR",
        ),
        (
            lambda: s.OneCycleLR(opt, max_lr=1.0, total_steps=0),
            ValueError,
            "Expected positive integer total_steps, but got 0",
        ),
        (
            lambda: s.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=1),
            ValueError,
            "Expected float between 0 and 1 pct_start, but got 1",
        ),
        (
            lambda: s.OneCycleLR(opt, max_lr=1.0, total_steps=10, anneal_strategy="cosine"),
            ValueError,
            "anneal_strategy must be one of 'cos' or 'linear'",
        ),
        (
            lambda: s.OneCycleLR(optim.Adagrad([nn.Parameter([1.0])]), 1.0, total_steps=10),
            ValueError,
            "optimizer must support momentum or beta1",
        ),
        (
            lambda: s.StepLR(optim.SGD([nn.Parameter([1.0])]), 3, last_epoch=5),
            KeyError,
            "param 'initial_lr' is not specified in param_groups\\[0\\]",
        ),
    ]
    for build_it, kind, message in cases:
        with pytest.raises(kind, match=message):
            build_it()


def test_one_cycle_refuses_to_step_past_its_total():
    schedule = optim.lr_scheduler.OneCycleLR(sgd_with_two_groups(), max_lr=1.0, total_steps=5)
    advance(schedule, 5)
    with pytest.raises(ValueError, match="Tried to step 6 times. The specified number of total"):
        schedule.step()


def test_step_lr_halves_on_schedule():
    opt = sgd_with_two_groups()
    schedule = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    rates = [schedule.get_last_lr()]
    for _ in range(5):
        schedule.step()
        rates.append(schedule.get_last_lr())
    assert [r[0] for r in rates] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert opt.param_groups[1]["initial_lr"] == 0.01


def test_reduce_on_plateau_takes_a_tensor_and_covers_groups_added_later():
    opt = sgd_with_two_groups()
    schedule = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, min_lr=0.004)
    schedule.step(mg.Tensor(1.0))
    opt.add_param_group({"params": [nn.Parameter([0.0])], "lr": 0.005})
    schedule.step(mg.Tensor(2.0))  # worse: every group is reduced, none below min_lr
    assert schedule.get_last_lr() == pytest.approx([0.01, 0.004, 0.004], rel=1e-15)
    fixed = optim.lr_scheduler.ReduceLROnPlateau(
        sgd_with_two_groups(), factor=0.5, patience=0, min_lr=[0.0, 0.0]
    )
    fixed.optimizer.add_param_group({"params": [nn.Parameter([0.0])]})
    fixed.step(1.0)
    with pytest.raises(ValueError, match="the optimizer has 3 parameter groups but min_lr gave 2"):
        fixed.step(2.0)
