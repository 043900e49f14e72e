"""Activation derivatives split into a factor from forward values, formed for all steps at
once, and one product per step (in place where the products are stacked)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ...engine import Function
from ...ops import Mul, SigmoidGrad, Stack, TanhGrad, Unstack
from ..program import Program, Statement
from .common import readers
from .gates import GateActivationsGrad


class TanhFactor(Function):
    """1 - t^2: tanh's derivative from its output t, without the gradient it multiplies."""

    @staticmethod
    def forward(ctx, t):
        return 1 - t.data * t.data

    @staticmethod
    def lower(out, t):
        return f"np.multiply({t}, {t}, out={out})\nnp.subtract(1, {out}, out={out})"


class SigmoidFactor(Function):
    """s (1 - s): sigmoid's derivative from its output s, without the gradient."""

    @staticmethod
    def forward(ctx, s):
        return s.data * (1 - s.data)

    @staticmethod
    def lower(out, s):
        return f"np.subtract(1, {s}, out={out})\nnp.multiply({out}, {s}, out={out})"


class GateFactor(Function):
    """y (a1 - y) + a0: `GateActivationsGrad`'s factor for each block, without the gradient."""

    @staticmethod
    def forward(ctx, y, a1, a0):
        return y.data * (a1 - y.data) + a0

    @staticmethod
    def lower(out, y, a1, a0):
        return f"np.subtract({a1}, {y}, out={out})\nnp.multiply({out}, {y}, out={out})\n" + (
            f"np.add({out}, {a0}, out={out})"
        )


class MulInPlace(Function):
    """a * b written over `a`, which nothing reads afterwards (`overwrites` tells codegen)."""

    overwrites = 0

    @staticmethod
    def forward(ctx, a, b):
        return a.data * b.data

    @staticmethod
    def lower(out, a, b):
        return f"np.multiply({a}, {b}, out={out})"


class InPlaceResult(Function):
    """`a` once the products written over its slices have run: they are its other arguments,
    so that they run first and stay live (the result is `a` itself, a view)."""

    @staticmethod
    def forward(ctx, a, *written):
        return a.data

    @staticmethod
    def lower_view(out, a, *written):
        return f"{a}"


FACTORS = {TanhGrad: TanhFactor, SigmoidGrad: SigmoidFactor, GateActivationsGrad: GateFactor}


def batch_derivative_factors(program: Program) -> None:
    """Each step's activation derivative, `TanhGrad(g, t) = g (1 - t^2)` (and sigmoid's and
    the gate blocks'), has a factor that depends on forward values only. The factors of all
    steps are formed at once, over the stacked forward values (each written straight into its
    slice of the stack), so each step only multiplies: 3 calls a step become 1, as the
    hand-derived BPTT precomputes them. Where the steps' products are then stacked (an LSTM's
    gate gradients, for the weight gradients) the factors are formed in that stack and each
    step multiplies in place, so no memory is added; elsewhere the factors take a buffer of
    their own (T times one step's).
    """
    forward_values = program.forward_values()
    groups: dict[tuple, list[Statement]] = defaultdict(list)
    for st in program.backward:
        if st.fn not in FACTORS:
            continue
        saved = st.args[1]
        if not saved[0] or saved[1] not in forward_values:
            continue
        statics = tuple(np.asarray(x).tobytes() for is_value, x in st.args[2:] if not is_value)
        groups[(st.fn, program.meta[saved[1]], statics)].append(st)
    read = readers(program, program.backward)
    made_at = {v: k for k, st in enumerate(program.forward) for v in st.outputs}
    for (fn, (shape, dtype), _), group in groups.items():
        saved = [st.args[1][1] for st in group]
        if len(group) < 2 or len(set(saved)) != len(saved):
            continue
        stack = _stacked_once(read, group, program)
        if stack is not None:  # in place: the products' order is the stack's
            order = {part: k for k, (_, part) in enumerate(stack.args[1:])}
            group.sort(key=lambda st: order[st.outputs[0]])
        else:  # in the order forward made the values: the steps' order
            group.sort(key=lambda st: made_at.get(st.args[1][1], -1))
        saved = [st.args[1][1] for st in group]
        steps = len(group)
        no = (False,) * 4
        stacked = program.new_meta(((steps, *shape), dtype))
        factors = program.new_meta(((steps, *shape), dtype))
        pieces = tuple(program.new_meta((shape, dtype)) for _ in group)
        statics = tuple(group[0].args[2:])
        new = [
            Statement(Stack, ((False, 0), *((True, y) for y in saved)), (stacked,), no, False),
            Statement(FACTORS[fn], ((True, stacked), *statics), (factors,), no, False),
            Statement(Unstack, ((True, factors), (False, 0)), pieces, no, True),
        ]
        for st, piece in zip(group, pieces):
            g = st.args[0]
            if stack is not None:
                step = Statement(MulInPlace, ((True, piece), g), st.outputs, no, False)
            else:
                step = Statement(Mul, (g, (True, piece)), st.outputs, no, False)
            program.backward[program.backward.index(st)] = step
        if stack is not None:  # the stack of the products is the factors' buffer, now
            args = ((True, factors), *stack.args[1:])
            done = Statement(InPlaceResult, args, stack.outputs, (False,) * len(args), False)
            program.backward[program.backward.index(stack)] = done
        program.backward[0:0] = new
        read = readers(program, program.backward)


def _stacked_once(read: dict, group: list, program: Program) -> Statement | None:
    """The one `Stack` along axis 0 of exactly the group's results, each read by nothing else
    that runs before it (so each step may write its product over its factor), or None."""
    outs = [st.outputs[0] for st in group]
    stacks = {id(u): u for v in outs for u in read.get(v, []) if u.fn is Stack}
    if len(stacks) != 1:
        return None
    stack = next(iter(stacks.values()))
    parts = [x for is_value, x in stack.args[1:]]
    if (
        stack.args[0] != (False, 0)
        or sorted(parts) != sorted(outs)
        or len(set(parts)) != len(parts)
    ):
        return None
    if stack.outputs[0] in program.outputs or stack.outputs[0] in program.grads:
        return None
    return stack
