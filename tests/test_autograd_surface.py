"""The PyTorch autograd surface beyond backward(): tensor hooks, next_functions, backward(inputs=)
and create_graph, grad()'s argument checks, Function ctx marks, once_differentiable, and
minigrad.autograd.functional. Every expected value comes from PyTorch (float64) or a closed form.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import require

import minigrad as mg
from minigrad import debug, engine, nn
from minigrad.autograd import functional as AF
from minigrad.autograd import once_differentiable

torch = require("torch")
TF = torch.autograd.functional


def pair(array):
    """The same values as a minigrad and a torch leaf, both requiring grad."""
    array = np.asarray(array, dtype=np.float64)
    return mg.Tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)


def close(ours, theirs, tol=1e-12):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    ours = ours.data if isinstance(ours, mg.Tensor) else np.asarray(ours)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


# --- Tensor.register_hook ------------------------------------------------------------------------


def test_a_leaf_hook_runs_once_on_the_summed_gradient_and_can_replace_it():
    (x, tx), seen, tseen = pair([1.0, 2.0]), [], []
    x.register_hook(lambda g: seen.append(g.data.copy()) or g * 10)
    tx.register_hook(lambda g: tseen.append(g.clone()) or g * 10)
    (x * 2 + x * x).sum().backward()
    (tx * 2 + tx * tx).sum().backward()
    assert len(seen) == len(tseen) == 1
    close(seen[0], tseen[0])
    close(x.grad, tx.grad)


def test_a_non_leaf_hook_replaces_the_gradient_flowing_on_and_retain_grad_sees_the_result():
    (x, tx) = pair([1.0, -2.0, 0.5])
    y, ty = x.tanh(), tx.tanh()
    y.retain_grad(), ty.retain_grad()  # registered before the hook: still sees its result
    y.register_hook(lambda g: g * 3 + 1)
    ty.register_hook(lambda g: g * 3 + 1)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    close(y.grad, ty.grad)
    close(x.grad, tx.grad)


def test_hooks_chain_in_order_and_handles_remove_them():
    (x, tx) = pair([1.0, 2.0])
    for t in (x, tx):
        t.register_hook(lambda g: g * 2)
        t.register_hook(lambda g: g + 1)
        removed = t.register_hook(lambda g: g * 1000)
        removed.remove()
        removed.remove()  # a second remove is harmless, as in PyTorch
    (x * 1).sum().backward()
    (tx * 1).sum().backward()
    close(x.grad, tx.grad)
    np.testing.assert_allclose(x.grad, [3.0, 3.0])
    with x.register_hook(lambda g: g * 0):
        pass  # leaving the block removes the hook
    x.grad = None
    (x * 1).sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 3.0])


def test_a_hook_on_the_output_itself_and_on_one_piece_of_split():
    (x, tx) = pair(np.arange(4.0))
    pieces, tpieces = mg.split(x, 2), tx.split(2)
    pieces[1].register_hook(lambda g: g * -5)
    tpieces[1].register_hook(lambda g: g * -5)
    out, tout = pieces[0] * pieces[1], tpieces[0] * tpieces[1]
    out.register_hook(lambda g: g + 2)
    tout.register_hook(lambda g: g + 2)
    out.backward(np.array([1.0, 3.0]))
    tout.backward(torch.tensor([1.0, 3.0], dtype=torch.float64))
    close(x.grad, tx.grad)


def test_grad_runs_hooks_of_its_inputs_only():
    (x, tx), (w, tw) = pair([1.0, 2.0]), pair([3.0, 4.0])
    calls = []
    for t in (x, tx):
        t.register_hook(lambda g: g * 100)
    for t in (w, tw):
        t.register_hook(lambda g: calls.append(1))
    (gx,) = mg.grad((x * w).sum(), x)
    (tgx,) = torch.autograd.grad((tx * tw).sum(), tx)
    close(gx, tgx)
    assert calls == []


def test_grad_of_a_hooked_non_leaf_is_taken_after_its_hook():
    (x, tx) = pair([1.0, 2.0])
    y, ty = x * 3, tx * 3
    y.register_hook(lambda g: g * 7)
    ty.register_hook(lambda g: g * 7)
    close(mg.grad((y * y).sum(), y)[0], torch.autograd.grad((ty * ty).sum(), ty)[0])


def test_a_hook_under_create_graph_is_differentiated_too():
    (x, tx) = pair([0.3, -1.2])
    for t, lib in ((x, mg), (tx, torch)):
        t.register_hook(lambda g, t=t, lib=lib: g * lib.tanh(t))
    (g,) = mg.grad((x**3).sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad((tx**3).sum(), tx, create_graph=True)
    close(g, tg)
    close(mg.grad(g.sum(), x)[0], torch.autograd.grad(tg.sum(), tx)[0])


def test_a_hook_that_changes_the_shape_raises_naming_both_shapes_and_accumulates_nothing():
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g.sum())
    with pytest.raises(RuntimeError, match=r"shape \(\).*\(2,\)"):
        (x * 2).sum().backward()
    assert x.grad is None


def test_a_hooked_leaf_is_freed_with_what_its_hook_refers_to():
    import gc
    import weakref

    class Model:
        def __init__(self):
            self.p = mg.Tensor([1.0, 2.0], requires_grad=True)
            self.log = []
            self.p.register_hook(lambda g: self.log.append(g))  # a cycle: model -> p -> hook

    model = Model()
    (model.p * 2).sum().backward()
    assert len(model.log) == 1
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None


def test_register_hook_refuses_a_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.Tensor([1.0]).register_hook(lambda g: g)


def test_hooks_watch_the_gradient_reaching_each_hidden_state_of_an_unrolled_lstm():
    rng = np.random.default_rng(0)
    cell, tcell = nn.LSTMCell(3, 4, rng=0), torch.nn.LSTMCell(3, 4).double()
    with torch.no_grad():
        for name, p in cell.named_parameters():
            getattr(tcell, name).copy_(torch.tensor(p.data))
    xs = rng.standard_normal((5, 2, 3))
    h = c = mg.Tensor(np.zeros((2, 4)))
    th = tc = torch.zeros((2, 4), dtype=torch.float64)
    norms, tnorms = [], []
    for x_t in xs:
        h, c = cell(mg.Tensor(x_t), (h, c))
        th, tc = tcell(torch.tensor(x_t), (th, tc))
        h.register_hook(lambda g: norms.append(np.linalg.norm(g.data)))
        th.register_hook(lambda g: tnorms.append(float(g.norm())))
    (h * h).sum().backward()
    (th * th).sum().backward()
    np.testing.assert_allclose(norms, tnorms, rtol=1e-10)
    assert len(norms) == 5


# --- next_functions ------------------------------------------------------------------------------


def position(t, tensors):
    return next(i for i, candidate in enumerate(tensors) if candidate is t)


def walk(fn, is_leaf, leaf_of, name_of):
    """(name, [per position: None, ('leaf', index of the leaf), or (child walk, output)]),
    without trailing Nones: minigrad has one entry per argument of forward (an axis too)."""
    if is_leaf(fn):
        return ("leaf", leaf_of(fn))
    children = [
        None if child is None else (walk(child, is_leaf, leaf_of, name_of), index)
        for child, index in fn.next_functions
    ]
    while children and children[-1] is None:  # minigrad lists forward's non-Tensor arguments too
        children.pop()
    return (name_of(fn), children)


def test_next_functions_has_pytorchs_structure():
    (w, tw), (x, tx) = pair([0.5, -1.0]), pair([1.0, 2.0, 3.0, 4.0])
    c = np.array([2.0, 3.0])
    a, b = mg.split(x, 2)
    ta, tb = tx.split(2)
    z = ((w * c + w).tanh() * a * b).sum()
    tz = ((tw * torch.tensor(c) + tw).tanh() * ta * tb).sum()
    ours = walk(
        z.grad_fn,
        lambda f: isinstance(f, mg.Tensor),
        lambda f: position(f, [w, x]),
        lambda f: f.fn.__name__,
    )
    theirs = walk(
        tz.grad_fn,
        lambda f: type(f).__name__ == "AccumulateGrad",
        lambda f: position(f.variable, [tw, tx]),
        lambda f: type(f).__name__.removesuffix("Backward0"),
    )
    assert ours == theirs
    outer = z.grad_fn.next_functions[0][0]  # (... * a) * b: both pieces come from one Split node
    assert outer.next_functions[1] == (b.grad_fn, 1)
    assert outer.next_functions[0][0].next_functions[1] == (b.grad_fn, 0)


# --- grad(): arguments ---------------------------------------------------------------------------


def test_grad_raises_for_an_unused_input_unless_allowed():
    x, unused = mg.Tensor([1.0], requires_grad=True), mg.Tensor([2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"input 1 \(shape \(2,\)\).*allow_unused=True"):
        mg.grad((x * 2).sum(), [x, unused])
    assert mg.grad((x * 2).sum(), [x, unused], allow_unused=True)[1] is None
    gx, gu = mg.grad((x * 2).sum(), [x, unused], materialize_grads=True)
    np.testing.assert_array_equal(gu.data, [0.0, 0.0])
    np.testing.assert_array_equal(gx.data, [2.0])
    with pytest.raises(ValueError, match="materialize_grads"):
        mg.grad((x * 2).sum(), [x], allow_unused=False, materialize_grads=True)


def test_grad_refuses_an_input_that_does_not_require_grad():
    x = mg.Tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="input 1.*does not require grad"):
        mg.grad((x * 2).sum(), [x, mg.Tensor([1.0])])


@pytest.mark.parametrize("seeds", [[np.array(1.0)], mg.Tensor(1.0), [None, None, None]])
def test_grad_with_a_different_number_of_grad_outputs_names_both_counts(seeds):
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    n = 1 if not isinstance(seeds, list) else len(seeds)
    with pytest.raises(RuntimeError, match=f"2 outputs but {n} grad_outputs"):
        mg.grad([(x * 2).sum(), (x * 3).sum()], [x], seeds)


# --- backward(inputs=) and backward(create_graph=True) -----------------------------------------


def test_backward_inputs_restricts_accumulation_and_reaches_non_leaves():
    (x, tx), (w, tw) = pair([1.0, 2.0]), pair([3.0, -1.0])
    y, ty = x * w, tx * tw
    z, tz = (y * y).sum(), (ty * ty).sum()
    z.backward(inputs=[y, w], retain_graph=True)
    tz.backward(inputs=[ty, tw], retain_graph=True)
    assert x.grad is None and tx.grad is None
    close(y.grad, ty.grad)
    close(w.grad, tw.grad)
    z.backward(inputs=x)  # a single tensor works too; accumulates on top of nothing
    tz.backward(inputs=tx)
    close(x.grad, tx.grad)
    with pytest.raises(RuntimeError, match="cannot be empty"):
        (x * 1).sum().backward(inputs=[])
    with pytest.raises(RuntimeError, match=r"inputs\[1\] \(shape \(1,\)\) does not require"):
        (x * 1).sum().backward(inputs=[x, mg.Tensor([1.0])])


@pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph=True")
def test_backward_create_graph_keeps_a_differentiable_grad_tensor():
    (x, tx) = pair([0.5, -2.0])
    (x**3).sum().backward(create_graph=True)
    (tx**3).sum().backward(create_graph=True)
    assert isinstance(x.grad, np.ndarray)
    close(x.grad, tx.grad)
    (x.tanh() * x).sum().backward(create_graph=True)  # a second one accumulates, differentiably
    (tx.tanh() * tx).sum().backward(create_graph=True)
    close(x.grad_tensor, tx.grad)
    second = mg.grad(x.grad_tensor.sum(), x)[0]
    tsecond = torch.autograd.grad(tx.grad.sum(), tx)[0]
    close(second, tsecond)


def test_grad_tensor_follows_grad():
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    assert x.grad_tensor is None
    (x * x).sum().backward(create_graph=True)
    (x * x).sum().backward()  # an ordinary backward adds into .grad in place: the graph is stale
    with pytest.raises(RuntimeError, match="changed in place"):
        _ = x.grad_tensor
    x.grad = None
    assert x.grad_tensor is None


# --- Function ctx: mark_non_differentiable, set_materialize_grads, once_differentiable ---------


def test_mark_non_differentiable_outputs_come_out_constant_and_backward_gets_zeros():
    received = []

    class ScaleAndArgmax(mg.Function):
        @staticmethod
        def forward(ctx, a):
            index = np.asarray(float(np.argmax(a.data)))
            ctx.mark_non_differentiable(index)
            return a.data * 2, index

        @staticmethod
        def backward(ctx, grad, grad_index):
            received.append(grad_index.data.copy())
            return grad * 2

    a = mg.Tensor([1.0, 3.0], requires_grad=True)
    out, index = ScaleAndArgmax.apply(a)
    assert out.requires_grad and not index.requires_grad and index.grad_fn is None
    out.sum().backward()
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])
    np.testing.assert_array_equal(received, [0.0])
    assert ScaleAndArgmax.apply(mg.Tensor([1.0, 3.0]))[1].item() == 1.0  # unrecorded path too


def test_mark_non_differentiable_refuses_an_object_forward_did_not_return():
    class Wrong(mg.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.mark_non_differentiable(a.data.copy())
            return a.data * 2

    class Failing(mg.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.mark_non_differentiable(a)
            raise ArithmeticError("forward failed after marking")

    with pytest.raises(ValueError, match="Wrong: mark_non_differentiable"):
        Wrong.apply(mg.Tensor([1.0], requires_grad=True))
    with pytest.raises(ArithmeticError, match="after marking"):  # its own error, not the mark's
        Failing.apply(mg.Tensor([1.0], requires_grad=True))
    assert not engine.marked and not engine.marking  # nothing left behind


def test_set_materialize_grads_false_hands_backward_none():
    received = []

    class Two(mg.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.set_materialize_grads(False)
            return a.data * 2, a.data * 3

        @staticmethod
        def backward(ctx, g1, g2):
            received.append(g2)
            return g1 * 2

    a = mg.Tensor([1.0, 3.0], requires_grad=True)
    first, second = Two.apply(a)
    second.retain_grad()
    with debug.trace(print_table=False) as trace:  # the trace sees zeros; backward gets None
        first.sum().backward()
    assert received == [None]
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])
    assert [row.op for row in trace.rows] == ["Sum", "Two"] and second.grad is None


class NumpySquare(mg.Function):
    """x^2 whose backward is numpy: once differentiable."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a.data**2

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        assert not mg.is_grad_enabled()
        return grad.data * 2 * a.data


def test_once_differentiable_gives_first_derivatives_and_refuses_second_ones():
    x = mg.Tensor([1.0, -3.0], requires_grad=True)
    assert mg.gradcheck(NumpySquare.apply, [x])
    (g,) = mg.grad(NumpySquare.apply(x).sum() + (x**3).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, 2 * x.data + 3 * x.data**2)
    with pytest.raises(RuntimeError, match="NumpySquare: trying to differentiate twice"):
        mg.grad(g.sum(), x)


# --- minigrad.autograd.functional, against torch.autograd.functional ------------------------------


def functions(lib):
    """Random-looking smooth functions, written once for both libraries."""

    def vector(x):  # R^n -> R^n
        flipped = torch.flip(x, (0,)) if lib is torch else x[::-1]
        return lib.tanh(x) * (x * x).sum() + lib.exp(flipped * 0.5)

    def pairwise(x, y):  # (n, m), (m, k) -> ((n, k), ())
        return lib.sigmoid(x @ y), (lib.exp(x) * 0.1).sum() * y.sum()

    def scalar(x, y):  # -> one element
        return (lib.tanh(x @ y) ** 2).sum() + (x * x).sum() * lib.sigmoid(y).sum()

    return vector, pairwise, scalar


OURS, THEIRS = functions(mg), functions(torch)


def draws(seed, *shapes):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for shape in shapes]
    return [pair(a) for a in arrays]


def nested_close(ours, theirs):
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            nested_close(o, t)
    else:
        close(ours, theirs)


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 3),
    m=st.integers(1, 3),
    k=st.integers(1, 2),
    strategy=st.sampled_from(["reverse-mode", "forward-mode"]),
)
def test_jacobian_matches_torch(seed, n, m, k, strategy):
    (x, tx), (y, ty) = draws(seed, (n, m), (m, k))
    (v, tv) = draws(seed + 1, (n,))[0]
    nested_close(AF.jacobian(OURS[0], v, strategy=strategy), TF.jacobian(THEIRS[0], tv))
    nested_close(
        AF.jacobian(OURS[1], (x, y), strategy=strategy, vectorize=True),
        TF.jacobian(THEIRS[1], (tx, ty), vectorize=True),
    )
    nested_close(
        AF.jacobian(lambda a: OURS[1](a, y)[0], x), TF.jacobian(lambda a: THEIRS[1](a, ty)[0], tx)
    )
    nested_close(
        AF.jacobian(lambda a: OURS[1](a, y), x), TF.jacobian(lambda a: THEIRS[1](a, ty), tx)
    )


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 3), m=st.integers(1, 3))
def test_hessian_and_products_match_torch(seed, n, m):
    (x, tx), (y, ty), (u, tu), (w, tw) = draws(seed, (n, m), (m, 2), (n, m), (m, 2))
    nested_close(AF.hessian(OURS[2], (x, y)), TF.hessian(THEIRS[2], (tx, ty)))
    nested_close(AF.hessian(lambda a: OURS[2](a, y), x), TF.hessian(lambda a: THEIRS[2](a, ty), tx))
    for ours, theirs in ((AF.vhp, TF.vhp), (AF.hvp, TF.hvp)):
        nested_close(ours(OURS[2], (x, y), (u, w)), theirs(THEIRS[2], (tx, ty), (tu, tw)))
    (out, tout) = draws(seed + 2, (n, 2))[0]
    nested_close(
        AF.vjp(OURS[1], (x, y), (out, mg.Tensor(1.0))),
        TF.vjp(THEIRS[1], (tx, ty), (tout, torch.tensor(1.0, dtype=torch.float64))),
    )
    nested_close(AF.jvp(OURS[1], (x, y), (u, w)), TF.jvp(THEIRS[1], (tx, ty), (tu, tw)))
    nested_close(AF.vjp(lambda a: OURS[2](a, y), x), TF.vjp(lambda a: THEIRS[2](a, ty), tx))


def test_functional_create_graph_results_are_differentiable_like_torchs():
    (x, tx), (y, ty), (u, tu) = draws(3, (2, 3), (3, 2), (2, 3))
    jac = AF.jacobian(lambda a: OURS[1](a, y)[0], x, create_graph=True)
    tjac = TF.jacobian(lambda a: THEIRS[1](a, ty)[0], tx, create_graph=True)
    close(mg.grad((jac * jac).sum(), x)[0], torch.autograd.grad((tjac * tjac).sum(), tx)[0])
    _, hv = AF.hvp(lambda a: OURS[2](a, y), x, u, create_graph=True)
    _, thv = TF.hvp(lambda a: THEIRS[2](a, ty), tx, tu, create_graph=True)
    close(mg.grad(hv.sum(), x)[0], torch.autograd.grad(thv.sum(), tx)[0])
    _, jv = AF.jvp(lambda a: OURS[2](a, y), x, u, create_graph=True)
    assert jv.requires_grad
    out, g = AF.vjp(lambda a: OURS[2](a, y), x)
    assert not out.requires_grad and not g.requires_grad  # detached without create_graph


def test_functional_ignores_hooks_on_the_inputs_themselves():
    (x, tx) = pair([0.5, 1.5])
    for t in (x, tx):
        t.register_hook(lambda g: g * 100)
    for create_graph in (False, True):
        close(
            AF.jacobian(lambda a: a**3, x, create_graph=create_graph),
            TF.jacobian(lambda a: a**3, tx, create_graph=create_graph),
        )


def test_functional_strict_and_independent_inputs():
    (x, tx), (y, ty) = draws(4, (2,), (3,))
    nested_close(AF.jacobian(lambda a, b: a * 2, (x, y)), TF.jacobian(lambda a, b: a * 2, (tx, ty)))
    with pytest.raises(RuntimeError, match="independent of input 1"):
        AF.jacobian(lambda a, b: a * 2, (x, y), strict=True)
    nested_close(AF.hessian(lambda a: (a * 2).sum(), x), TF.hessian(lambda a: (a * 2).sum(), tx))


def test_functional_refuses_bad_arguments():
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="single element"):
        AF.vjp(lambda a: a * 2, x)  # v is needed for an output of two elements
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*shape \(2,\)"):
        AF.jvp(lambda a: a * 2, x, np.ones(3))
    with pytest.raises(RuntimeError, match="single element"):
        AF.hessian(lambda a: a * 2, x)
    with pytest.raises(TypeError, match="Tensor or a tuple of Tensors"):
        AF.jacobian(lambda a: a.data, x)
    with pytest.raises(ValueError, match="strategy"):
        AF.jacobian(lambda a: a, x, strategy="sideways")
