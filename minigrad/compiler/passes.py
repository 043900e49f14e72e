"""Rewrites of a traced program, each a function `Program -> None` that changes it in place.

`PASSES` lists the ones `compile` runs, in order, after tracing and before the program is
finished (its code generated). Each must leave the program's results unchanged (up to float
rounding); `compile(fn, check=True)` compares against eager after all of them have run, and
each is tested alone on random inputs. The fused ops a pass introduces are Functions here, with
a forward (the reference meaning) and a lowering; their backward is never needed, since a
differentiable replay (`create_graph=True`) replays the program as traced.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from ..engine import Function
from ..ops import (
    Add,
    Concatenate,
    Linear,
    MatMul,
    Reshape,
    Sigmoid,
    SigmoidGrad,
    Split,
    Stack,
    Sum,
    Tanh,
    TanhGrad,
    Transpose,
    Unstack,
)
from .program import VALUE, Program, Statement


class GateActivations(Function):
    """sigmoid or tanh on each block of `a` along `axis`, in one pass over all the blocks:
    y = scale * tanh(scale * a) + shift, with (scale, shift) = (1/2, 1/2) for a sigmoid
    (sigmoid(a) = tanh(a/2)/2 + 1/2) and (1, 0) for a tanh, per column."""

    @staticmethod
    def forward(ctx, a, scale, shift):
        return scale * np.tanh(scale * a.data) + shift

    @staticmethod
    def lower(out, a, scale, shift):
        return f"np.multiply({a}, {scale}, out={out})\nnp.tanh({out}, out={out})\n" + (
            f"np.multiply({out}, {scale}, out={out})\nnp.add({out}, {shift}, out={out})"
        )


class GateActivationsGrad(Function):
    """The gradient through `GateActivations` from its output y, in one pass: g (y (a1 - y) + a0)
    with (a1, a0) = (1, 0) for a sigmoid (s (1 - s)) and (0, 1) for a tanh (1 - t^2)."""

    @staticmethod
    def forward(ctx, g, y, a1, a0):
        return g.data * (y.data * (a1 - y.data) + a0)

    @staticmethod
    def lower(out, g, y, a1, a0):
        return f"np.subtract({a1}, {y}, out={out})\nnp.multiply({out}, {y}, out={out})\n" + (
            f"np.add({out}, {a0}, out={out})\nnp.multiply({out}, {g}, out={out})"
        )


def readers(program: Program, statements: list | None = None) -> dict[int, list[Statement]]:
    """Value -> the statements (forward and backward, or those given) that read it."""
    found: dict[int, list[Statement]] = defaultdict(list)
    for st in program.forward + program.backward if statements is None else statements:
        for is_value, x in st.args:
            if is_value:
                found[x].append(st)
    return found


def fuse_gate_activations(program: Program) -> None:
    """One call for all the sigmoid/tanh gate blocks cut from one pre-activation by `Split`
    (an LSTM's i, f, g, o), forward and backward.

    Forward: `Split` + one `Sigmoid`/`Tanh` per piece becomes `GateActivations` on the whole
    pre-activation, then a `Split` of its result (the gates are views). Backward: the pieces'
    `SigmoidGrad`/`TanhGrad` joined by one `Concatenate` become a `Concatenate` of the incoming
    gradients and one `GateActivationsGrad`. 13 numpy calls become 4 each way for an LSTM.
    """
    read = readers(program)
    forward = program.forward
    for st in list(forward):
        if st.fn is not Split or st not in forward:
            continue
        (_, a), (_, bounds), (_, axis) = st.args[:3]
        users = [read.get(p, []) for p in st.outputs]
        if not all(len(u) == 1 and u[0].fn in (Sigmoid, Tanh) for u in users):
            continue
        acts = [u[0] for u in users]
        shape, dtype = program.meta[a]
        scale, shift, a1, a0 = (np.ones(_coefficient_shape(shape, axis), dtype) for _ in "1234")
        for act, start, stop in zip(acts, bounds, bounds[1:]):
            block = slice(start, stop)  # the coefficients' first axis is the split axis
            sigmoid = act.fn is Sigmoid
            scale[block], shift[block] = (0.5, 0.5) if sigmoid else (1.0, 0.0)
            a1[block], a0[block] = (1.0, 0.0) if sigmoid else (0.0, 1.0)
        y = st.outputs[0]  # the first piece's number, now the whole block's
        program.meta[y] = (shape, dtype)
        gates = tuple(act.outputs[0] for act in acts)
        position = forward.index(st)
        no_grad = (False,) * 3
        forward[position : position + 1] = [
            Statement(
                GateActivations, ((True, a), (False, scale), (False, shift)), (y,), no_grad, False
            ),
            Statement(Split, ((True, y), *st.args[1:]), gates, (False,) * 4, True),
        ]
        for act in acts:
            forward.remove(act)
        derivatives = tuple(SigmoidGrad if act.fn is Sigmoid else TanhGrad for act in acts)
        _fuse_gate_gradients(program, read, gates, derivatives, y, axis, a1, a0)


def _fuse_gate_gradients(
    program: Program,
    read: dict,
    gates: tuple,
    derivatives: tuple,
    y: int,
    axis: int,
    a1: np.ndarray,
    a0: np.ndarray,
) -> None:
    """The backward half of `fuse_gate_activations`, where the pattern is there."""
    backward = program.backward
    grads_of = {}
    for gate, fn in zip(gates, derivatives):
        derivative = [u for u in read.get(gate, []) if u.fn is fn and u.args[1] == (True, gate)]
        if len(derivative) != 1 or derivative[0] not in backward:
            return
        grads_of[gate] = derivative[0]
    joins = [read.get(grads_of[g].outputs[0], []) for g in gates]
    if not all(len(j) == 1 and j[0] is joins[0][0] for j in joins):
        return
    join = joins[0][0]
    wanted = tuple((True, grads_of[g].outputs[0]) for g in gates)
    if join.fn is not Concatenate or join.args != ((False, axis), *wanted):
        return
    incoming = grads_of[gates[0]].outputs[0]  # its number, now the joined incoming gradients
    program.meta[incoming] = program.meta[join.outputs[0]]
    program.kinds[incoming] = VALUE
    joined = Statement(
        Concatenate,
        ((False, axis), *(grads_of[g].args[0] for g in gates)),
        (incoming,),
        (False,) * (len(gates) + 1),
        False,
    )
    fused = Statement(
        GateActivationsGrad,
        ((True, incoming), (True, y), (False, a1), (False, a0)),
        join.outputs,
        (False,) * 4,
        False,
    )
    position = backward.index(join)
    backward[position : position + 1] = [joined, fused]
    for gate in gates:
        backward.remove(grads_of[gate])


def _coefficient_shape(shape: tuple, axis: int) -> tuple:
    """A per-column coefficient's shape: the axis's length, broadcasting over what follows."""
    return (shape[axis],) + (1,) * (len(shape) - axis - 1)


def hoist_input_projections(program: Program) -> None:
    """One matmul over all steps for the per-step input projections of a loop, and their
    weight, bias and input gradients formed once from the stacked per-step gradients.

    Forward: `x_0..x_T-1 = Unstack(X)` read by `Linear(x_t, W, b)` for every t (W, b inputs of
    the program) becomes `Linear(X, W, b)` and an `Unstack` of the result. Backward: the T
    products `G_t.T @ x_t`, `G_t @ W` and sums of `G_t` (each Linear's backward) and the `Add`s
    accumulating them become one `Stack` of the G_t and one product (or sum) each.
    """
    forward_read = readers(program, program.forward)
    read = readers(program)
    producer = {v: st for st in program.forward + program.backward for v in st.outputs}
    free = set(program.inputs)
    for unstack in [st for st in program.forward if st.fn is Unstack]:
        (_, x), (_, axis) = unstack.args
        pieces = unstack.outputs
        users = [forward_read.get(p, []) for p in pieces]
        if axis != 0 or len(pieces) < 2:
            continue
        if not all(len(u) == 1 and u[0].fn is Linear for u in users):
            continue
        linears = [u[0] for u in users]
        weight, bias = linears[0].args[1], linears[0].args[2]
        if not weight[0] or weight[1] not in free or (bias[0] and bias[1] not in free):
            continue
        if any(lin.args != ((True, p), weight, bias) for lin, p in zip(linears, pieces)):
            continue
        if program.backward:
            found = [_step_gradients(read, producer, p, weight[1]) for p in pieces]
            if None in found or not _form_gradients_once(program, read, found, x, weight[1]):
                continue
        shape, dtype = program.meta[linears[0].outputs[0]]
        projected = program.new_meta(((len(pieces), *shape), dtype))
        position = program.forward.index(unstack) + 1
        outputs = tuple(lin.outputs[0] for lin in linears)
        program.forward[position:position] = [
            Statement(Linear, ((True, x), weight, bias), (projected,), (False,) * 3, False),
            Statement(Unstack, ((True, projected), (False, 0)), outputs, (False,) * 2, True),
        ]
        for lin in linears:
            program.forward.remove(lin)


def _step_gradients(read: dict, producer: dict, piece: int, weight: int) -> tuple | None:
    """For one step's `Linear(piece, weight, b)`: its backward statements (the gradient G
    reaching it, `G.T @ piece`, `G @ weight`, `G.sum(0)`), or None if they are not there."""
    products = [u for u in read.get(piece, []) if u.fn is MatMul and u.args[1] == (True, piece)]
    if len(products) != 1:
        return None
    transposed = producer.get(products[0].args[0][1])
    if transposed is None or transposed.fn is not Transpose:
        return None
    g = transposed.args[0][1]
    uses = read.get(g, [])
    dx = [u for u in uses if u.fn is MatMul and u.args == ((True, g), (True, weight))]
    db = [u for u in uses if u.fn is Sum and u.args == ((True, g), (False, 0), (False, False))]
    return g, products[0], dx[:1], db[:1]


def form_recurrent_gradients_once(program: Program) -> None:
    """The gradients of a weight used by one `Linear` per step of a loop (W_hh h_t + b_hh),
    formed once from all steps: one product and one sum over the stacked step gradients.

    Backward has, per step, `G_t.T @ h_t` and a sum of `G_t`, each added into a running total.
    They become one `Stack` of the G_t and one of the h_t (written in place, so free) and one
    product and one sum over all rows, as the hand-derived BPTT does. Each step's `G_t @ W`
    (the gradient flowing back in time) stays: the recurrence needs it step by step.
    """
    if not program.backward:
        return
    read = readers(program)
    producer = {v: st for st in program.forward + program.backward for v in st.outputs}
    for weight in program.inputs:
        linears = [st for st in program.forward if st.fn is Linear and st.args[1] == (True, weight)]
        if len(linears) < 2 or any(lin.args[2] != linears[0].args[2] for lin in linears):
            continue
        pieces = [lin.args[0][1] for lin in linears]
        if not all(is_value for is_value, _ in (lin.args[0] for lin in linears)):
            continue
        if len(set(pieces)) != len(pieces) or len({program.meta[p] for p in pieces}) != 1:
            continue
        per_step: list[tuple] = []
        for piece in pieces:
            found = _step_gradients(read, producer, piece, weight)
            if found is None:
                break
            g, product, _, db = found
            per_step.append((g, product, [], db))  # each step's dx stays
        if len(per_step) == len(pieces) and _form_gradients_once(
            program, read, per_step, pieces, weight
        ):
            read = readers(program)
            producer = {v: st for st in program.forward + program.backward for v in st.outputs}


def _form_gradients_once(
    program: Program, read: dict, found: list, x: int | list[int], weight: int
) -> bool:
    """Replace the per-step gradient products by one each over the stacked gradients; False
    (and nothing changed) where the backward is not the expected pattern. `x` is the stacked
    input of all steps, or the list of each step's input (then stacked here, and the gradient
    of x is left per step)."""
    steps = len(found)
    terms = {
        "dw": [product.outputs[0] for _, product, _, _ in found],
        "db": [db[0].outputs[0] for *_, db in found if db],
        "dx": [dx[0].outputs[0] for _, _, dx, _ in found if dx],
    }
    if any(len(t) not in (0, steps) for t in terms.values()):
        return False
    roots: dict[str, Statement] = {}
    dead: list[Statement] = []
    for name in ("dw", "db"):
        if terms[name]:
            tree = _sum_tree(program, read, terms[name])
            if tree is None:
                return False
            roots[name] = tree[-1]
            dead += tree
    if terms["dx"]:
        stacks = {id(u): u for v in terms["dx"] for u in read.get(v, [])}
        stack = next(iter(stacks.values()))
        if len(stacks) != 1 or stack.args != ((False, 0), *((True, v) for v in terms["dx"])):
            return False
        roots["dx"] = stack
    gs = [g for g, *_ in found]
    (batch, width), dtype = program.meta[gs[0]]
    no = (False,) * 4
    new = []
    if isinstance(x, list):  # the steps' inputs, stacked here
        stacked_x = program.new_meta(((steps, *program.meta[x[0]][0]), dtype))
        parts = tuple((True, v) for v in x)
        new.append(Statement(Stack, ((False, 0), *parts), (stacked_x,), no, False))
        x = stacked_x
    stacked = program.new_meta(((steps, batch, width), dtype))
    rows = program.new_meta(((steps * batch, width), dtype))
    rows_t = program.new_meta(((width, steps * batch), dtype))
    x_shape = (steps * batch, program.meta[x][0][-1])
    x_rows = program.new_meta((x_shape, dtype))
    new += [
        Statement(Stack, ((False, 0), *((True, g) for g in gs)), (stacked,), no, False),
        Statement(Reshape, ((True, stacked), (False, (steps * batch, width))), (rows,), no, False),
        Statement(Transpose, ((True, rows), (False, None)), (rows_t,), no, False),
        Statement(Reshape, ((True, x), (False, x_shape)), (x_rows,), no, False),
        Statement(MatMul, ((True, rows_t), (True, x_rows)), roots["dw"].outputs, no, False),
    ]
    if "db" in roots:
        args: tuple = ((True, rows), (False, 0), (False, False))
        new.append(Statement(Sum, args, roots["db"].outputs, no, False))
    if "dx" in roots:
        args = ((True, stacked), (True, weight))
        new.append(Statement(MatMul, args, roots["dx"].outputs, no, False))
    dead_ids = {id(st) for st in [*dead, *roots.values()]}
    dead_ids.update(id(st) for _, product, dx, db in found for st in [product, *dx, *db])
    backward = program.backward
    position = min(backward.index(st) for st in roots.values())
    program.backward = [
        *(st for st in backward[:position] if id(st) not in dead_ids),
        *new,
        *(st for st in backward[position:] if id(st) not in dead_ids),
    ]
    return True


def _sum_tree(program: Program, read: dict, terms: list) -> list | None:
    """The `Add` statements that sum exactly `terms` into one value, in program order (the
    last makes the sum), or None if the terms are not summed among themselves only."""
    inside = set(terms)
    tree: list[Statement] = []
    changed = True
    while changed:
        changed = False
        for value in list(inside):
            users = read.get(value, [])
            if len(users) != 1 or users[0].fn is not Add or users[0].outputs[0] in inside:
                continue
            if all(is_value and x in inside for is_value, x in users[0].args):
                inside.add(users[0].outputs[0])
                tree.append(users[0])
                changed = True
    in_tree = {id(st) for st in tree}
    loose = [v for v in inside if not any(id(u) in in_tree for u in read.get(v, []))]
    if len(tree) != len(terms) - 1 or len(loose) != 1:
        return None
    order = {id(st): k for k, st in enumerate(program.backward)}
    return sorted(tree, key=lambda st: order[id(st)])


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


PASSES: list[Callable[[Program], None]] = [
    fuse_gate_activations,
    hoist_input_projections,
    form_recurrent_gradients_once,
    eliminate_common_subexpressions,
    eliminate_dead_code,
]
