"""Module's PyTorch surface: buffers, registration, hooks, bulk changes, containers, reprs."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


class WithBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 3, rng=0)
        self.register_buffer("running", np.arange(3.0))
        self.register_buffer("scratch", np.zeros(2), persistent=False)
        self.register_parameter("scale", nn.Parameter(np.ones(3)))
        self.register_parameter("absent", None)

    def forward(self, x):
        return self.layer(x) * self.scale + self.running


# --- Buffers and registration -------------------------------------------------------------------


def test_buffers_are_state_but_not_parameters():
    model = WithBuffers()
    assert [name for name, _ in model.named_parameters()] == ["scale", "layer.weight", "layer.bias"]
    assert [name for name, _ in model.named_buffers()] == ["running", "scratch"]
    assert isinstance(model.running, mg.Tensor) and not model.running.requires_grad
    # PyTorch's order: a module's own parameters, then its own persistent buffers, then children
    assert list(model.state_dict()) == ["scale", "running", "layer.weight", "layer.bias"]
    np.testing.assert_array_equal(model.state_dict()["running"], [0.0, 1.0, 2.0])
    model.state_dict()["running"][:] = 9  # a copy
    np.testing.assert_array_equal(model.running.data, [0.0, 1.0, 2.0])
    model.running = np.full(3, 5.0)  # assigning to a buffer name keeps it a buffer
    assert "running" in dict(model.named_buffers()) and model.running.data[0] == 5.0
    model.scratch = None
    assert [name for name, _ in model.named_buffers()] == ["running"]
    with pytest.raises(TypeError, match="WithBuffers: cannot use a str as the buffer 'running'"):
        model.running = "five"
    del model.running
    assert "running" not in model.state_dict()


def test_buffers_of_submodules_have_dotted_names_and_recurse_flags():
    outer = nn.Module()
    outer.inner = WithBuffers()
    assert [n for n, _ in outer.named_buffers()] == ["inner.running", "inner.scratch"]
    assert list(outer.buffers(recurse=False)) == []
    assert list(outer.parameters(recurse=False)) == []
    assert len(list(outer.inner.parameters(recurse=False))) == 1  # scale only
    assert [n for n, _ in outer.named_parameters(prefix="m")][0] == "m.inner.scale"


def test_register_and_add_module_check_names():
    model = WithBuffers()
    with pytest.raises(KeyError, match="attribute 'layer' already exists"):
        model.register_buffer("layer", np.zeros(1))
    with pytest.raises(KeyError, match="attribute 'running' already exists"):
        model.register_parameter("running", None)
    with pytest.raises(KeyError, match="contain no '.'"):
        model.add_module("a.b", nn.Linear(1, 1))
    with pytest.raises(KeyError, match="non-empty"):
        model.register_buffer("", np.zeros(1))
    with pytest.raises(TypeError, match="must be a string"):
        model.add_module(3, nn.Linear(1, 1))
    with pytest.raises(TypeError, match="'weight' must be a Parameter or None, got a Tensor"):
        model.register_parameter("weight", mg.Tensor([1.0]))
    with pytest.raises(TypeError, match="'head' must be a Module or None, got a int"):
        model.add_module("head", 3)
    model.add_module("head", nn.Linear(3, 1))
    assert [name for name, _ in model.named_children()] == ["layer", "head"]
    model.register_buffer("running", np.ones(3))  # re-registering a buffer replaces it
    np.testing.assert_array_equal(model.running.data, np.ones(3))


def test_plain_lists_of_modules_are_refused_with_the_fix():
    class Stack(nn.Module):
        def __init__(self, layers):
            super().__init__()
            self.layers = layers

    with pytest.raises(
        TypeError, match=r"Stack: 'layers' is a plain list of modules.*nn.ModuleList"
    ):
        Stack([nn.Linear(2, 2), nn.Linear(2, 2)])
    with pytest.raises(TypeError, match=r"plain dict of modules.*nn.ModuleDict"):
        Stack({"a": nn.Linear(2, 2)})
    with pytest.raises(TypeError, match=r"plain tuple of parameters.*nn.ParameterList"):
        Stack((nn.Parameter(np.ones(2)),))
    with pytest.raises(TypeError, match=r"plain dict of parameters.*register_parameter"):
        Stack({"w": nn.Parameter(np.ones(2))})
    assert len(list(Stack(nn.ModuleList([nn.Linear(2, 2)] * 2)).parameters())) == 2
    assert Stack([1, 2]).layers == [1, 2]  # lists of anything else are ordinary attributes


# --- Bulk changes -------------------------------------------------------------------------------


def test_apply_visits_children_first_then_self():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Tanh()))
    seen = []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == ["Linear", "ReLU", "Tanh", "Sequential", "Sequential"]


def test_requires_grad_freezes_and_unfreezes():
    model = WithBuffers()
    assert model.requires_grad_(False) is model
    assert not any(p.requires_grad for p in model.parameters())
    out = model(np.ones((1, 2)))
    assert not out.requires_grad  # nothing to differentiate
    model.layer.requires_grad_()
    model(np.ones((1, 2))).sum().backward()
    assert model.layer.weight.grad is not None and model.scale.grad is None


def test_zero_grad_to_none_or_to_zeros():
    model = WithBuffers()
    model(np.ones((2, 2))).sum().backward()
    model.zero_grad(set_to_none=False)
    for p in model.parameters():
        assert p.grad is not None and p.grad.shape == p.shape and not p.grad.any()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.zero_grad(set_to_none=False)  # a gradient that was None stays None, as PyTorch
    assert all(p.grad is None for p in model.parameters())


def test_float_and_double_cast_parameters_grads_and_buffers():
    model = WithBuffers()
    model(np.ones((1, 2))).sum().backward()
    before = model.state_dict()
    assert model.float() is model
    tensors = [*model.parameters(), *model.buffers()]
    assert all(t.dtype == np.float32 for t in tensors)
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
    out = model(mg.Tensor(np.ones((1, 2)), dtype=np.float32))  # the layers now take float32
    assert out.dtype == np.float32
    model.double()
    assert all(t.dtype == np.float64 for t in [*model.parameters(), *model.buffers()])
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(value, before[name], rtol=1e-7)


# --- Hooks --------------------------------------------------------------------------------------


def test_forward_hooks_see_and_may_replace_inputs_and_outputs():
    layer = nn.Linear(2, 2, rng=0)
    calls = []
    pre = layer.register_forward_pre_hook(lambda m, args: calls.append(("pre", args[0].shape)))
    post = layer.register_forward_hook(lambda m, args, out: calls.append(("post", out.shape)))
    layer(np.ones((3, 2)))
    assert calls == [("pre", (3, 2)), ("post", (3, 2))]
    pre.remove()
    post.remove()
    post.remove()  # a second remove does nothing
    layer(np.ones((1, 2)))
    assert len(calls) == 2

    doubled = layer.register_forward_pre_hook(lambda m, args: args[0] * 2)  # a bare value
    negated = layer.register_forward_hook(lambda m, args, out: -out)
    x = mg.Tensor(np.ones((1, 2)))
    expected = -(2 * x.data @ layer.weight.data.T + layer.bias.data)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-15)
    doubled.remove()
    with negated:  # a handle is a context manager that removes its hook
        pass
    np.testing.assert_allclose(layer(x).data, x.data @ layer.weight.data.T + layer.bias.data)


def test_hook_order_prepend_and_kwargs():
    class Scaled(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    module, order = Scaled(), []
    module.register_forward_hook(lambda m, a, o: order.append("first"))
    module.register_forward_hook(lambda m, a, o: order.append("zeroth"), prepend=True)
    module.register_forward_pre_hook(
        lambda m, args, kwargs: (args, {**kwargs, "scale": 3.0}), with_kwargs=True
    )
    seen = []
    module.register_forward_hook(lambda m, a, k, o: seen.append(k), with_kwargs=True)
    assert module(mg.Tensor([2.0]), scale=0.5).item() == 6.0
    assert order == ["zeroth", "first"] and seen == [{"scale": 3.0}]
    module.register_forward_pre_hook(lambda m, a, k: "wrong", with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"must return None or a tuple \(args, kwargs\)"):
        module(mg.Tensor([1.0]))


# --- Containers ---------------------------------------------------------------------------------


def test_sequential_runs_in_order_and_indexes_like_pytorch():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 2, rng=1))
    x = np.random.default_rng(0).standard_normal((5, 3))
    hidden = np.maximum(x @ model[0].weight.data.T + model[0].bias.data, 0)
    expected = hidden @ model[2].weight.data.T + model[2].bias.data
    np.testing.assert_allclose(model(x).data, expected, rtol=1e-13)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(model) == 3 and isinstance(model[-1], nn.Linear)
    assert isinstance(model[1:], nn.Sequential) and list(model[1:]._modules) == ["1", "2"]
    with pytest.raises(IndexError, match="Sequential: index 3 is out of range for 3"):
        model[3]  # noqa: B018
    del model[1]
    assert list(model._modules) == ["0", "1"]  # renumbered, as PyTorch
    model.append(nn.Tanh()).insert(0, nn.Identity())
    assert [type(m).__name__ for m in model] == ["Identity", "Linear", "Linear", "Tanh"]
    named = nn.Sequential({"embed": nn.Embedding(3, 2), "act": nn.Tanh()})
    assert [n for n, _ in named.named_parameters()] == ["embed.weight"]
    assert named([0, 2]).shape == (2, 2)
    with pytest.raises(TypeError, match="Sequential: can only hold Modules, got a ufunc"):
        nn.Sequential(np.tanh)


def test_module_list_and_dict_register_their_modules():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(list(layers.parameters())) == 6 and len(layers) == 3
    layers += [nn.ReLU()]
    layers[0] = nn.Linear(2, 5)
    assert layers[0].out_features == 5 and isinstance(layers[-1], nn.ReLU)
    assert isinstance(layers[:2], nn.ModuleList) and len(layers[:2]) == 2
    assert isinstance(layers.pop(), nn.ReLU) and len(layers) == 3
    with pytest.raises(NotImplementedError, match="ModuleList must define forward"):
        layers(1)
    heads = nn.ModuleDict({"a": nn.Linear(1, 2)})
    heads["b"] = nn.Linear(2, 1)
    heads.update([("c", nn.Tanh())])
    assert list(heads) == ["a", "b", "c"] and "b" in heads and len(heads) == 3
    assert [n for n, _ in heads.named_parameters()][:2] == ["a.weight", "a.bias"]
    assert isinstance(heads.pop("c"), nn.Tanh) and list(heads.keys()) == ["a", "b"]
    del heads["a"]
    assert [n for n, _ in heads.named_parameters()] == ["b.weight", "b.bias"]


def test_parameter_list_wraps_and_registers():
    params = nn.ParameterList([np.zeros((3, 2)), mg.Tensor([1.0])])
    params.append(nn.Parameter(np.ones(2)))
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params)
    assert [n for n, _ in params.named_parameters()] == ["0", "1", "2"]
    assert params[-1].shape == (2,) and len(params[1:]) == 2
    holder = nn.Module()
    holder.params = params
    assert [n for n, _ in holder.named_parameters()] == ["params.0", "params.1", "params.2"]
    assert repr(params).splitlines()[1] == "    (0): Parameter containing: [float64 of size 3x2]"


def test_state_dict_prefix_and_keep_vars():
    model = WithBuffers()
    live = model.state_dict(keep_vars=True)
    assert live["running"] is model.running and live["layer.weight"] is model.layer.weight
    assert list(model.state_dict(prefix="net")) == [
        "net.scale",
        "net.running",
        "net.layer.weight",
        "net.layer.bias",
    ]


def test_buffers_round_trip_through_load_state_dict_and_files(tmp_path):
    source, target = WithBuffers(), WithBuffers()
    source.running = np.array([7.0, 8.0, 9.0])
    source.scratch = np.full(2, 5.0)  # not persistent: neither saved nor loaded
    target.load_state_dict(source.state_dict())
    np.testing.assert_array_equal(target.running.data, [7.0, 8.0, 9.0])
    np.testing.assert_array_equal(target.scratch.data, np.zeros(2))
    source.running = np.array([1.0, 2.0, 4.0])
    source.save(tmp_path / "model.npz")
    target.load(tmp_path / "model.npz")
    np.testing.assert_array_equal(target.running.data, [1.0, 2.0, 4.0])
    with np.load(tmp_path / "model.npz") as archive:
        assert sorted(archive.files) == sorted(["scale", "running", "layer.weight", "layer.bias"])
    with pytest.raises(RuntimeError, match=r"missing key 'running'"):
        target.load_state_dict({k: v for k, v in source.state_dict().items() if k != "running"})
    loss = nn.CrossEntropyLoss(weight=np.ones(3))
    loss.load_state_dict({"weight": np.array([1.0, 2.0, 3.0])})
    np.testing.assert_array_equal(loss.weight.data, [1.0, 2.0, 3.0])
