"""Clean-ups that any program gains from: a negation summed in becomes a subtraction, a stack of
joins shares the pieces another stack holds, a computation repeated is made once, and what
nothing reads is dropped."""

from __future__ import annotations

from ...ops import Add, Concatenate, Neg, Stack, Sub
from ..program import Program, Statement
from .common import column_bounds, readers, split


def subtract_negations(program: Program) -> None:
    """`Add(a, Neg(b))` becomes `Sub(a, b)` where nothing else reads `Neg(b)`: a gradient
    through a subtraction (`1 - z` in a GRU), summed into another, in one call, not two."""
    for half in ("forward", "backward"):
        statements = getattr(program, half)
        read = readers(program, statements)
        made_by = {v: st for st in statements for v in st.outputs}
        for st in list(statements):
            if st.fn is not Add or not all(is_value for is_value, _ in st.args):
                continue
            for keep, negated in ((0, 1), (1, 0)):
                neg = made_by.get(st.args[negated][1])
                if neg is not None and neg.fn is Neg and len(read[neg.outputs[0]]) == 1:
                    sub = Statement(
                        Sub, (st.args[keep], neg.args[0]), st.outputs, (False,) * 2, False
                    )
                    statements[statements.index(st)] = sub
                    statements.remove(neg)
                    break


def share_stacked_pieces(program: Program) -> None:
    """A `Stack` of joins is the join of the stacks of their pieces:
    `Stack([Concatenate(a_t, b_t)]) = Concatenate(Stack(a_t), Stack(b_t))`. Rewritten so where
    the stack of one piece is already a slice of another stack: a GRU's r and z gradients are
    joined at every step both for W_hh's gradient (read at that step) and for W_ih's (read
    only after the loop), and are then copied once, after the loop, not at every step.
    """
    read = readers(program)
    made_by = {v: st for st in program.backward for v in st.outputs}
    for stack in [st for st in program.backward if st.fn is Stack and st.args[0] == (False, 0)]:
        layout = _joined_parts(program, read, made_by, stack)
        if layout is None:
            continue
        bounds, slots = layout
        pieces: list = []
        new: list[Statement] = []
        for values in slots:
            shared = _slice_of_a_stack(program, made_by, stack, values)
            if shared is not None:
                new.append(shared[0])
                pieces.append(shared[1])
                continue
            shape, dtype = program.meta[values[0]]
            out = program.new_meta(((len(values), *shape), dtype))
            parts = tuple((True, v) for v in values)
            new.append(Statement(Stack, ((False, 0), *parts), (out,), (False,) * 4, False))
            pieces.append(out)
        if all(st.fn is Stack for st in new):
            continue  # nothing shared: nothing to gain
        axis = len(program.meta[stack.outputs[0]][0]) - 1
        args = ((False, axis), *((True, v) for v in pieces))
        joined = Statement(Concatenate, args, stack.outputs, (False,) * len(args), False)
        k = program.backward.index(stack)
        program.backward[k : k + 1] = [*new, joined]
        read = readers(program)
        made_by = {v: st for st in program.backward for v in st.outputs}


def _joined_parts(program: Program, read: dict, made_by: dict, stack: Statement):
    """(the column bounds, the values in each slot over the steps) if every part of `stack` is
    a `Concatenate` along its last axis that only the stack reads, all cut alike; or None."""
    bounds = None
    slots: list[list[int]] = []
    for is_value, part in stack.args[1:]:
        join = made_by.get(part)
        if not is_value or join is None or join.fn is not Concatenate:
            return None
        last = len(program.meta[part][0]) - 1
        if join.args[0] != (False, last) or read[part] != [stack]:
            return None
        values = [x for is_value, x in join.args[1:] if is_value]
        if len(values) != len(join.args) - 1:
            return None
        cut = column_bounds(program, values)
        if bounds is not None and cut != bounds:
            return None
        bounds = cut
        slots = slots or [[] for _ in values]
        for slot, v in zip(slots, values):
            slot.append(v)
    return (bounds, slots) if bounds is not None else None


def _slice_of_a_stack(program: Program, made_by: dict, stack: Statement, values: list):
    """(a `Split` statement, the piece) viewing `values`' stack inside another, earlier stack
    of joins that holds them in the same slot, step for step; or None."""
    position = program.backward.index(stack)
    for other in program.backward[:position]:
        if other.fn is not Stack or other is stack or other.args[0] != (False, 0):
            continue
        joins = [made_by.get(x) for _, x in other.args[1:]]
        found = [[x for _, x in j.args[1:]] for j in joins if j is not None and j.fn is Concatenate]
        if len(found) != len(values) or len(joins) != len(values):
            continue
        slots = {k for k, x in enumerate(found[0]) if x == values[0]}
        slot = next((k for k in slots if all(f[k] == v for f, v in zip(found, values))), None)
        if slot is None:
            continue
        bounds = column_bounds(program, found[0])
        axis = len(program.meta[other.outputs[0]][0]) - 1
        statement, pieces = split(program, other.outputs[0], bounds, axis)
        return statement, pieces[slot]
    return None


def eliminate_common_subexpressions(program: Program) -> None:
    """Compute a statement once when another one before it is the same call on the same values
    (the two bias gradients of a cell, which are the same sum; a transpose made twice).

    Only ops with a lowering or a view are merged (a user's Function may have side effects);
    later readers, outputs and gradients are renamed to the first result.
    """
    rename: dict[int, int] = {}
    for half in ("forward", "backward"):
        seen: dict[tuple, tuple] = {}
        kept = []
        for st in getattr(program, half):
            args = tuple((is_value, rename.get(x, x) if is_value else x) for is_value, x in st.args)
            if any(a[1] is not b[1] for a, b in zip(args, st.args)):  # a new statement: the
                st = Statement(st.fn, args, st.outputs, st.needs_input_grad, st.multi)  # stages
            key = _key(st)
            first = seen.get(key) if key is not None else None
            if first is None:
                if key is not None:
                    seen[key] = st.outputs
                kept.append(st)
                continue
            for v, w in zip(st.outputs, first):
                rename[v] = w
        setattr(program, half, kept)
    program.outputs = [rename.get(v, v) for v in program.outputs]
    program.grads = [None if g is None else rename.get(g, g) for g in program.grads]


def _key(st: Statement) -> tuple | None:
    """What makes two statements the same computation, or None if they must not be merged."""
    if not (hasattr(st.fn, "lower") or hasattr(st.fn, "lower_view")):
        return None
    key = (st.fn, st.args)
    try:
        hash(key)
    except TypeError:  # an array argument (a mask, an index)
        return None
    return key


def eliminate_dead_code(program: Program) -> None:
    """Drop the statements whose results nothing reads: not the outputs, not the gradients
    returned, not a later statement (gradients for inputs that need none, unused values)."""
    live = {v for v in program.grads if v is not None}
    program.backward = _live_statements(program.backward, live)
    live.update(program.outputs)
    program.forward = _live_statements(program.forward, live)


def _live_statements(statements: list[Statement], live: set[int]) -> list[Statement]:
    """The statements (in order) that make a value in `live`; `live` gains what they read."""
    kept = []
    for st in reversed(statements):
        if any(v in live for v in st.outputs):
            kept.append(st)
            live.update(x for is_value, x in st.args if is_value)
    kept.reverse()
    return kept
