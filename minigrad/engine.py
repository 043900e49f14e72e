"""The engine: a Tensor that records the Functions applied to it, and the reverse walk over them.

Read this file top to bottom:
1. `Tensor` holds an array and, if an op made it, the `Node` that op recorded;
2. `Node` is that record: where each input's gradient goes (its *edges*) and what forward saved;
3. `Function.apply` runs a primitive's forward and records the Node (the `ctx` forward and
   backward receive);
4. `run_backward` visits the recorded nodes in reverse topological order (Kahn's algorithm, no
   recursion) and hands each one the gradient of its output(s).
The primitives themselves live in `ops/`, which also attaches Tensor's operators and methods.
Grad mode is in `grad_mode.py`, saved-tensor bookkeeping in `saved.py`, error texts and anomaly
checks in `checks.py`, and `grad()` in `autograd/`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np

from . import checks, saved
from .grad_mode import current, threads

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class Tensor:
    """An n-dimensional array that remembers how it was computed, so gradients can flow back.

    Its operators and methods, declared below the slots, are the primitives of `minigrad.ops`,
    attached in one place there (`ops.install_tensor_methods`).
    """

    # `_autograd` stays unset (so costs nothing) until a leaf hook or create_graph needs it.
    __slots__ = ("data", "grad", "requires_grad", "_edge", "_autograd", "__weakref__")
    __hash__ = object.__hash__  # by identity, as PyTorch: `==` is elementwise, keys stay usable

    data: np.ndarray
    _edge: tuple[Node, int] | None  # (the node that made it, which output); None for a leaf
    _autograd: dict  # rare autograd state (leaf hooks, create_graph's gradient), once needed
    grad: np.ndarray | None

    # Attached by `ops.install_tensor_methods` (declared here so type checkers know them):
    __add__: Callable[[Tensor, Any], Tensor]
    __radd__: Callable[[Tensor, Any], Tensor]
    __sub__: Callable[[Tensor, Any], Tensor]
    __rsub__: Callable[[Tensor, Any], Tensor]
    __mul__: Callable[[Tensor, Any], Tensor]
    __rmul__: Callable[[Tensor, Any], Tensor]
    __truediv__: Callable[[Tensor, Any], Tensor]
    __rtruediv__: Callable[[Tensor, Any], Tensor]
    __pow__: Callable[[Tensor, Any], Tensor]
    __rpow__: Callable[[Tensor, Any], Tensor]
    __matmul__: Callable[[Tensor, Any], Tensor]
    __rmatmul__: Callable[[Tensor, Any], Tensor]
    __neg__: Callable[[Tensor], Tensor]
    __getitem__: Callable[[Tensor, Any], Tensor]
    __lt__: Callable[[Tensor, Any], np.ndarray]
    __le__: Callable[[Tensor, Any], np.ndarray]
    __gt__: Callable[[Tensor, Any], np.ndarray]
    __ge__: Callable[[Tensor, Any], np.ndarray]
    __eq__: Callable[[Tensor, Any], np.ndarray]  # type: ignore[assignment]
    __ne__: Callable[[Tensor, Any], np.ndarray]  # type: ignore[assignment]
    __iter__: Callable[[Tensor], Any]
    __iadd__: Callable[[Tensor, Any], Tensor]  # in place (ops/inplace.py), as add_ ...
    __isub__: Callable[[Tensor, Any], Tensor]
    __imul__: Callable[[Tensor, Any], Tensor]
    __itruediv__: Callable[[Tensor, Any], Tensor]
    add_: Callable[[Tensor, Any], Tensor]
    sub_: Callable[[Tensor, Any], Tensor]
    mul_: Callable[[Tensor, Any], Tensor]
    div_: Callable[[Tensor, Any], Tensor]
    zero_: Callable[[Tensor], Tensor]
    fill_: Callable[[Tensor, Any], Tensor]
    copy_: Callable[[Tensor, Any], Tensor]
    exp: Callable[..., Tensor]
    log: Callable[..., Tensor]
    tanh: Callable[..., Tensor]
    sigmoid: Callable[..., Tensor]
    relu: Callable[..., Tensor]
    sum: Callable[..., Tensor]
    max: Callable[..., Any]
    mean: Callable[..., Tensor]
    reshape: Callable[..., Tensor]
    transpose: Callable[..., Tensor]
    broadcast_to: Callable[..., Tensor]
    size: Callable[..., Any]  # PyTorch's surface: size() is the shape, numel() the count
    numel: Callable[[Tensor], int]
    dim: Callable[[Tensor], int]
    tolist: Callable[[Tensor], Any]
    min: Callable[..., Any]  # a Tensor, or (values, indices) along a dim, as max
    __abs__: Callable[[Tensor], Tensor]
    sqrt: Callable[..., Tensor]
    abs: Callable[..., Tensor]
    minimum: Callable[..., Tensor]
    clamp: Callable[..., Tensor]
    clip: Callable[..., Tensor]
    register_hook: Callable[..., Any]  # autograd/hooks.py
    grad_tensor: Tensor | None  # autograd/hooks.py
    chunk: Callable[..., list[Tensor]]
    split: Callable[..., list[Tensor]]
    to: Callable[..., Tensor]
    astype: Callable[..., Tensor]
    double: Callable[..., Tensor]
    clone: Callable[..., Tensor]
    contiguous: Callable[..., Tensor]
    view: Callable[..., Tensor]
    flatten: Callable[..., Tensor]
    squeeze: Callable[..., Tensor]
    unsqueeze: Callable[..., Tensor]
    permute: Callable[..., Tensor]
    swapdims: Callable[..., Tensor]
    expand: Callable[..., Tensor]
    gather: Callable[..., Tensor]
    index_select: Callable[..., Tensor]
    masked_fill: Callable[..., Tensor]
    prod: Callable[..., Tensor]
    cumsum: Callable[..., Tensor]
    var: Callable[..., Tensor]
    std: Callable[..., Tensor]
    logsumexp: Callable[..., Tensor]
    softmax: Callable[..., Tensor]
    log_softmax: Callable[..., Tensor]
    argmax: Callable[..., Tensor]
    argmin: Callable[..., Tensor]
    square: Callable[..., Tensor]
    reciprocal: Callable[..., Tensor]
    sign: Callable[..., Tensor]
    sin: Callable[..., Tensor]
    cos: Callable[..., Tensor]
    erf: Callable[..., Tensor]
    requires_grad_: Callable[..., Tensor]
    T: Tensor

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = as_float_array(data.data if isinstance(data, Tensor) else data, dtype)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._edge = None

    shape = property(lambda self: self.data.shape, doc="Shape of the data, as numpy's.")
    ndim = property(lambda self: self.data.ndim, doc="Number of dimensions.")
    dtype = property(lambda self: self.data.dtype, doc="numpy dtype: float32 or float64.")
    is_leaf = property(lambda self: self._edge is None, doc="True unless an op produced it.")

    @property
    def grad_fn(self) -> Node | None:
        """The Node that produced this tensor, or None for a leaf."""
        return None if self._edge is None else self._edge[0]

    @property
    def output_index(self) -> int:
        """Which output of `grad_fn` this tensor is (0 for a leaf)."""
        return 0 if self._edge is None else self._edge[1]

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
        return from_numpy(self.data)

    def detach_(self) -> Tensor:
        """Cut this tensor off from the graph in place (it becomes a leaf); returns it."""
        self._edge = None
        self.requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Ask backward to fill `.grad` of this non-leaf tensor too."""
        if self._edge is not None:
            node, index = self._edge
            if node.retained is None:
                node.retained = {}
                node.add_hook(fill_retained_grads)
            node.retained[index] = weakref.ref(self)

    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Tensor | Sequence[Tensor] | None = None,
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` (only into `inputs`' if given);
        `gradient` seeds non-scalars."""
        if gradient is None:
            if self.data.size != 1:
                raise checks.implicit_seed("backward", self.shape)
            gradient = np.ones_like(self.data)
        if inputs is None and not hooked_leaves and not create_graph:
            run_backward([self], [gradient], retain_graph, create_graph)
            return
        from .autograd.hooks import backward_collected  # the rarer path: hooks, create_graph

        backward_collected(self, gradient, retain_graph, create_graph, inputs)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(", precision=4)
        extra = f", dtype={self.dtype}"
        if self.grad_fn is not None:
            extra += f", grad_fn=<{self.grad_fn.fn.__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"


default_dtype = [np.dtype(np.float64)]  # what Python numbers become (creation.set_default_dtype)


def as_float_array(data: Any, dtype: Any = None) -> np.ndarray:
    """A fresh float array: numpy float32/float64 keep their dtype; Python numbers, ints and
    bools take the default dtype (float64 unless `set_default_dtype` chose float32, as PyTorch).

    Anything that is not real numbers (None, strings, complex, objects, Tensors inside a list)
    is a TypeError rather than a NaN or a silently dropped imaginary part.
    """
    if isinstance(data, (list, tuple)) and _holds_tensor(data):
        raise TypeError(
            "Tensor: got a list holding Tensors; use minigrad.stack(tensors) (or "
            "concatenate) to join them, which also keeps their gradients"
        )
    array = np.array(data)
    if array.dtype.kind not in "fiub":
        raise checks.not_real_numbers(data, array.dtype)
    if dtype is None:  # numpy floats keep their dtype; Python numbers take the default dtype
        keep = array.dtype in FLOAT_DTYPES and isinstance(data, (np.ndarray, np.generic))
        dtype = array.dtype if keep else default_dtype[0]
    else:
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"Tensor: dtype must be float32 or float64, got {dtype}")
    return array.astype(dtype, copy=False)


def _holds_tensor(items: list | tuple) -> bool:
    """Whether a (nested) list or tuple has a Tensor anywhere in it."""
    return any(
        isinstance(x, Tensor) or (isinstance(x, (list, tuple)) and _holds_tensor(x)) for x in items
    )


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing `array`'s memory, without a copy (as torch.from_numpy).

    This is how a forward returns or saves its own output cheaply; `Tensor(array)` copies.
    """
    if isinstance(array, np.floating):  # numpy hands 0-d results back as scalars
        array = np.asarray(array)
    if type(array) is not np.ndarray or array.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"from_numpy: expected a float32 or float64 ndarray, got "
            f"{getattr(array, 'dtype', type(array).__name__)}"
        )
    return _tensor(array, None)


def _tensor(data: np.ndarray, edge: tuple[Node, int] | None) -> Tensor:
    """A Tensor around `data` made by the op at `edge` (no checks: the engine's own path)."""
    tensor = Tensor.__new__(Tensor)
    tensor.data = data
    tensor.grad = None
    tensor.requires_grad = edge is not None
    tensor._edge = edge
    return tensor


# --- Nodes and their edges -----------------------------------------------------------------------

# An edge says where a gradient goes: `(node, k)` to output k of the node that made a tensor, or
# `(leaf, 0)` into a leaf's `.grad`. A node keeps one per input (None where no gradient is needed).
# An op's output tensor holds its own edge (its `grad_fn` and `output_index`), so each use of it
# shares that one pair; a leaf's is made when an op records it as an input.
Edge = tuple[Union["Node", "Tensor"], int]


class Node:
    """One recorded call of a Function: where its gradients go and what forward saved.

    It is also the `ctx` that forward and backward receive. A node does not hold its input
    tensors, only an edge for each input that needs a gradient, so an intermediate result that
    backward does not need (because nothing saved it) is freed as soon as you drop it.
    """

    n_outputs = 1  # a Function may return a tuple of outputs (split does)
    out_shape: tuple = ()  # the output's shape and dtype: what its gradient must have
    out_dtype: Any = None
    output_meta: tuple = ()  # (shape, dtype) of each output, kept instead when there are several
    output_labels: Sequence[str] | None = None  # names an op gives its outputs, for pictures
    hooks: list | None = None  # hook(node, grads) called when backward reaches this node
    tensor_hooks: dict | None = None  # output index -> {key: hook}, from Tensor.register_hook
    materialize_grads = True  # False: backward gets None (not zeros) for outputs without grad
    retained: dict | None = None  # output index -> weakref, for outputs that retain_grad()
    created_at: str | None = None  # where the op was called, under anomaly detection
    _saved: tuple | None = ()  # where each saved tensor came from (saved.py); None once released
    _saved_data: tuple = ()  # the saved arrays
    _guard: saved.Guard | None = None  # unlocks the arrays this node made read-only

    def __init__(self, fn: type[Function], edges: tuple) -> None:
        self.fn = fn
        self.edges = edges  # per forward argument, its `Edge` (None: no gradient needed)

    @property
    def needs_input_grad(self) -> tuple:
        """For each argument of forward: does it need a gradient?"""
        return tuple([edge is not None for edge in self.edges])

    @property
    def next_functions(self) -> tuple:
        """Per argument of forward, (node or leaf, output index), or (None, 0): PyTorch's view."""
        return tuple([(None, 0) if edge is None else edge for edge in self.edges])

    @property
    def output_shapes(self) -> tuple:
        """The shape of each output."""
        if self.output_meta:
            return tuple([shape for shape, _ in self.output_meta])
        return (self.out_shape,)

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep these tensors (inputs or the output) for backward."""
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        """The saved tensors, rebuilt from the saved arrays and their sources (see saved.py)."""
        if self._saved is None:
            raise checks.released(self.fn.__name__)
        tensors: list[Tensor | None] = []
        for source, data in zip(self._saved, self._saved_data):
            if type(source) is int:  # ~k: our own output k
                tensors.append(_tensor(data, (self, ~source)))
            elif source is None:  # nothing saved, or an input that needs no gradient: a constant
                tensors.append(None if data is None else _tensor(data, None))
            elif type(source[0]) is Node:  # an input an op made: hung from its edge again
                tensors.append(_tensor(data, source))  # source: (node, k)
            else:  # a leaf (or a tensor that was neither input nor output): the tensor itself
                leaf = source[0]
                if leaf.data is not data:
                    raise checks.data_replaced(self.fn.__name__, data.shape)
                tensors.append(leaf)
        return tuple(tensors)

    def mark_non_differentiable(self, *outputs: Any) -> None:
        """Forward's outputs (the very objects it returns) that get no gradient: an index, a mask.

        They come out not requiring grad; backward still gets a (zero) gradient for each.
        """
        global marking
        marked[self], marking = outputs, True

    def set_materialize_grads(self, value: bool) -> None:
        """False: backward receives None, not zeros, for an output that received no gradient."""
        self.materialize_grads = bool(value)

    def add_hook(self, hook: Callable[[Node, tuple], Any]) -> None:
        """Call `hook(node, grads)` when backward reaches this node, before its backward runs.

        A tuple it returns (one gradient per output) replaces `grads`, as `register_hook` does.
        """
        self.hooks = [*(self.hooks or ()), hook]

    def release(self) -> None:
        """Free (and unlock) what forward saved: backward through this node is over."""
        self._saved = None
        self._saved_data = ()
        self._guard = None

    def __repr__(self) -> str:
        return f"<{self.fn.__name__} node>"


# id(leaf) -> weakref, for each live leaf with hooks: while there is none, backward needs no
# detour through collect_grads. (The hooks themselves are in the leaf's `autograd_extras`.)
hooked_leaves: dict[int, weakref.ref] = {}


def autograd_extras(tensor: Tensor, create: bool = True) -> dict:
    """A tensor's rarely used autograd state, made on first use: its hooks (for a leaf) and the
    gradient graph of `backward(create_graph=True)` (minigrad/autograd/hooks.py). Kept on the
    tensor, so freed with it; `create=False` only looks (an empty dict if there is none)."""
    extras = getattr(tensor, "_autograd", None)
    if extras is None:
        if not create:
            return {}
        extras = tensor._autograd = {}
    return extras


def fill_retained_grads(node: Node, grads: tuple) -> None:
    """The hook retain_grad() adds: copy the gradient reaching each retained output to `.grad`."""
    for index, ref in (node.retained or {}).items():
        output = ref()
        if output is not None and grads[index] is not None:
            output.grad = np.array(grads[index].data, copy=True)


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


# --- Functions -----------------------------------------------------------------------------------


class _Unrecorded:
    """The `ctx` given to forward when nothing is recorded: saving is a no-op, and no input
    needs a gradient (as PyTorch: `needs_input_grad` is all False)."""

    __slots__ = ("_inputs", "__dict__")  # a slot: storing the inputs is cheap, on every op
    _inputs: tuple

    @property
    def needs_input_grad(self) -> tuple:
        return (False,) * len(self._inputs)

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        pass

    def mark_non_differentiable(self, *outputs: Any) -> None:
        pass

    def set_materialize_grads(self, value: bool) -> None:
        pass


class Function:
    """A differentiable operation, declared as a static `forward` and a static `backward`.

    Same contract as `torch.autograd.Function`: `forward(ctx, *inputs)` runs with recording off
    and returns a Tensor or an ndarray (or a tuple of them); `backward(ctx, *grad_outputs)`
    returns one gradient per input (None where there is none), written with Tensor ops so that
    higher orders work. Every built-in primitive in `minigrad.ops` is a Function; so can yours be.
    In forward, `ctx.mark_non_differentiable(...)` and `ctx.set_materialize_grads(False)` work as
    PyTorch's.
    """

    @staticmethod
    def forward(ctx: Any, *inputs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any) -> Any:
        """Run forward and, if any input requires grad, record the call for backward."""
        try:  # this thread's switches (grad_mode.py), looked up once
            state = threads.state
        except AttributeError:  # the thread's first op
            state = current()
        if state.tracer is not None:  # a function is being traced for compiling (grad_mode.py)
            return state.tracer(cls, inputs)
        if state.enabled:
            edges = tuple(
                [
                    (x._edge or (x, 0)) if isinstance(x, Tensor) and x.requires_grad else None
                    for x in inputs
                ]
            )
            if edges.count(None) != len(edges):  # some input needs a gradient: record
                node = Node(cls, edges)
                state.enabled = False
                try:
                    result = cls.forward(node, *inputs)
                except BaseException:
                    if marking:  # a forward that marked outputs, then failed
                        _forget_marks(node)
                    raise
                finally:
                    state.enabled = True
                if type(result) is tuple:
                    return _record_outputs(node, inputs, result)
                data = _recorded_array(cls, result, inputs)
                output = _tensor(data, (node, 0))
                node.out_shape, node.out_dtype = data.shape, data.dtype  # its gradient's
                if node._saved:
                    node._saved, node._saved_data, node._guard = saved.seal(
                        node._saved, inputs, edges, (result,), (data,)
                    )
                if state.anomaly:
                    _check_forward(node, inputs, (data,))
                if marking:  # forward called ctx.mark_non_differentiable
                    _cut_marked(node, (result,), (output,))
                return output
        ctx = _Unrecorded()
        ctx._inputs = inputs
        result = cls.forward(ctx, *inputs)
        if type(result) is np.ndarray:
            return _tensor(result, None)
        if type(result) is tuple:
            return tuple([_tensor(_as_output_array(cls, r), None) for r in result])
        return _tensor(_as_output_array(cls, result), None)


def _record_outputs(node: Node, inputs: tuple, results: tuple) -> tuple:
    """The recorded outputs of a Function that returned several (each knows its index)."""
    arrays = tuple([_recorded_array(node.fn, result, inputs) for result in results])
    outputs = tuple([_tensor(data, (node, k)) for k, data in enumerate(arrays)])
    node.n_outputs = len(outputs)
    node.output_meta = tuple([(data.shape, data.dtype) for data in arrays])
    if node._saved:
        node._saved, node._saved_data, node._guard = saved.seal(
            node._saved, inputs, node.edges, results, arrays
        )
    if current().anomaly:
        _check_forward(node, inputs, arrays)
    if marking:
        _cut_marked(node, results, outputs)
    return outputs


# node -> the outputs its forward marked non-differentiable, until Function.apply has cut them;
# `marking` says whether there are any, so that an op that marks nothing tests one global flag.
marked: dict[Node, tuple] = {}
marking = False


def _forget_marks(node: Node) -> tuple:
    """Take `node`'s marked outputs out of `marked`, lowering `marking` when none are left."""
    global marking
    outputs = marked.pop(node, ())
    marking = bool(marked)
    return outputs


def _cut_marked(node: Node, results: tuple, outputs: tuple) -> None:
    """Outputs forward marked non-differentiable come out as constants (no grad_fn)."""
    for output in _forget_marks(node):
        found = [k for k, result in enumerate(results) if result is output]
        if not found:
            raise ValueError(
                f"{node.fn.__name__}: mark_non_differentiable was given an object that forward "
                f"did not return; mark the outputs themselves"
            )
        for k in found:
            outputs[k]._edge, outputs[k].requires_grad = None, False


def _check_forward(node: Node, inputs: tuple, arrays: tuple) -> None:
    """Under detect_anomaly: remember where the op was called, and keep track of NaN/inf.

    Using a non-finite output settles it (the op using it either masks it or passes it on); a
    non-finite output becomes pending, blamed on the op that made it from finite inputs (or on
    the input that already was not finite). debug.py raises what is still pending.
    """
    state = current()
    pending = state.anomalies
    node.created_at = checks.user_frames()
    blame = None
    if pending:
        for x in inputs:
            if isinstance(x, Tensor) and x._edge is not None:
                settled = pending.pop(x._edge, None)
                blame = blame or settled
    for index, data in enumerate(arrays):
        if not np.all(np.isfinite(data)):
            input_arrays = [x.data if isinstance(x, Tensor) else None for x in inputs]
            message = blame or checks.forward_anomaly(
                node.fn.__name__, input_arrays, data, node.created_at
            )
            if pending is None:  # anomaly switched on by hand: no block to defer to
                raise FloatingPointError(message)
            pending[(node, index)] = message


# --- Reverse mode --------------------------------------------------------------------------------


def accumulate_grad(leaf: Tensor, grad: Tensor) -> None:
    """Where backward's gradients for leaves go: added into `.grad` (a fresh array at first)."""
    if leaf.grad is None:
        leaf.grad = np.array(grad.data, copy=True)  # never alias the seed or another grad
    else:
        leaf.grad += grad.data


def run_backward(
    outputs: Sequence[Tensor],
    seeds: Sequence[Any],
    retain_graph: bool | None,
    create_graph: bool,
    deliver: Callable[[Tensor, Tensor], None] = accumulate_grad,
) -> None:
    """Propagate `seeds` (one per output) back through the graph, handing leaves to `deliver`.

    Every node runs its backward once, after all the nodes that use its outputs have sent their
    share; `pending` sums those shares per output. With `create_graph` the walk is itself
    recorded, so the gradients can be differentiated again.
    """
    if retain_graph is None:
        retain_graph = create_graph
    pending: dict[Node, list] = {}  # node -> gradient of each of its outputs, summed so far
    roots: list[Node] = []
    for output, seed in zip(outputs, seeds):
        seed = _as_seed(output, seed)
        if output._edge is None:
            if not output.requires_grad:
                raise checks.no_graph(output.shape)
            deliver(output, seed)
        else:
            root, index = output._edge
            _add_to(pending, root, index, seed, create_graph)
            roots.append(root)
    waiting = _count_uses(roots)  # node -> how many of its uses have not sent their gradient yet
    ready = [node for node in dict.fromkeys(roots) if node not in waiting]
    state = current()
    if state.anomaly and state.anomalies:  # a NaN/inf from forward reached here unmasked
        checks.raise_pending(state.anomalies)
    observers = state.observers
    previous_mode, state.enabled = state.enabled, create_graph
    try:
        while ready:
            node = ready.pop()
            slots = pending.pop(node, None)
            if slots is None:  # nothing reached this node; still let its inputs' counts drop
                input_grads: tuple = (None,) * len(node.edges)
            else:
                grads = (slots[0],) if node.n_outputs == 1 else _filled(node, slots)
                if node.hooks is not None or observers:
                    grads = _visit(node, grads, observers)
                input_grads = _call_backward(node, grads, state)
            for edge, input_grad in zip(node.edges, input_grads):
                if edge is None:
                    continue
                target, index = edge
                if input_grad is not None:
                    input_grad = _checked_grad(node, target, index, input_grad)
                if type(target) is not Node:
                    if input_grad is not None:
                        deliver(target, input_grad)  # type: ignore[arg-type]
                    continue
                if input_grad is not None:
                    _add_to(pending, target, index, input_grad, create_graph)
                waiting[target] -= 1
                if waiting[target] == 0:
                    ready.append(target)
            if not retain_graph and node._saved_data:
                node.release()  # free (and unlock) what forward saved, as soon as possible
    finally:
        state.enabled = previous_mode


def _add_to(pending: dict, node: Node, index: int, grad: Tensor, create_graph: bool) -> None:
    """Add `grad` to what output `index` of `node` has received so far."""
    slots = pending.get(node)
    if slots is None:
        pending[node] = slots = [None] * node.n_outputs
    previous = slots[index]
    if previous is None:
        slots[index] = grad
    elif create_graph:
        slots[index] = previous + grad  # recorded, so the sum is differentiable too
    else:  # a fresh array (0-d sums come back as numpy scalars)
        slots[index] = _tensor(np.asarray(previous.data + grad.data), None)


def _visit(node: Node, grads: tuple, observers: tuple) -> tuple:
    """Run the node's hooks, which may replace gradients (`register_hook`), then the observers
    (`debug.trace`, `grad()`), which see zeros where `set_materialize_grads(False)` left None."""
    for hook in node.hooks or ():
        replaced = hook(node, grads)
        if replaced is not None:
            grads = replaced
    if observers:
        shown = grads if node.materialize_grads else _filled(node, list(grads), True)
        for observer in observers:
            observer(node, shown)
    return grads


def _filled(node: Node, slots: list, materialize: bool = False) -> tuple:
    """The gradient of every output of `node`: zeros for an output that received none (unless
    its Function asked for None there, with `ctx.set_materialize_grads(False)`)."""
    if not (materialize or node.materialize_grads):
        return tuple(slots)
    return tuple(
        _tensor(np.zeros(shape, dtype), None) if g is None else g
        for g, (shape, dtype) in zip(slots, node.output_meta)
    )


def _as_seed(output: Tensor, seed: Any) -> Tensor:
    if not isinstance(seed, Tensor):
        seed = _tensor(np.asarray(seed, dtype=output.dtype), None)
    if seed.shape != output.shape:
        raise checks.seed_shape(seed.shape, output.shape)
    return seed


def _count_uses(roots: list[Node]) -> dict[Node, int]:
    """How many recorded uses each node has below the roots (iterative, so no recursion limit)."""
    uses: dict[Node, int] = {}
    stack = list(dict.fromkeys(roots))
    first = set(stack)  # roots are walked from the start, even when another root uses them
    for root in stack:
        _check_not_released(root)
    while stack:
        for edge in stack.pop().edges:
            if edge is None:
                continue
            child = edge[0]
            if type(child) is not Node:
                continue  # a leaf
            count = uses.get(child)
            if count is None:
                if child not in first:
                    _check_not_released(child)
                    stack.append(child)
                count = 0
            uses[child] = count + 1
    return uses


def _check_not_released(node: Node) -> None:
    if node._saved is None:
        raise checks.released(node.fn.__name__)


def _call_backward(node: Node, grads: tuple, state: Any) -> tuple:
    """Run one node's backward: one gradient per input of its forward."""
    input_grads = node.fn.backward(node, *grads)
    if not isinstance(input_grads, tuple):
        input_grads = (input_grads,)
    if len(input_grads) != len(node.edges):
        raise checks.gradient_count(node.fn.__name__, len(input_grads), len(node.edges))
    if state.anomaly:  # the walking thread's switches (grad_mode.State)
        checks.check_backward(node.fn.__name__, input_grads, node.created_at)
    return input_grads


def _checked_grad(node: Node, target: Node | Tensor, index: int, grad: Any) -> Tensor:
    """A gradient must have its input's shape; its dtype is cast to the input's, as PyTorch."""
    if not isinstance(grad, Tensor):
        if not isinstance(grad, (np.ndarray, np.generic)) or grad.dtype.kind not in "fiub":
            raise checks.gradient_type(node.fn.__name__, grad)
        grad = _tensor(np.asarray(grad), None)
    if type(target) is not Node:  # a leaf
        shape, dtype = target.data.shape, target.data.dtype  # type: ignore[union-attr]
    elif target.output_meta:  # output `index` of a Function that returned a tuple
        shape, dtype = target.output_meta[index]
    else:
        shape, dtype = target.out_shape, target.out_dtype  # type: ignore[union-attr]
    if grad.data.shape != shape:
        raise checks.gradient_shape(node.fn.__name__, grad.data.shape, shape)
    if grad.data.dtype != dtype:
        grad = _tensor(grad.data.astype(dtype), None)
    return grad
