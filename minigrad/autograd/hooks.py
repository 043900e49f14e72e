"""Tensor hooks and the gradient walks that collect instead of accumulate.

`register_hook` puts a function on a tensor's gradient (a leaf's runs once on its summed
gradient; an op output's runs at its node, before that node's backward, through the engine's
visit hook). `collect_grads` runs the engine's walk handing leaves' gradients to a dictionary:
`grad()` returns them, and `Tensor.backward` takes this path for `inputs=`, for hooked leaves and
for `create_graph=True`, whose differentiable gradient `grad_tensor` holds.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..engine import (
    Node,
    Tensor,
    accumulate_grad,
    autograd_extras,
    from_numpy,
    hooked_leaves,
    run_backward,
)
from ..grad_mode import current


def edge_of(t: Tensor) -> tuple:
    """The (node, output index) pair a non-leaf tensor hangs from."""
    return (t.grad_fn, t.output_index)


def register_hook(self: Tensor, hook: Callable[[Tensor], Any]) -> RemovableHandle:
    """Call `hook(grad)` with the gradient reaching this tensor in backward (a leaf's summed
    over its uses); a Tensor it returns replaces that gradient. `.remove()` the handle to stop.
    """
    if not self.requires_grad:
        raise RuntimeError(
            f"register_hook: cannot register a hook on a tensor that does not require grad "
            f"(shape {self.shape})"
        )
    if self._edge is None:  # a leaf: collect_grads runs its hooks on its summed gradient
        extras = autograd_extras(self)
        hooks = extras.get("hooks")
        if hooks is None:
            hooks = extras["hooks"] = {}
            key = id(self)
            forget = lambda _, key=key, table=hooked_leaves: table.pop(key, None)  # noqa: E731
            hooked_leaves[key] = weakref.ref(self, forget)
    else:  # an op's output: its node runs the hooks before its backward (run_tensor_hooks)
        node, index = self._edge
        if node.tensor_hooks is None:  # type: ignore[union-attr]
            node.tensor_hooks = {}  # type: ignore[union-attr]
            node.hooks = [run_tensor_hooks, *(node.hooks or ())]  # type: ignore[union-attr]
        hooks = node.tensor_hooks.setdefault(index, {})  # type: ignore[union-attr]
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


def grad_tensor(self: Tensor) -> Tensor | None:
    """`.grad` as the differentiable Tensor that `backward(create_graph=True)` accumulated
    (None if `.grad` did not come from one); `.grad` itself stays a numpy array."""
    graph = autograd_extras(self, create=False).get("grad_graph")
    if graph is None or self.grad is None or self.grad is not graph[0]:  # none, or replaced
        return None
    if not np.array_equal(graph[0], graph[1].data):
        raise RuntimeError(
            f"grad_tensor: .grad (shape {self.shape}) was changed in place after "
            f"backward(create_graph=True), so its graph no longer matches it"
        )
    return graph[1]


class RemovableHandle:
    """What `register_hook` (and a Module's `register_forward_hook` and friends) return:
    `remove()` takes the hook off its table (a second call does nothing); also a context
    manager, so `with t.register_hook(f): ...` removes the hook when the block ends."""

    _next_id = itertools.count()

    def __init__(self, hooks: dict[int, Any]) -> None:
        self.hooks = hooks
        self.id = next(RemovableHandle._next_id)  # the key the hook is kept under

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()


def run_tensor_hooks(node: Node, grads: tuple) -> tuple:
    """The node hook `register_hook` puts first: each output's hooks may replace its gradient."""
    hooked = list(grads)
    for index, hooks in (node.tensor_hooks or {}).items():
        if hooked[index] is not None:
            hooked[index] = apply_hooks(hooks, hooked[index])
    return tuple(hooked)


def apply_hooks(hooks: dict, grad: Tensor) -> Tensor:
    """Run a tensor's hooks in order, each on the previous one's result; check replacements."""
    for hook in tuple(hooks.values()):
        result = hook(grad)
        if result is None:
            continue
        array = result.data if isinstance(result, Tensor) else np.asarray(result)
        if array.shape != grad.shape or array.dtype != grad.dtype:
            raise RuntimeError(
                f"hook {getattr(hook, '__name__', hook)!r} returned a gradient of shape "
                f"{array.shape} and dtype {array.dtype}; it must keep the gradient's shape "
                f"{grad.shape} and dtype {grad.dtype}"
            )
        grad = result if isinstance(result, Tensor) else from_numpy(array)
    return grad


def accumulate_grad_graph(tensor: Tensor, grad: Tensor) -> None:
    """Where backward(create_graph=True) puts gradients: `.grad` gets the values, `grad_tensor`
    the differentiable sum (a `.grad` from an ordinary backward counts as a constant)."""
    previous = tensor.grad_tensor
    state = current()
    state_enabled, state.enabled = state.enabled, True
    try:
        if previous is not None:
            grad = previous + grad
        elif tensor.grad is not None:
            grad = from_numpy(np.array(tensor.grad, copy=True)) + grad
    finally:
        state.enabled = state_enabled
    tensor.grad = np.array(grad.data, copy=True)
    autograd_extras(tensor)["grad_graph"] = (tensor.grad, grad)


def collect_grads(
    outputs: Sequence[Tensor],
    seeds: Sequence[Any],
    inputs: Sequence[Tensor] | None,
    retain_graph: bool | None,
    create_graph: bool,
) -> list[tuple[Tensor, Tensor | None]]:
    """(tensor, gradient) for each of `inputs` (None where none reached it), or for every leaf
    reached if `inputs` is None: what `grad()` returns and `backward(inputs=)` accumulates.

    A leaf's shares are summed over the walk and its hooks run once on the sum (as PyTorch's
    AccumulateGrad); a non-leaf's gradient is taken when it reaches its node, after its hooks.
    """
    leaves = None if inputs is None else {id(t) for t in inputs if t.grad_fn is None}
    summed: dict[int, list] = {}  # id(leaf) -> [leaf, its gradient so far]
    wanted: dict = {edge_of(t): None for t in inputs or () if t.grad_fn is not None}

    def collect_leaf(leaf: Tensor, grad: Tensor) -> None:
        if leaves is None or id(leaf) in leaves:
            entry = summed.get(id(leaf))
            if entry is None:
                summed[id(leaf)] = [leaf, grad]
            else:
                entry[1] = entry[1] + grad  # recorded under create_graph, as the walk's sums

    def collect_output(node: Node, grads: tuple) -> None:
        for index, grad in enumerate(grads):
            if (node, index) in wanted:
                wanted[(node, index)] = grad

    state = current()
    observers = state.observers
    if wanted:
        state.observers = (*observers, collect_output)
    try:
        run_backward(outputs, seeds, retain_graph, create_graph, collect_leaf)
    finally:
        state.observers = observers
    if hooked_leaves:
        previous_mode, state.enabled = state.enabled, create_graph
        try:
            for entry in summed.values():
                hooks = autograd_extras(entry[0], create=False).get("hooks")
                if hooks:
                    entry[1] = apply_hooks(hooks, entry[1])
        finally:
            state.enabled = previous_mode
    if inputs is None:
        return [(leaf, grad) for leaf, grad in summed.values()]
    return [
        (t, summed.get(id(t), (t, None))[1] if t.grad_fn is None else wanted[edge_of(t)])
        for t in inputs
    ]


def backward_collected(
    tensor: Tensor,
    gradient: Any,
    retain_graph: bool | None,
    create_graph: bool,
    inputs: Tensor | Sequence[Tensor] | None,
) -> None:
    """`tensor.backward(...)` through `collect_grads`: with `inputs=`, hooked leaves or
    `create_graph=True` (which also keeps each leaf's differentiable gradient, `grad_tensor`)."""
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        if not inputs:
            raise RuntimeError("backward: the inputs argument cannot be empty")
        for index, t in enumerate(inputs):
            if not t.requires_grad:
                raise RuntimeError(
                    f"backward: inputs[{index}] (shape {t.shape}) does not require grad"
                )
    found = collect_grads([tensor], [gradient], inputs, retain_graph, create_graph)
    accumulate = accumulate_grad_graph if create_graph else accumulate_grad
    for t, grad in found:
        if grad is not None:
            accumulate(t, grad)


def install() -> None:
    """Attach `register_hook` and `grad_tensor` to Tensor."""
    T: Any = Tensor
    T.register_hook = register_hook
    T.grad_tensor = property(grad_tensor)


install()
