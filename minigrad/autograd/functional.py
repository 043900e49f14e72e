"""Derivatives of whole functions, as `torch.autograd.functional`: jacobian, hessian, vjp, jvp,
hvp, vhp.

Each takes `func` and its `inputs` (a Tensor or a tuple of Tensors) and answers with the same
nesting PyTorch does: a Tensor where PyTorch gives a Tensor, a tuple where it gives a tuple.
Everything is built from reverse mode (`grad`), one vector-Jacobian product per row: minigrad has
no forward mode, so `jvp` uses the double-vjp trick (see `_jvp`). `vectorize=True` is accepted
for PyTorch's signatures and computes the same rows one at a time (there is no vmap here).
With `create_graph=False` the results are detached; with `create_graph=True` they can be
differentiated again, with respect to `inputs` that require grad.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..engine import Tensor, from_numpy
from ..grad_mode import enable_grad
from ..ops import stack
from .gradients import grad

STRATEGIES = ("reverse-mode", "forward-mode")


def vjp(
    func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
) -> tuple:
    """(func(*inputs), v^T J): the vector-Jacobian product, one reverse pass."""
    return _product("vjp", func, inputs, v, create_graph, strict)


def jvp(
    func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
) -> tuple:
    """(func(*inputs), J v): the Jacobian-vector product, by two reverse passes."""
    return _product("jvp", func, inputs, v, create_graph, strict)


def vhp(
    func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
) -> tuple:
    """(func(*inputs), v^T H) for a function with one output element: the vjp of its gradient."""
    return _product("vhp", func, inputs, v, create_graph, strict)


def hvp(
    func: Callable, inputs: Any, v: Any = None, create_graph: bool = False, strict: bool = False
) -> tuple:
    """(func(*inputs), H v) for a function with one output element: the jvp of its gradient."""
    return _product("hvp", func, inputs, v, create_graph, strict)


def _product(
    name: str, func: Callable, inputs: Any, v: Any, create_graph: bool, strict: bool
) -> tuple:
    """What vjp, jvp, vhp and hvp share: (func(*inputs), the product `name` says), the product
    nested as the inputs are (as the outputs are, for jvp)."""
    inputs, inputs_tuple = _as_tuple(name, "inputs", inputs)
    with enable_grad():
        inputs = _prepare(inputs, create_graph)
        if name in ("vjp", "jvp"):
            outputs, outputs_tuple = _as_tuple(name, "outputs of the function", func(*inputs))
        else:  # the Hessian products: of the gradient of a one-element function
            outputs, outputs_tuple = (_single_output(name, func(*inputs)),), False
        if name == "vjp":
            vs = _vectors(name, v, outputs, "the function returns")
            result = _vjp(outputs, inputs, vs, create_graph, strict, name)
        elif name == "jvp":  # one product per output, not per input
            vs = _vectors(name, v, inputs, "the input is")
            result = _jvp(outputs, inputs, vs, create_graph, strict, name)
            inputs_tuple = outputs_tuple
        else:
            vs = _vectors(name, v, inputs, "the input is")
            gradient = _vjp(outputs, inputs, [None], True, strict, name)
            product = _vjp if name == "vhp" else _jvp
            result = product(gradient, inputs, vs, create_graph, strict, name)
    return _finish(outputs, outputs_tuple, create_graph), _finish(
        result, inputs_tuple, create_graph
    )


def jacobian(
    func: Callable,
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
) -> Any:
    """d func(*inputs) / d inputs: for output i and input j a Tensor of shape
    `outputs[i].shape + inputs[j].shape`, nested as PyTorch nests it.

    "reverse-mode" computes one row per output element (a vjp), "forward-mode" one column per
    input element (a jvp, here two reverse passes); both give the same numbers.
    """
    inputs, inputs_tuple = _as_tuple("jacobian", "inputs", inputs)
    blocks, outputs_tuple = _jacobian(func, inputs, create_graph, strict, strategy, "jacobian")
    return _finish_nested(blocks, outputs_tuple, inputs_tuple, create_graph)


def hessian(
    func: Callable,
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
) -> Any:
    """The second derivatives of a function with one output element: the jacobian of its
    gradient, for inputs i and j a Tensor of shape `inputs[i].shape + inputs[j].shape`."""
    inputs, inputs_tuple = _as_tuple("hessian", "inputs", inputs)

    def gradient(*args: Tensor) -> tuple:
        output = _single_output("hessian", func(*args))
        return tuple(_vjp([output], list(args), [None], True, strict, "hessian"))

    blocks, _ = _jacobian(
        gradient, inputs, create_graph, strict, outer_jacobian_strategy, "hessian"
    )
    return _finish_nested(blocks, inputs_tuple, inputs_tuple, create_graph)


# --- The two products everything above is made of -----------------------------------------------


def _vjp(
    outputs: Sequence[Tensor],
    inputs: Sequence[Tensor],
    vs: Sequence[Any],
    create_graph: bool,
    strict: bool,
    name: str,
) -> list[Tensor]:
    """sum_i v_i^T d outputs_i / d inputs_j for each input j; zeros where independent (an error
    under `strict`). A `None` in `vs` seeds a one-element output with 1."""
    live = [(o, v) for o, v in zip(outputs, vs) if o.requires_grad]
    grads: Sequence[Tensor | None] = [None] * len(inputs)
    if live:
        grads = grad(
            [o for o, _ in live],
            list(inputs),
            [v for _, v in live],
            retain_graph=True,
            create_graph=create_graph,
            allow_unused=True,
        )
    result = []
    for j, (x, g) in enumerate(zip(inputs, grads)):
        if g is None:
            if strict:
                raise RuntimeError(
                    f"{name}: the output of the function is independent of input {j}; this is "
                    f"not allowed in strict mode"
                )
            g = from_numpy(np.zeros_like(x.data))
        result.append(g)
    return result


def _jvp(
    outputs: Sequence[Tensor],
    inputs: Sequence[Tensor],
    vs: Sequence[Any],
    create_graph: bool,
    strict: bool,
    name: str,
) -> list[Tensor]:
    """J v for each output, from reverse mode only (the double-vjp trick).

    For a dummy vector u of the outputs' shapes, g(u) = u^T J (one vjp, recorded) is linear in
    u, so the gradient of <g(u), v> with respect to u is J v (a second vjp, through the first).
    u's value does not matter (zeros here): only the dependence on it does.
    """
    dummies = [Tensor(np.zeros_like(o.data), requires_grad=True) for o in outputs]
    first = _vjp(outputs, inputs, dummies, True, strict, name)
    return _vjp(first, dummies, vs, create_graph, False, name)


def _jacobian(
    func: Callable,
    inputs: tuple,
    create_graph: bool,
    strict: bool,
    strategy: str,
    name: str,
) -> tuple[list[list[Tensor]], bool]:
    """blocks[i][j] = d outputs[i] / d inputs[j], and whether func returned a tuple."""
    if strategy not in STRATEGIES:
        raise ValueError(f"{name}: strategy must be one of {STRATEGIES}, got {strategy!r}")
    with enable_grad():
        inputs = _prepare(inputs, create_graph)
        outputs, outputs_tuple = _as_tuple(name, "outputs of the function", func(*inputs))
        if strategy == "reverse-mode":  # row k of block (i, j): the vjp of the basis vector e_k
            blocks = []
            for out in outputs:
                rows = [_vjp([out], inputs, [e], create_graph, strict, name) for e in _basis(out)]
                blocks.append([_assemble(rows, j, out, x) for j, x in enumerate(inputs)])
        else:  # column k of block (i, j): the jvp of e_k on input j, zeros on the others
            columns: list = [[[] for _ in inputs] for _ in outputs]  # [i][j]: the columns
            for j, x in enumerate(inputs):
                others = [np.zeros_like(y.data) for y in inputs]
                for e in _basis(x):
                    vs = [e if k == j else others[k] for k in range(len(inputs))]
                    products = _jvp(outputs, inputs, vs, create_graph, strict, name)
                    for i, column in enumerate(products):
                        columns[i][j].append(column.reshape(-1))
            blocks = [
                [_assemble_columns(columns[i][j], out, x) for j, x in enumerate(inputs)]
                for i, out in enumerate(outputs)
            ]
    return blocks, outputs_tuple


def _basis(t: Tensor) -> list[np.ndarray]:
    """The one-hot arrays of `t`'s shape and dtype, one per element."""
    eye = np.eye(t.size, dtype=t.dtype)
    return [row.reshape(t.shape) for row in eye]


def _assemble(rows: list[list[Tensor]], j: int, out: Tensor, x: Tensor) -> Tensor:
    """Stack the rows (one per output element) for input j into shape out.shape + x.shape."""
    if not rows:
        return from_numpy(np.zeros(out.shape + x.shape, x.dtype))
    return stack([row[j].reshape(-1) for row in rows]).reshape(out.shape + x.shape)


def _assemble_columns(columns: list[Tensor], out: Tensor, x: Tensor) -> Tensor:
    """Stack the columns (one per element of x) into shape out.shape + x.shape."""
    if not columns:
        return from_numpy(np.zeros(out.shape + x.shape, out.dtype))
    return stack(columns, axis=-1).reshape(out.shape + x.shape)


# --- Arguments in, results out -------------------------------------------------------------------


def _as_tuple(name: str, what: str, value: Any) -> tuple[tuple, bool]:
    """`value` as a tuple of Tensors, and whether it was a tuple (or list) already."""
    if isinstance(value, Tensor):
        return (value,), False
    if isinstance(value, (tuple, list)) and all(isinstance(t, Tensor) for t in value):
        return tuple(value), True
    raise TypeError(
        f"{name}: the {what} must be a Tensor or a tuple of Tensors, got {type(value).__name__}"
    )


def _prepare(inputs: tuple, create_graph: bool) -> list[Tensor]:
    """The tensors func is called on: under create_graph an alias of an input that requires grad
    (so results stay differentiable with respect to it, and its own hooks stay out of the
    derivatives, as PyTorch's view does), otherwise a fresh leaf copy."""
    return [
        x.reshape(x.shape) if create_graph and x.requires_grad else Tensor(x.data, True)
        for x in inputs
    ]


def _single_output(name: str, output: Any) -> Tensor:
    """The output of a function hessian, hvp and vhp accept: one Tensor with one element."""
    if not isinstance(output, Tensor):
        raise TypeError(f"{name}: the function must return a single Tensor, got {output!r}")
    if output.size != 1:
        raise RuntimeError(
            f"{name}: the function must return a Tensor with a single element, got shape "
            f"{output.shape}"
        )
    return output


def _vectors(name: str, v: Any, like: Sequence[Tensor], what: str) -> list[Any]:
    """`v` as one vector per tensor of `like`, each of its shape; None only for one element."""
    if v is None:
        if len(like) != 1 or like[0].size != 1:
            raise RuntimeError(
                f"{name}: v can be None only if {what} a single Tensor with a single element"
            )
        return [np.ones_like(like[0].data)]
    vs = list(v) if isinstance(v, (tuple, list)) else [v]
    if len(vs) != len(like):
        raise RuntimeError(f"{name}: got {len(vs)} vectors v for {len(like)} tensors")
    result = []
    for k, (vector, t) in enumerate(zip(vs, like)):
        if not isinstance(vector, Tensor):
            vector = from_numpy(np.asarray(vector, dtype=t.dtype))
        if vector.shape != t.shape:
            raise RuntimeError(
                f"{name}: v[{k}] has shape {vector.shape} but the tensor it goes with has shape "
                f"{t.shape}"
            )
        result.append(vector)
    return result


def _finish(tensors: Sequence[Tensor], as_tuple: bool, create_graph: bool) -> Any:
    """Detach unless create_graph; a tuple, or the one Tensor."""
    done = tuple(t if create_graph else from_numpy(t.data) for t in tensors)
    return done if as_tuple else done[0]


def _finish_nested(
    blocks: list[list[Tensor]], outer_tuple: bool, inner_tuple: bool, create_graph: bool
) -> Any:
    """blocks[i][j], nested as tuples only where the outputs (i) or inputs (j) were tuples."""
    rows = [_finish(row, inner_tuple, create_graph) for row in blocks]
    return tuple(rows) if outer_tuple else rows[0]
