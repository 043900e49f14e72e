"""The engine: a Tensor that records the Functions applied to it, and the reverse walk over them.

Read this file top to bottom: `Tensor` holds data; `Function.apply` runs a primitive's forward and
records a `Node` (the `ctx` its backward later receives); `run_backward` visits the recorded nodes
in reverse topological order (Kahn's algorithm, no recursion) and hands each one the gradient of
its output(s).
The primitives themselves (and Tensor's operators) live in `ops.py`.
"""

from __future__ import annotations

import functools
import traceback
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

_grad_enabled = True  # off inside `no_grad()` and while a forward or first-order backward runs
_anomaly_enabled = False  # set by minigrad.debug.detect_anomaly
_backward_observer: Callable[[Node, Any], None] | None = None  # set by minigrad.debug.trace


class Tensor:
    """An n-dimensional array that remembers how it was computed, so gradients can flow back."""

    __slots__ = ("data", "grad", "requires_grad", "_node", "_index", "__weakref__")
    __array_ufunc__ = None  # numpy defers to us: `ndarray * Tensor` calls Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = as_float_array(data.data if isinstance(data, Tensor) else data, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self._node: Node | None = None  # the recorded op that produced this tensor
        self._index = 0  # which of that op's outputs this is

    shape = property(lambda self: self.data.shape, doc="Shape of the data, as numpy's.")
    ndim = property(lambda self: self.data.ndim, doc="Number of dimensions.")
    size = property(lambda self: self.data.size, doc="Number of elements.")
    dtype = property(lambda self: self.data.dtype, doc="numpy dtype: float32 or float64.")
    is_leaf = property(lambda self: self._node is None, doc="True unless an op produced it.")
    grad_fn = property(lambda self: self._node, doc="The Node that produced this tensor, or None.")

    def __len__(self) -> int:
        return len(self.data)

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied; read-only while a graph has saved it)."""
        return self.data

    def detach(self) -> Tensor:
        """A tensor sharing this data but cut off from the graph: gradients stop here."""
        return _wrap(self.data)

    def retain_grad(self) -> None:
        """Ask backward to fill `.grad` of this non-leaf tensor too."""
        if self._node is not None:
            if self._node.retained is None:
                self._node.retained = {}
            self._node.retained[self._index] = weakref.ref(self)

    def backward(
        self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`; `gradient` seeds non-scalars."""
        if gradient is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for one-element outputs; this "
                    f"tensor has shape {self.shape}, so pass gradient= of that shape"
                )
            gradient = _wrap(np.ones_like(self.data))
        run_backward([self], [gradient], retain_graph, create_graph)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(", precision=4)
        extra = f", dtype={self.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{self._node.fn.__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"


def as_float_array(data: Any, dtype: Any = None) -> np.ndarray:
    """A fresh float array: float32/float64 keep their dtype, everything else becomes float64."""
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"Tensor: dtype must be float32 or float64, got {dtype}")
        return np.array(data, dtype=dtype)
    array = np.array(data)
    if array.dtype != np.float32 and array.dtype != np.float64:
        array = array.astype(np.float64)
    return array


def _wrap(data: np.ndarray, node: Node | None = None, index: int = 0) -> Tensor:
    """Make a Tensor around an array without copying or checking it (the ops' fast path)."""
    tensor = Tensor.__new__(Tensor)
    tensor.data = data
    tensor.grad = None
    tensor.requires_grad = node is not None
    tensor._node = node
    tensor._index = index
    return tensor


# --- Guarding saved arrays ---------------------------------------------------------------------
# Backward reads the arrays that forward saved, so an in-place write into one of them in between
# would silently corrupt gradients. Outputs of recorded ops are therefore read-only from birth;
# any other saved array (a leaf's, say) has its memory owner made read-only until the last node
# that saved it is released.

_locks: dict[int, list] = {}  # id(owner array) -> [owner array, number of nodes holding it]


def _lock(array: np.ndarray) -> np.ndarray | None:
    """Make `array`'s memory read-only for a node; return the owner to unlock later, if any."""
    owner = array if array.base is None else array.base
    if not isinstance(owner, np.ndarray) or not owner.flags.writeable:
        entry = _locks.get(id(owner))
        if entry is None:
            return None  # read-only anyway (an op's output, a broadcast view): nothing to guard
        entry[1] += 1
        return owner
    owner.flags.writeable = False
    _locks[id(owner)] = [owner, 1]
    return owner


def _unlock(owner: np.ndarray) -> None:
    entry = _locks[id(owner)]
    entry[1] -= 1
    if entry[1] == 0:
        del _locks[id(owner)]
        owner.flags.writeable = True


class _Guard:
    """The arrays one node made read-only: unlocked when the node drops this (released or freed).

    Only nodes that locked something carry one, so freeing an ordinary node runs no Python code.
    """

    __slots__ = ("owners",)

    def __init__(self, owners: list) -> None:
        self.owners = owners

    def __del__(self) -> None:
        for owner in self.owners:
            _unlock(owner)


# --- Nodes and Functions -----------------------------------------------------------------------


class Node:
    """One recorded call of a Function: where its gradients go and what forward saved.

    It is also the `ctx` that forward and backward receive. A node does not hold its input
    tensors, only an edge for each input that needs a gradient, so an intermediate result that
    backward does not need (because nothing saved it) is freed as soon as you drop it.
    """

    n_outputs = 1  # a Function may return a tuple of outputs (split does)
    output_meta: tuple = ()  # (shape, dtype) of each output, kept when there are several
    retained: dict | None = None  # output index -> weakref, for outputs that retain_grad()
    created_at = None  # where the op was called, under anomaly detection
    _saved: tuple | None = ()  # None once released by backward
    _saved_data: tuple = ()
    _guard: _Guard | None = None  # unlocks the arrays this node made read-only

    def __init__(self, fn: type[Function], edges: tuple) -> None:
        self.fn = fn
        self.edges = edges  # per forward argument, where its gradient goes (see `_edge`)

    @property
    def needs_input_grad(self) -> tuple:
        """For each argument of forward: does it need a gradient?"""
        return tuple([edge is not None for edge in self.edges])

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep these tensors (inputs or the output) for backward."""
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        """The saved tensors, rebuilt from the saved arrays and where each came from."""
        if self._saved is None:
            raise RuntimeError(
                f"{self.fn.__name__}: trying to backward through the graph a second time (or "
                f"to read saved tensors after they were freed); pass retain_graph=True to the "
                f"first backward if you need to go through it twice"
            )
        return tuple(
            [self._unpack(source, data) for source, data in zip(self._saved, self._saved_data)]
        )

    def _unpack(self, source: Any, data: np.ndarray) -> Tensor | None:
        """One saved tensor: `source` is ~k for our own output k, p for input p, else a Tensor."""
        if type(source) is not int:
            tensor = source  # None, or a tensor that was neither an input nor an output
        elif source < 0:
            return _wrap(data, self, ~source)  # our own output, re-attached to this node
        else:
            target = self.edges[source]
            if target is None:
                return _wrap(data)  # an input that needs no gradient: a constant
            if not isinstance(target, Tensor):  # an op's output: re-attached to its node
                node, index = target if type(target) is tuple else (target, 0)
                return _wrap(data, node, index)
            tensor = target  # a leaf
        if tensor is not None and tensor.data is not data:
            raise RuntimeError(
                f"{self.fn.__name__}: a tensor of shape {data.shape} saved for backward had "
                f"its .data replaced after forward; its gradients would be wrong"
            )
        return tensor

    def _seal(self, inputs: tuple, results: tuple, outputs: tuple) -> None:
        """After forward: keep each saved tensor as its array and where it came from (input p,
        or ~k for our own output k), so the node holds no Tensor and makes no cycle; guard the
        arrays that could still be written to."""
        sources, arrays, owners = [], [], []
        for tensor in self._saved:
            source, data = tensor, None if tensor is None else tensor.data
            if tensor is not None:
                for index, result in enumerate(results):
                    if result is tensor:
                        source, data = ~index, outputs[index]  # the array actually recorded
                        break
                else:
                    for position, x in enumerate(inputs):
                        if x is tensor:
                            source = position
                            break
                    owner = _lock(data)
                    if owner is not None:
                        owners.append(owner)
            sources.append(source)
            arrays.append(data)
        self._saved, self._saved_data = tuple(sources), tuple(arrays)
        if owners:
            self._guard = _Guard(owners)

    def _release(self) -> None:
        """Free (and unlock) what forward saved: backward through this node is over."""
        self._saved = None
        self._saved_data = ()
        self._guard = None

    def __repr__(self) -> str:
        return f"<{self.fn.__name__} node>"


def _edge(tensor: Tensor) -> Node | Tensor | tuple:
    """Where a gradient for `tensor` goes: the leaf itself, the node that made it, or, for an
    op with several outputs, (that node, which output)."""
    node = tensor._node
    if node is None:
        return tensor
    return node if node.n_outputs == 1 else (node, tensor._index)


class _Unrecorded:
    """The `ctx` given to forward when nothing is recorded: saving is a no-op."""

    needs_input_grad = ()

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        pass


class Function:
    """A differentiable operation, declared as a static `forward` and a static `backward`.

    Same contract as `torch.autograd.Function`: `forward(ctx, *inputs)` runs with recording off
    and returns a Tensor or an ndarray; `backward(ctx, grad_output)` returns one gradient per
    input (None where there is none), written with Tensor ops so that higher orders work.
    Every built-in primitive in `minigrad.ops` is a Function; so can yours be.
    """

    @staticmethod
    def forward(ctx: Node, *inputs: Any) -> Tensor | np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Node, grad_output: Tensor) -> Tensor | None | tuple:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any) -> Any:
        """Run forward and, if any input requires grad, record the call for backward."""
        global _grad_enabled
        if _grad_enabled:
            edges = tuple(
                [_edge(x) if isinstance(x, Tensor) and x.requires_grad else None for x in inputs]
            )
            if edges.count(None) != len(edges):  # some input needs a gradient: record
                node = Node(cls, edges)
                _grad_enabled = False
                try:
                    result = cls.forward(node, *inputs)
                finally:
                    _grad_enabled = True
                if type(result) is tuple:
                    return _record_outputs(node, inputs, result)
                data = _recorded_array(cls, result, inputs)
                output = _wrap(data, node)
                node._out_shape, node._out_dtype = data.shape, data.dtype  # its gradient's
                if node._saved:
                    node._seal(inputs, (result,), (data,))
                if _anomaly_enabled:
                    _check_forward(node, inputs, output)
                return output
        result = cls.forward(_Unrecorded(), *inputs)
        if type(result) is np.ndarray:
            return _wrap(result)
        if type(result) is tuple:
            return tuple([_wrap(_as_output_array(cls, r)) for r in result])
        return _wrap(_as_output_array(cls, result))


def _record_outputs(node: Node, inputs: tuple, results: tuple) -> tuple:
    """The recorded outputs of a Function that returned several (each knows its index)."""
    arrays = tuple([_recorded_array(node.fn, result, inputs) for result in results])
    outputs = tuple([_wrap(data, node, index) for index, data in enumerate(arrays)])
    node.n_outputs = len(outputs)
    node.output_meta = tuple([(data.shape, data.dtype) for data in arrays])
    if node._saved:
        node._seal(inputs, results, arrays)
    if _anomaly_enabled:
        for output in outputs:
            _check_forward(node, inputs, output)
    return outputs


def _recorded_array(fn: type[Function], result: Any, inputs: tuple) -> np.ndarray:
    """A recorded output's array, read-only from birth (an input's own array gets a view)."""
    data = result if type(result) is np.ndarray else _as_output_array(fn, result)
    if data.flags.writeable:
        for x in inputs:
            if isinstance(x, Tensor) and x.data is data:
                data = data.view()
                break
        data.flags.writeable = False
    return data


def _as_output_array(fn: type[Function], result: Any) -> np.ndarray:
    """What forward returned, as an ndarray (numpy gives 0-d results as scalars)."""
    if isinstance(result, Tensor):
        result = result.data
    if isinstance(result, np.ndarray):
        return result
    if isinstance(result, np.generic):  # a numpy scalar: keep its dtype
        return np.asarray(result)
    raise TypeError(f"{fn.__name__}.forward must return a Tensor or an ndarray, got {result!r}")


# --- Grad mode -------------------------------------------------------------------------------


def is_grad_enabled() -> bool:
    """Whether ops applied now are recorded for backward."""
    return _grad_enabled


def set_grad_enabled(mode: bool) -> None:
    """Turn recording on or off globally (prefer the `no_grad` context manager)."""
    global _grad_enabled
    _grad_enabled = bool(mode)


class no_grad:
    """Context manager and decorator: ops inside record nothing (inference, optimizer steps).

    Works as `with no_grad():`, `@no_grad()` and `@no_grad`.
    """

    _mode = False

    def __new__(cls, func: Callable | None = None) -> Any:
        self = super().__new__(cls)
        return self if func is None else self(func)  # bare `@no_grad` on a function

    def __enter__(self) -> None:
        self._previous = _grad_enabled
        set_grad_enabled(self._mode)

    def __exit__(self, *exc_info: Any) -> None:
        set_grad_enabled(self._previous)

    def __call__(self, func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return func(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Context manager and decorator: record ops even inside `no_grad`."""

    _mode = True


# --- Reverse mode ----------------------------------------------------------------------------


def run_backward(
    outputs: Sequence[Tensor],
    seeds: Sequence[Any],
    retain_graph: bool | None,
    create_graph: bool,
    inputs: Sequence[Tensor] | None = None,
) -> list | None:
    """Propagate `seeds` from `outputs` back through the graph.

    With `inputs=None` the gradients accumulate into leaves' `.grad` (and retained non-leaves');
    otherwise they are returned, one per input (None where no gradient reaches it).
    """
    global _grad_enabled
    if retain_graph is None:
        retain_graph = create_graph
    pending: dict[Node, Any] = {}  # gradient of each node's output (a list if it has several)
    owned: set[Node] = set()  # nodes whose pending array the engine allocated (safe to add into)
    captured: dict[int, Tensor] = {}  # id(input) -> gradient, when `inputs` are given
    wanted_leaves = set() if inputs is None else {id(t) for t in inputs if t._node is None}
    wanted_outputs = {(t._node, t._index): id(t) for t in inputs or () if t._node is not None}

    def accumulate(node: Node, index: int, grad: Tensor) -> None:
        """Add `grad` to what output `index` of `node` has received so far."""
        if node.n_outputs != 1:
            slots = pending.setdefault(node, [None] * node.n_outputs)
            slots[index] = grad if slots[index] is None else slots[index] + grad
            return
        previous = pending.get(node)
        if previous is None:
            pending[node] = grad
        elif create_graph:
            pending[node] = previous + grad  # recorded, so the sum is differentiable too
        elif node in owned:
            np.add(previous.data, grad.data, out=previous.data)
        else:  # a fresh array the engine owns (0-d sums come back as numpy scalars)
            pending[node] = _wrap(np.asarray(np.add(previous.data, grad.data)))
            owned.add(node)

    def deliver_to_leaf(leaf: Tensor, grad: Tensor) -> None:
        if inputs is not None:
            if id(leaf) in wanted_leaves:
                previous = captured.get(id(leaf))
                captured[id(leaf)] = grad if previous is None else previous + grad
        elif leaf.grad is None:
            leaf.grad = np.array(grad.data, copy=True)  # never alias the seed or another grad
        else:
            leaf.grad += grad.data

    roots = []
    for output, seed in zip(outputs, seeds):
        seed = _as_seed(output, seed)
        if output._node is None:
            if not output.requires_grad:
                raise RuntimeError(
                    f"backward: tensor of shape {output.shape} does not require grad and has "
                    f"no graph; set requires_grad=True on the leaves you differentiate"
                )
            deliver_to_leaf(output, seed)
        else:
            accumulate(output._node, output._index, seed)
            roots.append(output._node)

    dependencies = _count_dependencies(roots)
    ready = [node for node in dict.fromkeys(roots) if node not in dependencies]
    previous_mode = _grad_enabled
    _grad_enabled = create_graph
    try:
        while ready:
            node = ready.pop()
            grad = pending.pop(node, None)
            if grad is None:  # nothing reached this node; still let its inputs' counts drop
                input_grads = (None,) * len(node.edges)
            else:
                grads = (grad,) if node.n_outputs == 1 else _materialize(node, grad)
                if wanted_outputs:
                    for index, g in enumerate(grads):
                        if (node, index) in wanted_outputs:
                            captured[wanted_outputs[node, index]] = g
                input_grads = _call_backward(node, grads)
            for target, input_grad in zip(node.edges, input_grads):
                if target is None:
                    continue
                index = 0
                if type(target) is tuple:  # an output of a multi-output op
                    target, index = target
                is_leaf = type(target) is not Node
                if input_grad is not None:
                    input_grad = _checked_grad(node, target, index, input_grad)
                    if is_leaf:
                        deliver_to_leaf(target, input_grad)
                    else:
                        accumulate(target, index, input_grad)
                if not is_leaf:
                    waiting = dependencies[target] - 1  # uses of target not yet back-propagated
                    dependencies[target] = waiting
                    if waiting == 0:
                        ready.append(target)
            if not retain_graph and node._saved_data:
                node._release()  # free (and unlock) what forward saved, as soon as possible
    finally:
        _grad_enabled = previous_mode
    if inputs is None:
        return None
    return [captured.get(id(t)) for t in inputs]


def _materialize(node: Node, slots: list) -> tuple:
    """Gradients for every output of a multi-output node: zeros where none arrived."""
    return tuple(
        _wrap(np.zeros(shape, dtype)) if g is None else g
        for g, (shape, dtype) in zip(slots, node.output_meta)
    )


def _as_seed(output: Tensor, seed: Any) -> Tensor:
    seed = seed if isinstance(seed, Tensor) else _wrap(np.asarray(seed, dtype=output.dtype))
    if seed.shape != output.shape:
        raise RuntimeError(
            f"backward: gradient has shape {seed.shape} but the output has shape {output.shape}"
        )
    return seed


def _count_dependencies(roots: list[Node]) -> dict[Node, int]:
    """How many recorded uses each node has below the roots (iterative, so no recursion limit)."""
    dependencies: dict[Node, int] = {}
    stack = list(dict.fromkeys(roots))
    for root in stack:
        _check_not_released(root)
    while stack:
        for child in stack.pop().edges:
            if type(child) is tuple:
                child = child[0]
            if type(child) is not Node:
                continue  # no gradient needed, or a leaf
            count = dependencies.get(child)
            if count is None:
                _check_not_released(child)
                stack.append(child)
                count = 0
            dependencies[child] = count + 1
    return dependencies


def _check_not_released(node: Node) -> None:
    if node._saved is None:
        node.saved_tensors  # raises the "backward a second time" error  # noqa: B018


def _call_backward(node: Node, grads: tuple) -> tuple:
    """Run one node's backward; fill retained `.grad`s and tell the observer (debug tools)."""
    if node.retained is not None or _backward_observer is not None:
        _before_backward(node, grads)
    input_grads = node.fn.backward(node, *grads)
    if not isinstance(input_grads, tuple):
        input_grads = (input_grads,)
    if len(input_grads) != len(node.edges):
        raise RuntimeError(
            f"{node.fn.__name__}.backward returned {len(input_grads)} gradients but forward "
            f"took {len(node.edges)} inputs"
        )
    if _anomaly_enabled:
        _check_backward(node, input_grads)
    return input_grads


def _before_backward(node: Node, grads: tuple) -> None:
    """What retain_grad() and the debug tools ask to see of the gradients reaching `node`."""
    for index, ref in (node.retained or {}).items():
        output = ref()
        if output is not None:
            output.grad = np.array(grads[index].data, copy=True)
    if _backward_observer is not None:
        _backward_observer(node, grads[0] if len(grads) == 1 else grads)


def _checked_grad(node: Node, target: Node | Tensor, index: int, grad: Any) -> Tensor:
    """A gradient must have its input's shape; its dtype is cast to the input's, as PyTorch."""
    if not isinstance(grad, Tensor):
        grad = _wrap(np.asarray(grad))
    if type(target) is not Node:  # a leaf
        shape, dtype = target.data.shape, target.data.dtype
    elif target.output_meta:  # output `index` of a Function that returned a tuple
        shape, dtype = target.output_meta[index]
    else:  # (kept as two attributes: a tuple per node would be one more object for the gc)
        shape, dtype = target._out_shape, target._out_dtype
    if grad.data.shape != shape:
        raise RuntimeError(
            f"{node.fn.__name__}.backward returned a gradient of shape {grad.data.shape} for an "
            f"input of shape {shape}"
        )
    if grad.data.dtype != dtype:
        grad = _wrap(grad.data.astype(dtype))
    return grad


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> tuple:
    """d(outputs)/d(inputs) as a tuple of Tensors (None where unused), leaving `.grad` alone.

    With `create_graph=True` the returned gradients are themselves differentiable.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outputs) if len(outputs) == 1 else grad_outputs
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    seeds = []
    for output, seed in zip(outputs, grad_outputs):
        if seed is None:
            if output.size != 1:
                raise RuntimeError(
                    f"grad: grad_outputs is needed for a non-scalar output of shape {output.shape}"
                )
            seed = np.ones_like(output.data)
        seeds.append(seed)
    return tuple(run_backward(outputs, seeds, retain_graph, create_graph, inputs))


# --- Anomaly detection hooks (enabled by minigrad.debug.detect_anomaly) ------------------------


def _check_forward(node: Node, inputs: tuple, output: Tensor) -> None:
    """Under detect_anomaly: remember where the op was called; refuse a non-finite output."""
    node.created_at = _user_frames()
    if np.all(np.isfinite(output.data)):
        return
    for index, x in enumerate(inputs):
        if isinstance(x, Tensor) and not np.all(np.isfinite(x.data)):
            raise FloatingPointError(
                f"input {index} of {node.fn.__name__} (shape {x.shape}) already contains NaN or "
                f"inf; the op was called at:\n{node.created_at}"
            )
    raise FloatingPointError(
        f"{node.fn.__name__} produced NaN or inf in its output of shape {output.shape} from "
        f"finite inputs; the op was called at:\n{node.created_at}"
    )


def _check_backward(node: Node, input_grads: tuple) -> None:
    """Under detect_anomaly: refuse a non-finite gradient, naming the op and where it was made."""
    for index, g in enumerate(input_grads):
        if g is not None and not np.all(np.isfinite(np.asarray(getattr(g, "data", g)))):
            where = node.created_at or "(the op was created before anomaly detection was on)"
            raise FloatingPointError(
                f"{node.fn.__name__}.backward produced NaN or inf in the gradient of input "
                f"{index}; the op was called at:\n{where}"
            )


def _user_frames(keep: int = 3) -> str:
    """The innermost stack frames outside the minigrad package: the user's own lines."""
    package = __file__.rsplit("/", 1)[0].rsplit("\\", 1)[0]
    frames = [f for f in traceback.extract_stack() if not f.filename.startswith(package)]
    return "".join(traceback.format_list(frames[-keep:]))
