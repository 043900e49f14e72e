"""Tracing: run a function once, writing down every `Function.apply` it makes, then its backward.

While `grad_mode.state.tracer` is set, the engine hands every `Function.apply(*inputs)` to it.
`Recorder.__call__` runs the op for real (with the tracer off, so the op records its node as
usual) and appends a `Statement` to the program. The function under trace receives
`TracedTensor`s: ops read their arrays, but Python code that reads a value (`.item()`, `bool`,
`float`, numpy conversion, comparisons, `.data` outside an op) gets a `CompileError` naming its
line, since a value read while tracing would be fixed into the program.

Backward is traced by calling each recorded node's own `backward` in reverse order, with the
tracer on: backwards are written in primitives, so they record too. Gradients reaching the same
value are summed with `Add`, as the engine does. A backward that computes on arrays outside any
op (a mask made with `constant(x.data > 0)`) would be fixed into the program: the built-in ones
are swapped for op-only versions (`masks.BACKWARDS`), and any other is refused.
"""

from __future__ import annotations

import math
import os
import traceback
from typing import Any

import numpy as np

from .. import checks
from ..engine import Function, Tensor, from_numpy
from ..grad_mode import state
from ..ops import Add
from .masks import BACKWARDS, Cast, Detach
from .program import CAPTURED, CONSTANT, INPUT, SEED, VALUE, Program, Statement

DATA: Any = vars(Tensor)["data"]  # the slot holding a Tensor's array (TracedTensor hides it)
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep

active: Recorder | None = None  # the recorder of the trace running now, if any


class CompileError(RuntimeError):
    """A function cannot be compiled as written (the message says why and where)."""


class EagerFallback(Exception):
    """Raised inside a trace when the function uses something only eager mode honours."""


def user_line(keep: int = 3) -> str:
    """The innermost stack frames outside minigrad and numpy: the user's lines that did it."""
    frames = [
        f
        for f in traceback.extract_stack()
        if not f.filename.startswith((_PACKAGE_DIR, _NUMPY_DIR))
    ]
    return "".join(traceback.format_list(frames[-keep:])) or "(no frame outside minigrad)\n"


def value_read(what: str) -> CompileError:
    """The error for Python code reading a traced tensor's value."""
    who = (
        "the function"
        if active is None or not active.in_backward
        else (f"{active.in_backward}.backward")
    )
    return CompileError(
        f"compile: {who} reads the value of a traced tensor ({what}) at\n{user_line()}"
        f"While tracing, a value is only the first call's: a branch or a number taken from it "
        f"would be fixed into the compiled program. Keep the computation in tensor ops "
        f"(mg.where for a branch), move the read out of the compiled function, or run it "
        f"without compile."
    )


class HiddenValue:
    """What `.data` of a traced tensor gives outside an op: its shape and dtype, no values."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple, dtype: np.dtype) -> None:
        self.shape, self.dtype = shape, dtype

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise value_read(f".data.{name}")

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise value_read("numpy conversion of .data")

    def __repr__(self) -> str:
        return f"<value of a traced tensor: shape {self.shape}, {self.dtype}>"


def _refuse(operation: str) -> Any:
    def method(self: Any, *args: Any) -> Any:
        raise value_read(operation)

    return method


for _name in (
    "__bool__ __float__ __int__ __index__ __iter__ __getitem__ __setitem__ __lt__ __le__ __gt__ "
    "__ge__ __add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __pow__ "
    "__neg__ __abs__ __matmul__"
).split():
    setattr(HiddenValue, _name, _refuse(f"{_name.strip('_')} on .data"))


class TracedTensor(Tensor):
    """A tensor inside a trace: ops see its array; Python code sees only its shape and dtype."""

    __slots__ = ()

    @property  # type: ignore[override]
    def data(self) -> Any:
        array = DATA.__get__(self, Tensor)
        if active is None or active.inside:
            return array
        return HiddenValue(array.shape, array.dtype)

    @data.setter
    def data(self, value: Any) -> None:
        if active is not None:
            raise CompileError(
                f"compile: the function assigns .data of a traced tensor at\n{user_line()}"
                f"A compiled program cannot replay that; use tensor ops instead."
            )
        DATA.__set__(self, value)

    def item(self) -> float:
        raise value_read(".item()")

    def numpy(self) -> np.ndarray:
        raise value_read(".numpy()")

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise value_read("numpy conversion")

    __bool__ = _refuse("bool()")
    __float__ = _refuse("float()")
    __int__ = _refuse("int()")
    __index__ = _refuse("use as an index")
    __lt__ = _refuse("comparison <")
    __le__ = _refuse("comparison <=")
    __gt__ = _refuse("comparison >")
    __ge__ = _refuse("comparison >=")

    def detach(self) -> Tensor:
        return Detach.apply(self)

    def backward(self, *args: Any, **kwargs: Any) -> None:
        raise EagerFallback("backward() is called inside the function")

    def retain_grad(self) -> None:
        raise EagerFallback("retain_grad() is called inside the function")

    def register_hook(self, hook: Any) -> None:
        raise EagerFallback("a hook is registered inside the function")

    @property
    def grad_fn(self) -> Any:
        raise EagerFallback("the function reads a grad_fn inside it (hooks run only in eager)")

    def __repr__(self) -> str:
        return f"TracedTensor(shape={self.shape}, dtype={self.dtype})"


def as_traced(tensor: Tensor) -> TracedTensor:
    tensor.__class__ = TracedTensor
    return tensor  # type: ignore[return-value]


class TracedContext:
    """A node as its backward sees it while traced: `saved_tensors` may hand back traced inputs."""

    def __init__(self, node: Any, recorder: Recorder) -> None:
        self.node, self.recorder = node, recorder

    def __getattr__(self, name: str) -> Any:
        return getattr(self.node, name)

    @property
    def saved_tensors(self) -> tuple:
        self.recorder.inside = True  # the engine checks the saved arrays are the inputs' own
        try:
            return self.node.saved_tensors
        finally:
            self.recorder.inside = False


class Recorder:
    """The tracer: runs each op, numbers its values and writes the statements of `program`."""

    def __init__(self) -> None:
        self.program = Program()
        self.index: dict[int, int] = {}  # id(array) -> value, for tensors that ops made or read
        self.captured_ids: dict[int, int] = {}  # id(tensor) -> value, for captured tensors
        self.keep: list = []  # everything numbered, so no id is reused while tracing
        self.entries: list = []  # (node, fn, args, output values) of each recorded forward op
        self.inside = False  # running an op now (its forward may read the arrays)
        self.in_backward: str | None = None  # whose backward is being traced, once in backward
        self.grad_enabled = state.enabled  # the call's grad mode (not a no_grad block inside)

    def register(self, array: np.ndarray, kind: str) -> int:
        value = self.program.new_value(array, kind)
        self.index[id(array)] = value
        self.keep.append(array)
        return value

    def input(self, tensor: Tensor, requires_grad: bool) -> TracedTensor:
        """The traced stand-in for one tensor the call receives (a view: its own value)."""
        view = DATA.__get__(tensor, Tensor).view()
        traced = from_numpy(view)
        traced.requires_grad = requires_grad
        self.program.inputs.append(self.register(view, INPUT))
        self.program.requires_grad.append(requires_grad)
        self.program.n_args += 1
        return as_traced(traced)

    def value_of(self, tensor: Tensor) -> int:
        """The value number of a tensor an op receives (numbering it if it is new)."""
        if self.in_backward is None and type(tensor) is not TracedTensor:
            value = self.captured_ids.get(id(tensor))
            if value is None:  # made outside the trace: a parameter, or a constant
                array = DATA.__get__(tensor, Tensor)
                value = self.program.new_value(array, CAPTURED)
                self.index.setdefault(id(array), value)
                self.keep.append(tensor)
                self.captured_ids[id(tensor)] = value
                self.program.inputs.append(value)
                self.program.requires_grad.append(self.grad_enabled and tensor.requires_grad)
                self.program.captured.append(tensor)
            return value
        array = DATA.__get__(tensor, Tensor)
        value = self.index.get(id(array))
        if value is not None:
            return value
        if self.in_backward is None:
            raise CompileError(
                "compile: the function uses a tensor traced by an earlier call (kept from a "
                "previous trace); pass it in as an argument instead"
            )
        if array.ndim:
            raise CompileError(
                f"compile: {self.in_backward}.backward uses an array of shape {array.shape} "
                f"that no op made (computed from .data?); it would be fixed into the compiled "
                f"program. Write that backward with Tensor ops only."
            )
        value = self.register(array, CONSTANT)  # a literal such as the 1 in `1 - t * t`
        self.program.constants[value] = array
        return value

    def __call__(self, fn: type[Function], inputs: tuple) -> Any:
        args = tuple(
            (True, self.value_of(x)) if isinstance(x, Tensor) else (False, x) for x in inputs
        )
        state.tracer, self.inside = None, True
        try:
            result = fn.apply(*inputs)
        finally:
            state.tracer, self.inside = self, False
        outputs = result if type(result) is tuple else (result,)
        node = outputs[0].grad_fn if outputs else None
        values = []
        for out in outputs:
            array = DATA.__get__(out, Tensor)
            if id(array) in self.index:  # forward returned an array it was given: a new value
                array = array.view()
                DATA.__set__(out, array)
            values.append(self.register(array, VALUE))
            as_traced(out)
        needs = node.needs_input_grad if node is not None else (False,) * len(inputs)
        statement = Statement(fn, args, tuple(values), needs, type(result) is tuple)
        if self.in_backward is None:
            self.program.forward.append(statement)
            if node is not None:
                self.entries.append((node, fn, args, tuple(values)))
        else:
            self.program.backward.append(statement)
        self.keep.append(outputs)
        return result

    # --- backward ---------------------------------------------------------------------------

    def trace_backward(self) -> None:
        """Record the backward program: each node's backward, newest first, seeded per output."""
        program = self.program
        program.has_backward = True
        program.n_forward = len(program.meta)
        grads: dict[int, Tensor] = {}
        previous = state.enabled
        state.enabled, state.tracer, self.in_backward = False, self, "(seed)"
        try:
            for value in program.outputs:
                seed = np.ones(*program.meta[value])
                program.seeds.append(self.register(seed, SEED))
                self.accumulate(grads, value, as_traced(from_numpy(seed)))
            for node, fn, args, values in reversed(self.entries):
                out_grads = [grads.pop(v, None) for v in values]
                if all(g is None for g in out_grads):
                    continue  # nothing reaches this op
                self.in_backward = fn.__name__
                if len(values) > 1:  # an output that got no gradient gets zeros, as in eager
                    out_grads = [
                        self.zeros(v) if g is None else g for g, v in zip(out_grads, values)
                    ]
                input_grads = BACKWARDS.get(fn, fn.backward)(TracedContext(node, self), *out_grads)
                if not isinstance(input_grads, tuple):
                    input_grads = (input_grads,)
                if len(input_grads) != len(args):
                    raise checks.gradient_count(fn.__name__, len(input_grads), len(args))
                for need, (_, x), g in zip(node.needs_input_grad, args, input_grads):
                    if need and g is not None:
                        self.accumulate(grads, x, self.checked(fn, g, x))
        finally:
            state.enabled, state.tracer, self.in_backward = previous, None, None
        program.grads = [
            self.index[id(DATA.__get__(grads[v], Tensor))] if needed and v in grads else None
            for v, needed in zip(program.inputs, program.requires_grad)
        ]

    def accumulate(self, grads: dict, value: int, g: Tensor) -> None:
        previous = grads.get(value)
        grads[value] = g if previous is None else Add.apply(previous, g)

    def zeros(self, value: int) -> Tensor:
        array = np.zeros(*self.program.meta[value])
        self.program.constants[self.register(array, CONSTANT)] = array
        return from_numpy(array)

    def checked(self, fn: type[Function], g: Any, value: int) -> Tensor:
        """A gradient a backward returned: an op's result, of its input's shape and dtype."""
        array = DATA.__get__(g, Tensor) if isinstance(g, Tensor) else None
        if array is None or id(array) not in self.index:
            raise CompileError(
                f"compile: {fn.__name__}.backward returned a gradient that no op made "
                f"({type(g).__name__}); it would be fixed into the compiled program. Write "
                f"that backward with Tensor ops only."
            )
        shape, dtype = self.program.meta[value]
        if array.shape != shape:
            raise checks.gradient_shape(fn.__name__, array.shape, shape)
        return g if array.dtype == dtype else Cast.apply(g, dtype)
