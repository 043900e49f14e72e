"""Optimizers and schedules against PyTorch: 200 steps on the same gradients, float64, 1e-12.

Every optimizer runs with PyTorch's defaults, with each non-default option, and with two
parameter groups of different lr; every schedule is driven the same way as PyTorch's and its
`get_last_lr()` compared at each step. PyTorch is only the oracle here.
"""

import math
import zlib

import numpy as np
import pytest
from oracles import require

from minigrad import nn, optim
from minigrad.optim import lr_scheduler

torch = require("torch")

STEPS = 200


def seed_of(*args):
    """A seed that depends on the test's parameters (and not on Python's hash randomisation)."""
    return zlib.crc32(repr(args).encode())


def close(ours, theirs, message=""):
    """Equal to 1e-12 relative to the array's largest entry.

    Relative to each entry would fail only where a coordinate happens to pass near zero: there
    one rounding difference (PyTorch's kernels fuse multiply-adds, numpy does not) is a large
    fraction of a tiny number, though it is 1e-15 of the parameter's scale.
    """
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12 * scale, err_msg=message)


def make_groups(params, group_options):
    """The params as one list, or as one group per param with the given per-group options."""
    if group_options is None:
        return list(params)
    return [{"params": [p], **options} for p, options in zip(params, group_options)]


def run_both(name, options, group_options=None, steps=STEPS):
    """Step our optimizer `name` and PyTorch's on the same gradients, comparing every step.

    Every seventh step the second parameter gets no gradient (both must skip it).
    """
    rng = np.random.default_rng(seed_of(name, options, group_options))
    start = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    ours = [nn.Parameter(s) for s in start]
    theirs = [torch.nn.Parameter(torch.tensor(s)) for s in start]
    opt_ours = getattr(optim, name)(make_groups(ours, group_options), **options)
    opt_theirs = getattr(torch.optim, name)(
        make_groups(theirs, group_options), foreach=False, **options
    )
    for step in range(steps):
        for i, (p, q) in enumerate(zip(ours, theirs)):
            if i == 1 and step % 7 == 3:
                p.grad = q.grad = None
            else:
                g = rng.standard_normal(p.shape) + 0.5 * p.data  # a pull towards zero, plus noise
                p.grad, q.grad = g, torch.tensor(g)
        opt_ours.step()
        opt_theirs.step()
        for p, q in zip(ours, theirs):
            close(p.data, q.detach().numpy(), f"step {step}")
    return opt_ours, opt_theirs


CASES = [
    ("SGD", {}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.02}),
    ("SGD", {"lr": 0.01, "momentum": 0.5, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.05}),
    ("Adam", {"lr": 0.02, "amsgrad": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01, "decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "maximize": True, "amsgrad": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.03, "betas": (0.7, 0.9), "eps": 1e-5, "weight_decay": 0.2}),
    ("AdamW", {"lr": 0.01, "amsgrad": True, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.005, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.005, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.001, "centered": True}),
    ("RMSprop", {"lr": 0.001, "centered": True, "momentum": 0.5, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.05}),
    ("Adagrad", {"lr": 0.05, "initial_accumulator_value": 0.5, "eps": 1e-6, "maximize": True}),
]


@pytest.mark.parametrize(("name", "options"), CASES, ids=lambda x: str(x))
def test_optimizer_matches_pytorch_for_200_steps(name, options):
    run_both(name, options)


TWO_GROUPS = {
    "SGD": [{"lr": 0.05, "momentum": 0.9}, {"lr": 0.01, "nesterov": True}],
    "Adam": [{"lr": 0.02}, {"lr": 0.005, "amsgrad": True}],
    "AdamW": [{"lr": 0.02}, {"lr": 0.002, "weight_decay": 0.5}],
    "RMSprop": [{"lr": 0.01}, {"lr": 0.001, "centered": True}],
    "Adagrad": [{"lr": 0.1}, {"lr": 0.02, "lr_decay": 0.1}],
}


@pytest.mark.parametrize("name", sorted(TWO_GROUPS))
def test_two_parameter_groups_with_different_lr_match_pytorch(name):
    options = {"momentum": 0.5} if name == "SGD" else {}
    run_both(name, options, TWO_GROUPS[name])


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_state_dict_matches_pytorchs_layout_and_values(name):
    options = {"lr": 0.01, "momentum": 0.9} if name in ("SGD", "RMSprop") else {}
    ours, theirs = run_both(name, options, [{}, {"lr": 0.02}], steps=10)
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert sorted(mine["state"]) == sorted(reference["state"]) == [0, 1]
    for index, entries in reference["state"].items():
        assert sorted(mine["state"][index]) == sorted(entries)
        for key, value in entries.items():
            np.testing.assert_allclose(mine["state"][index][key], value.numpy(), rtol=1e-12)
    for group, expected in zip(mine["param_groups"], reference["param_groups"]):
        assert group["params"] == expected["params"]
        for key, value in group.items():
            assert expected[key] == value, key


def test_default_arguments_match_pytorch():
    import inspect

    for name in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]:
        ours = inspect.signature(getattr(optim, name)).parameters
        theirs = inspect.signature(getattr(torch.optim, name)).parameters
        for key, parameter in ours.items():
            assert key in theirs, f"{name}: {key}"
            assert parameter.default == theirs[key].default, f"{name}: {key}"


# --- Schedules ------------------------------------------------------------------------------


def schedule_pair(make, optimizer_name="SGD", steps=STEPS, metrics=None):
    """Drive our schedule and PyTorch's the same way; compare lrs (and momenta) at each step."""
    params = [nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(3))]
    tensors = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)) for _ in range(2)]
    groups = [{"lr": 0.1}, {"lr": 0.02}]
    kwargs = {"momentum": 0.9} if optimizer_name == "SGD" else {}
    opt_ours = getattr(optim, optimizer_name)(
        [{"params": [p], **g} for p, g in zip(params, groups)], **kwargs
    )
    opt_theirs = getattr(torch.optim, optimizer_name)(
        [{"params": [p], **g} for p, g in zip(tensors, groups)], **kwargs
    )
    ours, theirs = make(lr_scheduler, opt_ours), make(torch.optim.lr_scheduler, opt_theirs)

    def compare(step):
        np.testing.assert_allclose(
            ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12, atol=0, err_msg=f"step {step}"
        )
        for mine, reference in zip(opt_ours.param_groups, opt_theirs.param_groups):
            for key in ("lr", "momentum", "betas"):
                if key in reference:
                    np.testing.assert_allclose(mine[key], reference[key], rtol=1e-12, atol=0)

    compare(-1)
    seen = set()
    for step in range(steps):
        opt_ours.step()
        opt_theirs.step()
        if metrics is None:
            ours.step()
            theirs.step()
        else:
            ours.step(metrics[step])
            theirs.step(metrics[step])
        compare(step)
        seen.add(tuple(ours.get_last_lr()))
    assert len(seen) > 2  # the schedule did change the rates
    return ours, theirs


SCHEDULES = {
    "StepLR": lambda s, o: s.StepLR(o, step_size=30, gamma=0.5),
    "StepLR-default-gamma": lambda s, o: s.StepLR(o, 7),
    "ExponentialLR": lambda s, o: s.ExponentialLR(o, gamma=0.97),
    "CosineAnnealingLR": lambda s, o: s.CosineAnnealingLR(o, T_max=50),
    "CosineAnnealingLR-eta_min": lambda s, o: s.CosineAnnealingLR(o, T_max=37, eta_min=0.005),
    "LambdaLR": lambda s, o: s.LambdaLR(o, lambda e: 0.99**e),
    "LambdaLR-per-group": lambda s, o: s.LambdaLR(
        o, [lambda e: 1 / (1 + 0.1 * e), lambda e: math.cos(e / 40) ** 2]
    ),
    "OneCycleLR-cos": lambda s, o: s.OneCycleLR(o, max_lr=[1.0, 0.3], total_steps=STEPS),
    "OneCycleLR-linear": lambda s, o: s.OneCycleLR(
        o, max_lr=0.5, total_steps=STEPS, anneal_strategy="linear", pct_start=0.25
    ),
    "OneCycleLR-three-phase": lambda s, o: s.OneCycleLR(
        o,
        max_lr=0.5,
        epochs=10,
        steps_per_epoch=20,
        three_phase=True,
        div_factor=10.0,
        final_div_factor=100.0,
        base_momentum=0.8,
        max_momentum=[0.9, 0.99],
    ),  # fmt: skip
    "OneCycleLR-no-momentum": lambda s, o: s.OneCycleLR(
        o, max_lr=0.5, total_steps=STEPS, anneal_strategy="linear", cycle_momentum=False
    ),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_matches_pytorch_for_200_steps(name):
    schedule_pair(SCHEDULES[name])


@pytest.mark.parametrize("anneal_strategy", ["cos", "linear"])
def test_one_cycle_cycles_adams_beta1_like_pytorch(anneal_strategy):
    make = lambda s, o: s.OneCycleLR(  # noqa: E731
        o, max_lr=0.01, total_steps=STEPS, anneal_strategy=anneal_strategy
    )
    schedule_pair(make, optimizer_name="Adam")


def plateau_metrics(seed):
    """A loss that falls, then wanders on plateaus: something for the scheduler to react to."""
    rng = np.random.default_rng(seed)
    trend = np.concatenate([np.linspace(1.0, 0.5, 60), np.full(140, 0.5)])
    return (trend + 0.02 * rng.standard_normal(STEPS) + 0.1 * (np.arange(STEPS) % 50 > 40)).tolist()


PLATEAUS = [
    {},
    {"patience": 3},
    {"mode": "max", "patience": 2, "factor": 0.5, "threshold": 0.01},
    {"threshold_mode": "abs", "threshold": 0.005, "patience": 4, "cooldown": 5},
    {"patience": 1, "factor": 0.3, "min_lr": [0.01, 0.001], "eps": 1e-3},
    {"patience": 0, "factor": 0.5, "min_lr": 1e-4},
]


@pytest.mark.parametrize("options", PLATEAUS, ids=lambda o: str(o))
def test_reduce_on_plateau_matches_pytorch_on_a_metric_sequence(options):
    metrics = plateau_metrics(seed_of(options))
    if options.get("mode") == "max":
        metrics = [-m for m in metrics]
    schedule_pair(lambda s, o: s.ReduceLROnPlateau(o, **options), metrics=metrics)


def test_schedule_state_dicts_hold_pytorchs_numbers():
    ours, theirs = schedule_pair(SCHEDULES["CosineAnnealingLR"], steps=20)
    mine, reference = ours.state_dict(), theirs.state_dict()
    for key in ("T_max", "eta_min", "base_lrs", "last_epoch", "_step_count", "_last_lr"):
        assert mine[key] == reference[key], key


BAD_ARGUMENTS = [
    ("SGD", {"lr": -1}),
    ("SGD", {"lr": 0.1, "momentum": -0.5}),
    ("SGD", {"lr": 0.1, "weight_decay": -1e-3}),
    ("SGD", {"lr": 0.1, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}),
    ("Adam", {"lr": -0.5}),
    ("Adam", {"eps": -1e-8}),
    ("Adam", {"betas": (1.0, 0.999)}),
    ("Adam", {"betas": (0.9, -0.1)}),
    ("Adam", {"weight_decay": -1.0}),
    ("AdamW", {"betas": (0.9, 1.5)}),
    ("RMSprop", {"alpha": -0.1}),
    ("RMSprop", {"momentum": -1.0}),
    ("RMSprop", {"eps": -1.0}),
    ("Adagrad", {"lr_decay": -0.1}),
    ("Adagrad", {"initial_accumulator_value": -1.0}),
    ("Adagrad", {"eps": -1.0}),
]


@pytest.mark.parametrize(("name", "options"), BAD_ARGUMENTS, ids=lambda x: str(x))
def test_bad_arguments_raise_pytorchs_error(name, options):
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([torch.nn.Parameter(torch.zeros(2))], **options)
    with pytest.raises(ValueError) as ours:
        getattr(optim, name)([nn.Parameter(np.zeros(2))], **options)
    assert str(theirs.value) in str(ours.value)
    assert str(ours.value).startswith(f"{name}: ")


@pytest.mark.parametrize(("name", "options"), [c for c in CASES if c[1]], ids=lambda x: str(x))
def test_a_pytorch_checkpoint_loads_and_continues_the_same(name, options):
    """PyTorch's state_dict, as numpy (its step counts are float tensors), minus its own keys."""
    _, theirs = run_both(name, options, [{}, {"lr": 0.003}], steps=5)
    saved = theirs.state_dict()
    fresh = [
        nn.Parameter(q.detach().numpy().copy()) for g in theirs.param_groups for q in g["params"]
    ]
    ours = getattr(optim, name)([{"params": [fresh[0]]}, {"params": [fresh[1]]}], **options)
    ours.load_state_dict(
        {
            "state": {i: {k: v.numpy() for k, v in e.items()} for i, e in saved["state"].items()},
            "param_groups": [
                {k: v for k, v in g.items() if k in ours.defaults or k == "params"}
                for g in saved["param_groups"]
            ],
        }
    )
    tensors = [q for g in theirs.param_groups for q in g["params"]]
    rng = np.random.default_rng(1)
    for step in range(5):
        for p, q in zip(fresh, tensors):
            g = rng.standard_normal(p.shape)
            p.grad, q.grad = g, torch.tensor(g)
        ours.step()
        theirs.step()
        for p, q in zip(fresh, tensors):
            close(p.data, q.detach().numpy(), f"step {step}")
