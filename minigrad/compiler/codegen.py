"""Code generation: a finished program becomes one generated Python function of numpy calls.

Each statement is written by its Function's lowering, which sits beside its forward in the ops
class: `lower(out, *args)` returns the numpy statement(s) that write the result into the
preallocated buffer `out` (an `Operand`, as are the tensor arguments; other arguments are
`Literal`s), and `lower_view(outs, *args)` returns, for a view op, one expression per output
that views its input. A Function with neither (a user's) is replayed by calling its forward.

Buffers are planned by liveness over forward then backward: a buffer is reused once the last
reader of every value living in it has run. Forward values that backward reads keep their
buffers (backward may run twice with `retain_graph`). Views of buffers are made once, when the
buffers are allocated, not on every call; an input with many views (one per step, say) is
copied into a buffer for that, a large one with few is viewed afresh. A lowering whose Function
says `overwrites = k` writes its result over argument k, which nothing reads afterwards. The
buffers and views of one call live in an `Arena`; a call holds its arena until its backward is
over, so calls whose backward has not run yet get arenas of their own. Outputs and gradients
are fresh arrays, never buffers.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Any

import numpy as np

from ..engine import Tensor, from_numpy

SIMPLE = (type(None), bool, int, float, str, slice, type(Ellipsis))
POOL_LIMIT = 4  # idle arenas a program keeps
COPY_PER_VIEW = 16384  # bytes of an input copied per call cost about as much as making one view


class Operand(str):
    """A tensor operand in generated code: its name, with its shape and dtype."""

    shape: tuple
    dtype: np.dtype

    def __new__(cls, name: str, shape: tuple, dtype: np.dtype) -> Operand:
        self = super().__new__(cls, name)
        self.shape, self.dtype = shape, dtype
        return self

    @property
    def ndim(self) -> int:
        return len(self.shape)


class Literal(str):
    """A static argument in generated code: its source text, with its value."""

    value: Any

    def __new__(cls, text: str, value: Any) -> Literal:
        self = super().__new__(cls, text)
        self.value = value
        return self


def is_simple(value: Any) -> bool:
    """Can `value` be written in source as its repr (numbers, strings, tuples, slices)?"""
    if isinstance(value, tuple):
        return all(is_simple(v) for v in value)
    return isinstance(value, SIMPLE) and not isinstance(value, np.generic)


class ReplayContext:
    """The `ctx` a replayed forward receives: it may set attributes; saving is a no-op."""

    def __init__(self, needs_input_grad: tuple) -> None:
        self.needs_input_grad = needs_input_grad

    def save_for_backward(self, *tensors: Any) -> None:
        pass


def as_array(result: Any) -> np.ndarray:
    """What a forward returned, as an ndarray (numpy gives 0-d results as scalars)."""
    if isinstance(result, Tensor):
        result = result.data
    return result if type(result) is np.ndarray else np.asarray(result)


class Arena:
    """The buffers of one call: the generated forward and backward bound to them."""

    __slots__ = ("forward", "backward", "carried", "pool")

    def __init__(self, forward: Any, backward: Any, pool: list) -> None:
        self.forward, self.backward, self.pool = forward, backward, pool
        self.carried: tuple = ()  # forward's values that backward reads and no buffer holds


class Lease:
    """An arena lent to one call; it goes back to the program's pool when the call is freed."""

    __slots__ = ("arena",)

    def __init__(self, arena: Arena) -> None:
        self.arena = arena

    def __del__(self) -> None:
        arena = self.arena
        if len(arena.pool) < POOL_LIMIT:
            arena.carried = ()
            arena.pool.append(arena)


class Generated:
    """The generated code of a program, and the arenas it runs in."""

    def __init__(self, program: Any) -> None:
        self.program = program
        self.namespace: dict[str, Any] = {
            "np": np,
            "T": from_numpy,
            "Ctx": ReplayContext,
            "as_array": as_array,
        }
        self.pool: list[Arena] = []
        self.probe: dict[str, Any] = {}  # stand-in buffers, to tell views from copies
        self.probe_buffers: list[np.ndarray] = []
        self.plan()
        self.source = self.generate()
        self.probe, self.probe_buffers = {}, []  # the layout is known: free the probes
        exec(compile(self.source, f"<compiled {id(program):x}>", "exec"), self.namespace)
        self.make = self.namespace["make"]
        self.arena_bytes = sum(math.prod(shape) * dtype.itemsize for shape, dtype in self.buffers)
        self.pool.append(self.new_arena())

    # --- planning -------------------------------------------------------------------------------

    def operand(self, value: int) -> Operand:
        shape, dtype = self.program.meta[value]
        return Operand(f"v{value}", shape, dtype)

    def literal(self, value: Any) -> Literal:
        if is_simple(value):
            return Literal(repr(value), value)
        name = f"k{len(self.namespace)}"
        self.namespace[name] = value
        return Literal(name, value)

    def plan(self) -> None:
        """Decide how each statement runs and where each value lives."""
        p = self.program
        statements = p.forward + p.backward
        self.n_forward_statements = len(p.forward)
        self.fresh: set[int] = set()  # values allocated per call (outputs, gradients)
        self.static: dict[int, str] = {}  # value -> "buffer", "view", "constant" or "input"
        self.root: dict[int, int] = {}  # value -> the value owning the memory it lives in
        self.code: list[tuple[str, Any]] = []  # per statement: ("lower"|"view"|"call", payload)
        self.aliases_of: dict[int, list[int]] = {}  # a call's output -> roots it may view
        self.overwritten: dict[int, int] = {}  # result -> the argument it was written over
        outputs, grads = set(p.outputs), {g for g in p.grads if g is not None}
        views_of: dict[int, int] = {}  # value -> how many views statements take of it
        for value, array in p.constants.items():
            self.static[value] = "constant"
            self.namespace[f"v{value}"] = array
        for k, st in enumerate(statements):
            args = [self.operand(x) if is_value else self.literal(x) for is_value, x in st.args]
            outs = [self.operand(v) for v in st.outputs]
            lower_view = getattr(st.fn, "lower_view", None)
            views = lower_view(outs if st.multi else outs[0], *args) if lower_view else None
            if views is not None:
                base = next(x for is_value, x in st.args if is_value)
                views_of[base] = views_of.get(base, 0) + len(st.outputs)
                self.code.append(("view", views if st.multi else [views]))
                for v in st.outputs:
                    self.root[v] = self.root.get(base, base)
                continue
            lower = getattr(st.fn, "lower", None)
            overwrites = getattr(st.fn, "overwrites", None)
            if lower is not None and overwrites is not None:  # written over an argument that
                target = st.args[overwrites][1]  # nothing reads afterwards: the same memory
                self.code.append(("lower", lower(args[overwrites], *args)))
                self.overwritten[st.outputs[0]] = target
                self.root[st.outputs[0]] = self.root.get(target, target)
                continue
            text = lower(outs if st.multi else outs[0], *args) if lower else None
            if text is not None:
                self.code.append(("lower", text))
                in_forward = k < self.n_forward_statements
                for v in st.outputs:
                    self.root[v] = v
                    if v in (outputs if in_forward else grads):
                        self.fresh.add(v)
                    else:
                        self.static[v] = "buffer"
                continue
            name = f"f{k}"
            self.namespace[name] = st.fn
            self.namespace[f"n{k}"] = st.needs_input_grad
            call_args = [f"T({a})" if isinstance(a, Operand) else a for a in args]
            self.code.append(("call", f"{name}.forward(Ctx(n{k}), {', '.join(call_args)})"))
            sources = [x for is_value, x in st.args if is_value]
            for v in st.outputs:  # it may return a view of an input: keep those alive as long
                self.root[v] = v
                self.aliases_of[v] = [self.root.get(x, x) for x in sources]
        for value in p.inputs:
            self.root[value] = value
            shape, dtype = p.meta[value]
            if 0 < math.prod(shape) * dtype.itemsize <= COPY_PER_VIEW * views_of.get(value, 0):
                self.static[value] = "input"  # copied into a buffer, so its views are made once
        self.view_lines: list[tuple[int, str]] = []  # (value, expression) of views made once
        self.place_parts(statements)
        self.liveness(statements)

    def place_parts(self, statements: list) -> None:
        """Producers write straight into their slice of a join's result (`lower_parts`, as
        stack and concatenate have) where the part is a buffer written by a lowering and read
        by nothing that could see the difference; the join then only copies the other parts
        (an input, say), and costs nothing if there are none. Joins are placed in program
        order, except that a join whose result is itself a part of a later join (a GRU's gate
        gradients, concatenated, then stacked over the steps) waits for that one, so its
        parts land in the outer result's slice."""
        self.placed: dict[int, int] = {}  # part -> the join's result it lives in
        made_by = {v: how for st, (how, _) in zip(statements, self.code) for v in st.outputs}
        joins = [k for k, st in enumerate(statements) if hasattr(st.fn, "lower_parts")]
        outer: dict[int, list[int]] = defaultdict(list)  # join -> the joins reading its result
        for k in joins:
            for is_value, x in statements[k].args:
                if is_value:
                    outer[x].append(k)
        settled: set[int] = set()

        def settle(k: int) -> None:
            if k in settled:
                return
            settled.add(k)
            for j in outer.get(statements[k].outputs[0], ()):
                settle(j)
            self.place_join(k, statements[k], made_by)

        for k in joins:
            settle(k)

    def place_join(self, k: int, st: Any, made_by: dict) -> None:
        """Place the parts of the join `st` (statement k) in its result, where they can be."""
        if self.code[k][0] != "lower":
            return
        (target,) = st.outputs
        parts = [x for is_value, x in st.args if is_value]
        placeable = [
            made_by.get(x) == "lower"
            and self.static.get(x) == "buffer"
            and x not in self.placed
            and x not in self.aliases_of
            and parts.count(x) == 1
            for x in parts
        ]
        in_place = self.static.get(target) == "buffer" or target in self.placed
        if not in_place or not any(placeable):
            return
        args = [self.operand(x) if is_value else self.literal(x) for is_value, x in st.args]
        copies = []  # the parts that cannot live in the result (inputs, say) are copied
        for x, expr, place in zip(parts, st.fn.lower_parts(self.operand(target), *args), placeable):
            if not place:
                copies.append(f"np.copyto({expr}, v{x})")
                continue
            self.placed[x] = target
            self.root[x] = self.root.get(target, target)
            self.static[x] = "view"
            self.view_lines.append((x, expr))
        self.code[k] = ("lower", "\n".join(copies)) if copies else ("none", None)

    def home(self, value: int) -> int:
        """The value whose buffer `value` lives in: itself, or the join it is placed in."""
        while value in self.placed:
            value = self.placed[value]
        return value

    def liveness(self, statements: list) -> None:
        """Give every buffer value a buffer id, reusing a buffer once all its readers ran."""
        p = self.program
        end = len(statements)
        last: dict[int, int] = {}  # root -> index of the last statement reading it

        def use(value: int, k: int) -> None:
            root = self.root.get(value, value)
            for r in [root, *self.aliases_of.get(root, ())]:
                last[r] = max(last.get(r, -1), k)

        for k, st in enumerate(statements):
            for is_value, x in st.args:
                if is_value:
                    use(x, k)
            for v in st.outputs:
                use(v, k)
        for v in p.outputs:
            use(v, self.n_forward_statements)  # copied out at the end of forward
        for v in p.grads:
            if v is not None:
                use(v, end)
        backward_reads = set(p.forward_reads(p.backward))
        for v in backward_reads:  # saved for backward: kept to the end (backward may rerun)
            use(v, end)
        self.backward_reads = backward_reads
        self.buffer_of: dict[int, int] = {}
        self.buffers: list[tuple] = []
        free: dict[tuple, list[int]] = {}
        releases: dict[int, list[int]] = {}
        for value in p.inputs:
            if self.static.get(value) == "input":
                self.buffer_of[value] = len(self.buffers)
                self.buffers.append(p.meta[value])
        for k, st in enumerate(statements):
            for v in st.outputs:
                v = self.home(v)  # a part: its join's buffer, allocated at the first
                if self.static.get(v) != "buffer" or v in self.buffer_of:
                    continue
                key = p.meta[v]
                stack = free.get(key)
                if stack:
                    self.buffer_of[v] = stack.pop()
                else:
                    self.buffer_of[v] = len(self.buffers)
                    self.buffers.append(key)
                releases.setdefault(last.get(v, k), []).append(v)
            for v in releases.pop(k, ()):
                free.setdefault(p.meta[v], []).append(self.buffer_of[v])

    # --- the generated source -------------------------------------------------------------------

    def generate(self) -> str:
        """The source of `make(B, V)`: binds buffers B and views V, returns forward, backward."""
        p = self.program
        forward = self.body(0, self.n_forward_statements)
        backward = self.body(self.n_forward_statements, len(self.code))
        carried = sorted(v for v in self.backward_reads if v not in self.static)
        self.carried = carried
        lines = ["def make(B, V):"]
        for v, b in self.buffer_of.items():
            lines.append(f"    v{v} = B[{b}]")
        for k, (v, _) in enumerate(self.view_lines):
            lines.append(f"    v{v} = V[{k}]")
        args = ", ".join(f"a{k}" for k in range(len(p.inputs)))
        lines.append(f"    def forward({args}):")
        for k, value in enumerate(p.inputs):
            if self.static.get(value) == "input":
                lines.append(f"        np.copyto(v{value}, a{k})")
            else:
                lines.append(f"        v{value} = a{k}")
        lines += forward
        handed: set[int] = set()
        outs = "".join(f"{self.handed_out(v, handed)}, " for v in p.outputs)
        keep = "".join(f"v{v}, " for v in carried)
        lines.append(f"        return ({outs}), ({keep})")
        if p.has_backward:
            params = ", ".join([f"v{v}" for v in p.seeds] + [f"v{v}" for v in carried])
            lines.append(f"    def backward({params}):")
            lines += backward
            handed = set()
            grads = "".join(
                "None, " if g is None else f"{self.handed_out(g, handed, seeds=True)}, "
                for g in p.grads
            )
            lines.append(f"        return ({grads})")
        else:
            lines.append("    backward = None")
        lines.append("    return forward, backward")
        return "\n".join(lines) + "\n"

    def handed_out(self, value: int, handed: set, seeds: bool = False) -> str:
        """A value as the call hands it out: itself if it is this call's own fresh array."""
        own = value in self.fresh or (seeds and self.program.kinds[value] == "seed")
        if own and value not in handed:
            handed.add(value)
            return f"v{value}"
        return f"np.array(v{value}, copy=True)"

    def body(self, start: int, stop: int) -> list[str]:
        p = self.program
        statements = (p.forward + p.backward)[start:stop]
        lines = []
        for st, (how, payload) in zip(statements, self.code[start:stop]):
            if how == "view":
                base = next(x for is_value, x in st.args if is_value)
                base_static = self.static.get(base) in ("buffer", "input", "view")
                for v, expr in zip(st.outputs, payload):
                    if base_static and self.is_true_view(v, expr):
                        self.static[v] = "view"
                        self.view_lines.append((v, expr))
                    else:
                        lines.append(f"        v{v} = {expr}")
            elif how == "none":  # a join whose parts were written in place
                continue
            elif how == "lower":
                for v in st.outputs:
                    if v in self.fresh:
                        shape, dtype = p.meta[v]
                        lines.append(f"        v{v} = np.empty({shape!r}, np.{dtype.name})")
                lines += [f"        {self.direct(line)}" for line in payload.splitlines()]
                if st.outputs[0] in self.overwritten:
                    lines.append(f"        v{st.outputs[0]} = v{self.overwritten[st.outputs[0]]}")
            else:
                targets = ", ".join(f"v{v}" for v in st.outputs)
                if st.multi:
                    lines.append(f"        {targets}, = map(as_array, {payload})")
                else:
                    lines.append(f"        {targets} = as_array({payload})")
        return lines

    def direct(self, line: str) -> str:
        """A lowered line calling numpy without attribute lookups: `np.add(a, b, out=o)`
        becomes `np_add(a, b, o)`, with `np_add` bound to `np.add` (out positional, which
        ufuncs take; about a third less call overhead on small arrays)."""

        def bind(match: re.Match) -> str:
            path = match.group(1)
            target: Any = np
            for part in path.split("."):
                target = getattr(target, part)
            name = "np_" + path.replace(".", "_")
            self.namespace[name] = target
            return name + "("

        call = re.match(r"np\.(\w+)\((.*), out=(v\d+)\)$", line)
        if (
            call
            and isinstance(getattr(np, call.group(1)), np.ufunc)
            and call.group(1)
            not in (
                "maximum",
                "minimum",  # their third positional argument is deprecated
            )
        ):
            line = f"np.{call.group(1)}({call.group(2)}, {call.group(3)})"
        return re.sub(r"\bnp\.([\w.]+)\(", bind, line)

    def is_true_view(self, value: int, expr: str) -> bool:
        """Does `expr`, evaluated on probe buffers, view its base (reshape may copy)?"""
        if not self.probe_buffers:
            self.probe = {f"v{v}": np.empty(*self.program.meta[v]) for v in self.program.inputs}
            self.probe_buffers = [np.empty(shape, dtype) for shape, dtype in self.buffers]
            for v, b in self.buffer_of.items():
                self.probe[f"v{v}"] = self.probe_buffers[b]
            for v, view in self.view_lines:  # the parts placed in a join's result
                self.probe[f"v{v}"] = eval(view, self.namespace, self.probe)
        result = eval(expr, self.namespace, self.probe)
        if type(result) is not np.ndarray or result.shape != self.program.meta[value][0]:
            return False
        if not any(np.shares_memory(result, b) for b in self.probe_buffers):
            return False
        self.probe[f"v{value}"] = result
        return True

    # --- running --------------------------------------------------------------------------------

    def new_arena(self) -> Arena:
        """Allocate a fresh set of buffers and make the views of them."""
        buffers = [np.empty(shape, dtype) for shape, dtype in self.buffers]
        scope: dict[str, Any] = {}
        for v, b in self.buffer_of.items():
            scope[f"v{v}"] = buffers[b]
        views = []
        for v, expr in self.view_lines:
            view = eval(expr, self.namespace, scope)
            scope[f"v{v}"] = view
            views.append(view)
        forward, backward = self.make(buffers, views)
        return Arena(forward, backward, self.pool)

    def run_forward(self, arrays: list[np.ndarray]) -> tuple[list, Lease]:
        """(outputs, the lease on the arena holding what backward reads)."""
        arena = self.pool.pop() if self.pool else self.new_arena()
        lease = Lease(arena)
        outputs, arena.carried = arena.forward(*arrays)
        return list(outputs), lease

    def run_backward(self, lease: Lease, seeds: list[np.ndarray]) -> list:
        arena = lease.arena
        return list(arena.backward(*seeds, *arena.carried))
