"""`minigrad.compile`: trace a function of Tensors once per signature, then replay the program.

A compiled call is one node of the graph, a `CompiledCall`: its forward replays the traced
forward program and its backward the traced backward program, so `out.backward()` and
`mg.grad` fill the same gradients as eager mode. Programs are cached per signature: the
shapes, dtypes and requires_grad of the tensor arguments, the values of the other arguments,
the grad mode, and the identity of the parameters of Modules passed in or closed over.
"""

from __future__ import annotations

import functools
import types
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..autograd import grad
from ..engine import Function, Tensor, from_numpy
from ..grad_mode import state
from ..nn.module import Module
from . import passes, tracing
from .program import Program
from .tracing import DATA, CompileError, EagerFallback, Recorder

LEAF = ("*",)
TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}  # check=True, relative


class CompiledCall(Function):
    """One compiled call as one node: forward replays the forward program, backward the other."""

    @staticmethod
    def forward(ctx, program, *inputs):
        outputs, saved = program.run_forward([x.data for x in inputs])
        if program.has_backward:  # the inputs are locked as eager would; create_graph reads them
            ctx.save_for_backward(*inputs, carrier(saved))
        ctx.program = program
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grads):
        program = ctx.program
        *inputs, saved = ctx.saved_tensors
        if state.enabled:  # backward(create_graph=True): replay op by op, recorded by the engine
            return (None, *program.run_recorded(inputs, grads))
        return (None, *program.run_backward(saved.data.values, [g.data for g in grads]))


class SavedValues(np.ndarray):
    """An empty array carrying a call's saved values (the lease on its buffers): saved with the
    node, they are released when the engine releases it after backward, as eager's are."""

    values: Any


def carrier(values: Any) -> Tensor:
    array = np.empty(0).view(SavedValues)
    array.values = values
    tensor = from_numpy(np.empty(0))
    DATA.__set__(tensor, array)
    return tensor


class Compiled:
    """A function compiled by `minigrad.compile`: call it as the function itself.

    `program(*args)` gives the traced program for those arguments (print it to read it);
    `traces` counts how many times the function has been traced.
    """

    def __init__(self, fn: Callable, check: bool = False, max_traces: int = 8) -> None:
        functools.update_wrapper(self, fn, updated=())  # its name and docstring, not its dict
        self.fn = fn
        self.check = check
        self.max_traces = max_traces
        self.cache: OrderedDict[tuple, Program] = OrderedDict()
        self.traces = 0
        self._warned = False

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        return self if obj is None else types.MethodType(self, obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if state.tracer is not None or state.anomaly or state.observers:
            return self.fn(*args, **kwargs)  # inside another trace, or under the debug tools
        program, leaves = self.lookup(args, kwargs)
        if program.fallback is not None:
            return self.fn(*args, **kwargs)
        tensors = [x for x in leaves if isinstance(x, Tensor)]
        outputs = CompiledCall.apply(program, *tensors, *program.captured)
        return unflatten(program.out_tree, iter(outputs))

    def program(self, *args: Any, **kwargs: Any) -> Program:
        """The program a call with these arguments runs (traced now if it is not cached)."""
        return self.lookup(args, kwargs)[0]

    def workspace_bytes(self) -> int:
        """Bytes of the buffers one call of each cached program keeps between calls."""
        return sum(p.generated.arena_bytes for p in self.cache.values() if p.generated)

    def lookup(self, args: tuple, kwargs: dict) -> tuple[Program, list]:
        leaves: list = []
        tree = flatten((args, kwargs), leaves)
        key = (state.enabled, tree, tuple(map(signature, leaves)), self.guard())
        program = self.cache.get(key)
        if program is not None and captured_unchanged(program):
            self.cache.move_to_end(key)
            return program, leaves
        program = self.trace(leaves, tree)
        self.cache[key] = program
        if len(self.cache) > self.max_traces:
            self.cache.popitem(last=False)
        return program, leaves

    def guard(self) -> tuple:
        """What the function reaches without receiving it: tensors, Modules' parameters and
        arrays in its closure or named as its globals, by identity (a rebinding retraces)."""
        fn = self.fn
        objects = [fn, getattr(fn, "__self__", None)]
        for cell in getattr(fn, "__closure__", None) or ():
            try:
                objects.append(cell.cell_contents)
            except ValueError:  # a cell not filled yet
                pass
        code, namespace = getattr(fn, "__code__", None), getattr(fn, "__globals__", None)
        if code is not None and namespace is not None:
            objects += [namespace.get(name) for name in code.co_names]
        return tuple(
            signature(x) if isinstance(x, Module) else (id(x), x.shape, x.dtype.str)
            for x in objects
            if isinstance(x, (Tensor, Module, np.ndarray))
        )

    def trace(self, leaves: list, tree: tuple) -> Program:
        self.traces += 1
        if self.traces > self.max_traces and not self._warned:
            self._warned = True
            warnings.warn(
                f"compile: {getattr(self.fn, '__name__', 'the function')} has been traced "
                f"{self.traces} times (the cache keeps {self.max_traces}): its calls keep "
                f"changing shapes, dtypes, requires_grad or non-tensor arguments; each change "
                f"costs a trace",
                RuntimeWarning,
                stacklevel=4,
            )
        recorder = Recorder()
        program = recorder.program
        traced = [
            recorder.input(x, state.enabled and x.requires_grad) if isinstance(x, Tensor) else x
            for x in leaves
        ]
        args, kwargs = unflatten(tree, iter(traced))
        random_state = numpy_random_state()
        tracing.active, state.tracer = recorder, recorder
        try:
            outputs: list = []
            program.out_tree = flatten(self.fn(*args, **kwargs), outputs)
            for x in outputs:
                if not isinstance(x, Tensor):
                    raise CompileError(
                        f"compile: the function returned a {type(x).__name__}; a compiled "
                        f"function returns Tensors (alone, or in tuples, lists or dicts)"
                    )
            if numpy_random_state() != random_state:
                raise CompileError(
                    "compile: the function draws random numbers from np.random while it is "
                    "traced; they would be fixed into the compiled program (the same numbers "
                    "on every call). Draw them outside and pass them in as a Tensor."
                )
            program.outputs = [recorder.value_of(x) for x in outputs]
            state.tracer = None
            if any(program.requires_grad):
                recorder.trace_backward()
            program.snapshot("traced")
            for rewrite in passes.PASSES:
                rewrite(program)
                program.snapshot(rewrite.__name__)
            program.finish()
        except EagerFallback as reason:
            program = Program()
            program.fallback = str(reason)
        finally:
            tracing.active, state.tracer = None, None
        if self.check and program.fallback is None:
            self.verify(program, leaves, tree)
        return program

    def verify(self, program: Program, leaves: list, tree: tuple) -> None:
        """Run eager beside the program (on copies of the arguments); raise if they differ."""
        copies = [
            Tensor(x.data, requires_grad=state.enabled and x.requires_grad)
            if isinstance(x, Tensor)
            else x
            for x in leaves
        ]
        args, kwargs = unflatten(tree, iter(copies))
        expected: list = []
        flatten(self.fn(*args, **kwargs), expected)
        tensors = [x for x in leaves if isinstance(x, Tensor)] + program.captured
        outputs, saved = program.run_forward([x.data for x in tensors])
        for k, (got, want) in enumerate(zip(outputs, expected)):
            compare(f"output {k}", got, want.data)
        if not program.has_backward:
            return
        rng = np.random.default_rng(0)
        seeds = [
            rng.standard_normal(shape).astype(dtype)
            for shape, dtype in (program.meta[v] for v in program.outputs)
        ]
        got_grads = program.run_backward(saved, seeds)
        inputs = [x for x in copies if isinstance(x, Tensor)] + program.captured
        wrt = [x for x, need in zip(inputs, program.requires_grad) if need]
        # One scalar, sum((output * seed).sum()), so outputs feeding each other count once.
        terms = [(o * from_numpy(s)).sum() for o, s in zip(expected, seeds) if o.requires_grad]
        want_grads: tuple = (None,) * len(wrt)
        if terms and wrt:
            want_grads = grad(functools.reduce(Tensor.__add__, terms), wrt, allow_unused=True)
        wanted = iter(want_grads)
        for k, (need, got) in enumerate(zip(program.requires_grad, got_grads)):
            if need:
                want = next(wanted)
                shape, dtype = program.meta[program.inputs[k]]
                compare(
                    f"the gradient of input {k}",
                    np.zeros(shape, dtype) if got is None else got,
                    np.zeros(shape, dtype) if want is None else want.data,
                )


def compare(what: str, got: np.ndarray, want: np.ndarray) -> None:
    """Raise unless `got` equals `want` up to float rounding (relative to want's size)."""
    if got.shape != want.shape or got.dtype != want.dtype:
        raise CompileError(
            f"compile(check=True): {what} has shape {got.shape} ({got.dtype}) compiled but "
            f"{want.shape} ({want.dtype}) in eager mode"
        )
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    error = float(np.max(np.abs(got - want), initial=0.0))
    if not error <= TOLERANCE[want.dtype] * scale:  # NaN-safe
        raise CompileError(
            f"compile(check=True): {what} of shape {want.shape} differs from eager mode by "
            f"{error:.3g} (largest |difference|, against values up to {scale:.3g}): the "
            f"compiled program is wrong"
        )


def numpy_random_state() -> tuple:
    """Where numpy's global random stream is (it moves whenever np.random draws)."""
    legacy = np.random.get_state(legacy=False)
    return legacy["state"]["pos"], legacy["state"]["key"].tobytes(), legacy["has_gauss"]


def captured_unchanged(program: Program) -> bool:
    """Do the captured tensors still have the shape, dtype and requires_grad traced?"""
    for tensor, value, need in zip(
        program.captured,
        program.inputs[program.n_args :],
        program.requires_grad[program.n_args :],
    ):
        data = tensor.data
        if (data.shape, data.dtype) != program.meta[value]:
            return False
        if (state.enabled and tensor.requires_grad) != need:
            return False
    return True


def signature(x: Any) -> Any:
    """What of an argument decides the program: a tensor's shape, dtype and requires_grad..."""
    if isinstance(x, Tensor):
        return ("T", x.shape, x.dtype.str, state.enabled and x.requires_grad)
    if isinstance(x, Module):
        return ("M", id(x), tuple(map(id, x.parameters())))
    if isinstance(x, np.ndarray):  # fixed into the program by value
        return ("A", x.shape, x.dtype.str, x.tobytes())
    try:
        hash(x)
    except TypeError:
        raise TypeError(
            f"compile: an argument of type {type(x).__name__} is neither a Tensor nor hashable, "
            f"so calls cannot be told apart; pass Tensors, Modules, numbers, strings or tuples"
        ) from None
    return ("S", type(x), x)


def flatten(x: Any, leaves: list) -> tuple:
    """The nesting of tuples, lists and dicts in `x` (hashable), appending its leaves."""
    if type(x) is tuple or type(x) is list:
        return (type(x).__name__, tuple(flatten(item, leaves) for item in x))
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # a namedtuple
        return ("namedtuple", type(x), tuple(flatten(item, leaves) for item in x))
    if type(x) is dict:
        return ("dict", tuple(x), tuple(flatten(item, leaves) for item in x.values()))
    leaves.append(x)
    return LEAF


def unflatten(tree: tuple, leaves: Iterator) -> Any:
    """Rebuild what `flatten` took apart, taking the leaves in order."""
    kind = tree[0]
    if kind == "*":
        return next(leaves)
    if kind == "tuple":
        return tuple(unflatten(t, leaves) for t in tree[1])
    if kind == "list":
        return [unflatten(t, leaves) for t in tree[1]]
    if kind == "namedtuple":
        return tree[1]._make(unflatten(t, leaves) for t in tree[2])
    return dict(zip(tree[1], (unflatten(t, leaves) for t in tree[2])))


def compile(  # noqa: A001 - mirrors torch.compile
    fn: Callable | None = None, check: bool = False, max_traces: int = 8
) -> Any:
    """Compile `fn` (a function of Tensors): trace it once per signature, then replay it.

    The result is called like `fn` and returns what it returns; backward through it fills the
    same gradients as eager. `check=True` runs eager beside each new program and raises if any
    output or gradient differs beyond float rounding. Usable as `@compile` or `@compile(...)`.
    """
    if fn is None:
        return lambda f: Compiled(f, check, max_traces)
    return Compiled(fn, check, max_traces)


__all__ = ["CompileError", "Compiled", "CompiledCall", "EagerFallback", "compile"]
