"""A compiled program: straight-line statements over numbered values, and how it is replayed.

A program has two halves, each a list of `Statement`s in the order they run:

    forward   inputs (the call's tensors, then the tensors it captured) -> outputs
    backward  the outputs' gradients (seeds) and the forward values it reads -> input gradients

Every statement is one call of a `Function`. Values are numbered. Once the passes have run,
`finish` turns the program into generated Python (`codegen.py`): each statement becomes the
numpy call(s) of its Function's lowering, writing into preallocated buffers.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ..engine import Function, Tensor, from_numpy
from .codegen import Generated

# What a value is, for the listing and for what replay must copy.
INPUT, CAPTURED, VALUE, SEED, CONSTANT = "input", "captured", "value", "seed", "constant"


class Statement:
    """One call `outputs = fn(args)`: each arg is `(True, value number)` or `(False, static)`."""

    __slots__ = ("fn", "args", "outputs", "needs_input_grad", "multi")

    def __init__(
        self, fn: type[Function], args: tuple, outputs: tuple, needs: tuple, multi: bool
    ) -> None:
        self.fn = fn
        self.args = args
        self.outputs = outputs  # value numbers of what fn returns (several if `multi`)
        self.needs_input_grad = needs  # what forward's ctx said while tracing
        self.multi = multi  # forward returned a tuple


def run_recorded(statements: list[Statement], env: list) -> None:
    """Replay `statements` on Tensors through `Function.apply`, so the engine records them.

    This is the differentiable path (backward with `create_graph=True`): the same statements,
    recorded op by op as eager mode would.
    """
    for st in statements:
        result = st.fn.apply(*[env[x] if is_value else x for is_value, x in st.args])
        if st.multi:
            for value, r in zip(st.outputs, result):
                env[value] = r
        else:
            env[st.outputs[0]] = result


class Program:
    """A traced call, ready to replay: its forward and backward statements and their values."""

    def __init__(self) -> None:
        self.meta: list[tuple] = []  # (shape, dtype) of each value
        self.kinds: list[str] = []  # INPUT, CAPTURED, VALUE, SEED or CONSTANT, per value
        self.inputs: list[int] = []  # the value of each input of the compiled node, in order
        self.requires_grad: list[bool] = []  # per input: does it need a gradient?
        self.n_args = 0  # how many of the inputs are the call's own tensors (the rest: captured)
        self.captured: list[Tensor] = []  # tensors the function used without receiving them
        self.constants: dict[int, np.ndarray] = {}  # value -> array, made while tracing backward
        self.forward: list[Statement] = []
        self.backward: list[Statement] = []
        self.outputs: list[int] = []  # values the call returns, flattened
        self.out_tree: Any = None  # how to nest the outputs again (see compiled.py)
        self.seeds: list[int] = []  # the value of each output's gradient, in backward
        self.grads: list[int | None] = []  # per input, the value of its gradient (None: none)
        self.saved: list[int] = []  # forward values that backward reads
        self.generated: Generated | None = None  # the generated code, once finished
        self.has_backward = False
        self.n_forward = 0  # values numbered below this are forward's; the rest backward's
        self.stages: dict[str, tuple] = {}  # "traced", then each pass: (forward, backward) after
        self._numbers: dict[int, int] | None = None  # see `numbers`
        self.fallback: str | None = None  # why this signature runs eagerly instead, if it does

    # --- building -----------------------------------------------------------------------------

    def new_value(self, array: np.ndarray, kind: str) -> int:
        self.meta.append((array.shape, array.dtype))
        self.kinds.append(kind)
        return len(self.meta) - 1

    def new_meta(self, meta: tuple, kind: str = VALUE) -> int:
        """A new value of this (shape, dtype), for a pass."""
        self.meta.append(meta)
        self.kinds.append(kind)
        return len(self.meta) - 1

    def finish(self) -> None:
        """Work out what backward reads from forward, and generate the code that runs it all."""
        self.saved = self.forward_reads(self.backward)
        self.generated = Generated(self)

    @property
    def source(self) -> str:
        """The generated Python source of this program."""
        return "" if self.generated is None else self.generated.source

    def forward_reads(self, backward: list[Statement]) -> list[int]:
        """The forward values that these backward statements (or the gradients) read."""
        read = {x for st in backward for is_value, x in st.args if is_value}
        read.update(v for v in self.grads if v is not None)
        return sorted(read & self.forward_values())

    def forward_values(self) -> set[int]:
        """The values forward has: its inputs and what its statements make."""
        return {*self.inputs, *(v for st in self.forward for v in st.outputs)}

    def snapshot(self, name: str) -> None:
        """Remember the statements as they are now, as stage `name` (after the pass `name`)."""
        self.stages[name] = (list(self.forward), list(self.backward))

    # --- replaying ----------------------------------------------------------------------------

    def run_forward(self, arrays: list[np.ndarray]) -> tuple[list, Any]:
        """(outputs, what backward needs) of the forward program on the inputs' arrays."""
        assert self.generated is not None, "run_forward on an unfinished program"
        return self.generated.run_forward(arrays)

    def run_backward(self, saved: Any, seeds: list[np.ndarray]) -> list:
        """Per input, its gradient as a fresh array (None where it has none)."""
        assert self.generated is not None, "run_backward on an unfinished program"
        return self.generated.run_backward(saved, seeds)

    def run_recorded(self, inputs: tuple, seeds: tuple) -> list:
        """Forward and backward replayed through the engine: differentiable input gradients."""
        env: list = [None] * len(self.meta)
        for value, tensor in zip(self.inputs, inputs):
            env[value] = tensor
        for value, array in self.constants.items():
            env[value] = from_numpy(array)
        forward, backward = self.stages.get("traced", (self.forward, self.backward))
        run_recorded(forward, env)  # as traced: the passes' fused ops have no backward
        for value, seed in zip(self.seeds, seeds):
            env[value] = seed
        run_recorded(backward, env)
        return [None if v is None else env[v] for v in self.grads]

    # --- printing -----------------------------------------------------------------------------

    def name(self, value: int) -> str:
        """How the listing calls a value: x0 (input), p1 (parameter), c2 (constant), t3, g4;
        a 0-d constant is written as its number."""
        kind, array = self.kind_and_constant(value)
        if array is not None and array.ndim == 0:
            return repr(array.item())  # a literal: 1.0, 0.5
        prefix = {INPUT: "x", CAPTURED: "p", VALUE: "t", SEED: "g", CONSTANT: "c"}[kind]
        return f"{prefix}{self.numbers().get(value, value)}"

    def kind_and_constant(self, value: int) -> tuple[str, np.ndarray | None]:
        """A value's kind for the listing (a captured tensor needing no gradient is a
        constant), and its array if it is a constant."""
        kind = self.kinds[value]
        if kind == CAPTURED:
            position = self.inputs.index(value)
            if self.requires_grad[position]:
                return CAPTURED, None
            return CONSTANT, self.captured[position - self.n_args].data
        return kind, self.constants.get(value)

    def numbers(self) -> dict[int, int]:
        """Display numbers: 0, 1, 2... in the order values first appear in the listing."""
        if self._numbers is None:  # from the statements as traced, so stages share names
            forward, backward = next(iter(self.stages.values()), (self.forward, self.backward))
            order = [*self.inputs, *(v for st in forward for v in st.outputs)]
            order += [*self.seeds, *self.constants]
            order += [v for st in backward for v in st.outputs]
            named = [v for v in dict.fromkeys(order) if self.name_is_numbered(v)]
            self._numbers = {value: k for k, value in enumerate(named)}
        return self._numbers

    def name_is_numbered(self, value: int) -> bool:
        array = self.kind_and_constant(value)[1]
        return array is None or array.ndim > 0

    def typed(self, value: int) -> str:
        shape, dtype = self.meta[value]
        short = {"float32": "f32", "float64": "f64"}.get(str(dtype), str(dtype))
        return f"{self.name(value)}: {short}[{', '.join(map(str, shape))}]"

    def statement_text(self, st: Statement) -> str:
        names = _argument_names(st.fn)
        parts = []
        for position, (is_value, x) in enumerate(st.args):
            if is_value:
                parts.append(self.name(x))
            else:
                label = names[position] if position < len(names) else f"arg{position}"
                parts.append(f"{label}={_static_text(x)}")
        targets = ", ".join(self.name(v) for v in st.outputs)
        return f"{targets} = {st.fn.__name__}({', '.join(parts)})"

    def listing(self, stage: str | None = None) -> str:
        """The forward and backward programs, one statement per line (see `Compiled.program`).

        `stage` is `"traced"` (as recorded) or the name of a pass (as that pass left it);
        None: after all passes.
        """
        if self.fallback is not None:
            return f"# runs eagerly: {self.fallback}"
        if stage is None:
            forward, backward = self.forward, self.backward
        elif stage in self.stages:
            forward, backward = self.stages[stage]
        else:
            raise ValueError(f"listing: no stage {stage!r}; the stages are {list(self.stages)}")
        header = ", ".join(self.typed(v) for v in self.inputs if self.name(v)[0] in "xpc")
        lines = [f"def forward({header}):"]
        lines += [f"    {self.statement_text(st)}" for st in forward]
        lines.append(f"    return {', '.join(self.name(v) for v in self.outputs)}")
        if self.has_backward:
            seeds = ", ".join(self.typed(v) for v in self.seeds)
            saved = ", ".join(self.name(v) for v in self.forward_reads(backward))
            lines += ["", f"def backward({seeds}):  # reads from forward: {saved or 'nothing'}"]
            constants = [v for v in self.constants if self.name(v)[0] == "c"]
            for v in constants:
                lines.append(f"    {self.typed(v)} = constant")
            lines += [f"    {self.statement_text(st)}" for st in backward]
            grads = [
                f"d{self.name(x)}={'None' if g is None else self.name(g)}"
                for x, g, need in zip(self.inputs, self.grads, self.requires_grad)
                if need
            ]
            lines.append(f"    return {', '.join(grads)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.listing()

    def __repr__(self) -> str:
        return f"<compiled program: {len(self.forward)} forward, {len(self.backward)} backward>"


def _argument_names(fn: type[Function]) -> list[str]:
    """The names of forward's parameters after ctx, for the listing."""
    try:
        parameters = list(inspect.signature(fn.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.kind != p.VAR_POSITIONAL]


def _static_text(value: Any) -> str:
    """A static argument, short: arrays by dtype and shape, long reprs cut."""
    if isinstance(value, np.ndarray):
        return f"array({value.dtype}[{', '.join(map(str, value.shape))}])"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
