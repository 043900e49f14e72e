"""The matrix products of a loop: input projections hoisted out of it, weight gradients formed
once from all steps, the recurrent bias added once, recurrent weights transposed once."""

from __future__ import annotations

import numpy as np

from ...engine import Function
from ...ops import Add, Linear, MatMul, Reshape, Stack, Sum, Transpose, Unstack
from ..program import Program, Statement
from .common import readers


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


def fold_recurrent_bias(program: Program) -> None:
    """Add the per-step bias `b_hh` once, into the hoisted input projection, not every step:
    `Unstack(Linear(X, W_ih, b_ih))[t] + Linear(h_t, W_hh, b_hh)` for every t becomes
    `Unstack(Linear(X, W_ih, b_ih + b_hh))[t] + Linear(h_t, W_hh)`, as an LSTM's is summed.
    Backward is unchanged: it never reads the two projections themselves."""
    read = readers(program)
    made_by = {v: st for st in program.forward for v in st.outputs}
    for unstack in [st for st in program.forward if st.fn is Unstack]:
        projection = made_by.get(unstack.args[0][1])
        if projection is None or projection.fn is not Linear:
            continue
        if (
            read[projection.outputs[0]] != [unstack]
            or projection.args[2][0] is False
            and (projection.args[2][1] is not None)
        ):
            continue
        steps = [_recurrent_term(program, read, made_by, piece) for piece in unstack.outputs]
        if any(step is None for step in steps):
            continue
        linears = [step for step in steps if step is not None]
        bias = linears[0].args[2]
        if (
            not bias[0]
            or bias[1] not in program.inputs
            or any(lin.args[1:] != linears[0].args[1:] for lin in linears)
        ):
            continue
        position = program.forward.index(projection)
        if projection.args[2][0]:  # both biases: their sum, once per call
            total = program.new_meta(program.meta[bias[1]])
            both = (projection.args[2], bias)
            program.forward.insert(position, Statement(Add, both, (total,), (False,) * 2, False))
            bias = (True, total)
            position += 1
        args = (*projection.args[:2], bias)
        program.forward[position] = Statement(Linear, args, projection.outputs, (False,) * 3, False)
        for lin in linears:
            st = Statement(Linear, (*lin.args[:2], (False, None)), lin.outputs, (False,) * 3, False)
            program.forward[program.forward.index(lin)] = st


def _recurrent_term(program: Program, read: dict, made_by: dict, piece: int) -> Statement | None:
    """The `Linear(h, W, b)` added to this piece of the projection, if that is its one use."""
    users = read.get(piece, [])
    if len(users) != 1 or users[0].fn is not Add or users[0] not in program.forward:
        return None
    others = [x for is_value, x in users[0].args if is_value and x != piece]
    if len(others) != 1 or program.meta[others[0]] != program.meta[piece]:
        return None
    term = made_by.get(others[0])
    if term is None or term.fn is not Linear or read[others[0]] != [users[0]]:
        return None
    return term


class TransposedCopy(Function):
    """`a.T` as a contiguous array: made once per call for a weight that every step uses."""

    @staticmethod
    def forward(ctx, a):
        return np.ascontiguousarray(a.data.T)

    @staticmethod
    def lower(out, a):
        return f"np.copyto({out}, {a}.T)"


class LinearTransposed(Function):
    """x @ weight_t + bias, the weight given transposed and contiguous (`TransposedCopy`)."""

    @staticmethod
    def forward(ctx, x, weight_t, bias=None):
        out = x.data @ weight_t.data
        return out if bias is None else out + bias.data

    @staticmethod
    def lower(out, x, weight_t, bias=None):
        if x.ndim != 2:
            return None
        code = f"np.matmul({x}, {weight_t}, out={out})"
        return code if bias == "None" else f"{code}\nnp.add({out}, {bias}, out={out})"


def transpose_recurrent_weights(program: Program) -> None:
    """A weight used by a `Linear` at every step is transposed into a contiguous copy once per
    call (`TransposedCopy`), and the steps multiply by that: BLAS is about 1.4x faster on it
    than on the transposed view at an LSTM's (32, 128) @ (128, 512), as the hand-derived
    BPTT knows. Backward keeps the weight as it is (G @ W needs no transpose)."""
    weights = {st.args[1][1] for st in program.forward if st.fn is Linear and st.args[1][0]}
    for weight in sorted(weights):
        linears = [
            st
            for st in program.forward
            if st.fn is Linear
            and st.args[1] == (True, weight)
            and len(program.meta[st.args[0][1]][0]) == 2
        ]
        if len(linears) < 2:
            continue
        shape, dtype = program.meta[weight]
        transposed = program.new_meta((shape[::-1], dtype))
        first = program.forward.index(linears[0])
        copy = Statement(TransposedCopy, ((True, weight),), (transposed,), (False,), False)
        for lin in linears:
            args = (lin.args[0], (True, transposed), lin.args[2])
            st = Statement(LinearTransposed, args, lin.outputs, (False,) * 3, False)
            program.forward[program.forward.index(lin)] = st
        program.forward.insert(first, copy)
