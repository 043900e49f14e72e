"""Clean-ups that any program gains from: a negation summed in becomes a subtraction, a
computation repeated is made once, and what nothing reads is dropped."""

from __future__ import annotations

from ...ops import Add, Neg, Sub
from ..program import Program, Statement
from .common import readers


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
