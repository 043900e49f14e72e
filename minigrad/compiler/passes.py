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
    Mul,
    Neg,
    Reshape,
    Sigmoid,
    SigmoidGrad,
    Split,
    Stack,
    Sub,
    Sum,
    Tanh,
    TanhGrad,
    Transpose,
    Unstack,
)
from .program import Program, Statement


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


def join_sums_of_pieces(program: Program) -> None:
    """One `Add` for neighbouring blocks added piece by piece: `a_k + b_k` for k = 0, 1, ...,
    with a_k and b_k pieces of `Split`s of a and b at the same bounds, becomes one `Add` of
    the joined slices and a `Split` of the sum into the same values.

    A GRU adds its r and z pieces this way (W_ir x + b_ir + W_hr h + b_hr, and z's); joined,
    they are one block of sigmoids, which `fuse_gate_activations` then makes one call.
    Backward is unchanged: an `Add` passes its gradient through untouched.
    """
    read = readers(program, program.forward)
    piece_of = {}
    for st in program.forward:
        if st.fn is Split:
            for k, v in enumerate(st.outputs):
                piece_of[v] = (st, k)
    runs: dict[tuple, list] = defaultdict(list)  # (split of a, split of b) -> [(k, add)]
    for st in program.forward:
        if st.fn is not Add or not all(is_value for is_value, _ in st.args):
            continue
        (_, x), (_, y) = st.args
        if x not in piece_of or y not in piece_of or program.meta[x] != program.meta[y]:
            continue
        (split_a, k), (split_b, j) = piece_of[x], piece_of[y]
        if k != j or split_a.args[1:3] != split_b.args[1:3] or split_a is split_b:
            continue
        if read[x] == [st] and read[y] == [st]:
            runs[(split_a, split_b)].append((k, st))
    for (split_a, split_b), found in runs.items():
        found.sort(key=lambda pair: pair[0])
        run = [found[0]]
        for pair in found[1:] + [(None, None)]:
            if pair[0] is not None and pair[0] == run[-1][0] + 1:
                run.append(pair)
                continue
            if len(run) > 1:
                _join_sum_run(program, split_a, split_b, [add for _, add in run], run[0][0])
            run = [pair]


def _join_sum_run(program: Program, split_a: Statement, split_b: Statement, adds: list, k: int):
    """Replace the `adds` (pieces k, k+1, ... of the two splits) by one Add and a Split."""
    (_, bounds), (_, axis) = split_a.args[1:3]
    lo, hi = bounds[k], bounds[k + len(adds)]
    cut = tuple(sorted({0, lo, hi, bounds[-1]}))
    middle = cut.index(lo)
    shape, dtype = program.meta[split_a.args[0][1]]
    no = (False,) * 4
    new = []
    joined = []
    for split in (split_a, split_b):
        outputs = tuple(
            program.new_meta((shape[:axis] + (stop - start,) + shape[axis + 1 :], dtype))
            for start, stop in zip(cut, cut[1:])
        )
        new.append(
            Statement(
                Split,
                (split.args[0], (False, cut), (False, axis), (False, None)),
                outputs,
                no,
                True,
            )
        )
        joined.append(outputs[middle])
    total = program.new_meta((shape[:axis] + (hi - lo,) + shape[axis + 1 :], dtype))
    new.append(
        Statement(Add, ((True, joined[0]), (True, joined[1])), (total,), (False,) * 2, False)
    )
    inner = tuple(b - lo for b in bounds[k : k + len(adds) + 1])
    sums = tuple(add.outputs[0] for add in adds)
    new.append(
        Statement(
            Split, ((True, total), (False, inner), (False, axis), (False, None)), sums, no, True
        )
    )
    forward = program.forward
    position = forward.index(adds[0])
    for add in adds:
        forward.remove(add)
    forward[position:position] = new


def fuse_gate_activations(program: Program) -> None:
    """One call for all the sigmoid/tanh gate blocks cut from one pre-activation by `Split`
    (an LSTM's i, f, g, o), forward and backward.

    Forward: `Split` + one `Sigmoid`/`Tanh` per piece becomes `GateActivations` on the whole
    pre-activation (or one `Sigmoid` if every piece is one, as a GRU's r and z), then a `Split`
    of its result (the gates are views). Backward: the pieces' `SigmoidGrad`/`TanhGrad`, joined
    side by side, become a `Concatenate` of the incoming gradients and one
    `GateActivationsGrad` (or `SigmoidGrad`). 13 numpy calls become 4 each way for an LSTM.
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
        kinds = {act.fn for act in acts}
        if len(kinds) == 1:  # all sigmoids (a GRU's r and z) or all tanh: that op, on the block
            activation = Statement(kinds.pop(), ((True, a),), (y,), (False,), False)
        else:
            args = ((True, a), (False, scale), (False, shift))
            activation = Statement(GateActivations, args, (y,), no_grad, False)
        forward[position : position + 1] = [
            activation,
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
    """The backward half of `fuse_gate_activations`, where the pattern is there: the gates'
    derivatives are read only by joins (`Concatenate` along the split axis) that hold them
    side by side in gate order. One join of exactly them (an LSTM's) becomes the fused
    derivative; several (a GRU's r and z, joined once for W_ih's gradient and once for
    W_hh's) read the fused block as one part each."""
    backward = program.backward
    grads_of = {}
    for gate, fn in zip(gates, derivatives):
        derivative = [u for u in read.get(gate, []) if u.fn is fn and u.args[1] == (True, gate)]
        if len(derivative) != 1 or derivative[0] not in backward:
            return
        grads_of[gate] = derivative[0]
    outs = tuple((True, grads_of[g].outputs[0]) for g in gates)
    joins = list({id(u): u for _, v in outs for u in read.get(v, [])}.values())
    found = [_run_position(join, outs, axis) for join in joins]
    runs = [run for run in found if run is not None]
    if not joins or len(runs) != len(joins) or any(join not in backward for join in joins):
        return
    if len(outs) > 1 and any(len(read[v]) != len(joins) for _, v in outs):
        return  # a derivative read twice by one join, or by something else
    incoming = program.new_meta(program.meta[y])
    joined = Statement(
        Concatenate,
        ((False, axis), *(grads_of[g].args[0] for g in gates)),
        (incoming,),
        (False,) * (len(gates) + 1),
        False,
    )
    only = len(joins) == 1 and joins[0].args == ((False, axis), *outs)
    fused_value = joins[0].outputs[0] if only else program.new_meta(program.meta[y])
    if len(set(derivatives)) == 1:  # every block a sigmoid, s (1 - s) g, or every one a tanh
        args: tuple = ((True, incoming), (True, y))
        fused = Statement(derivatives[0], args, (fused_value,), (False,) * 2, False)
    else:
        args = ((True, incoming), (True, y), (False, a1), (False, a0))
        fused = Statement(GateActivationsGrad, args, (fused_value,), (False,) * 4, False)
    position = min(backward.index(join) for join in joins)
    for join, run in zip(joins, runs):
        if only:
            backward.remove(join)
            continue
        parts = (*join.args[:run], (True, fused_value), *join.args[run + len(outs) :])
        k = backward.index(join)
        backward[k] = Statement(Concatenate, parts, join.outputs, (False,) * len(parts), False)
    backward[position:position] = [joined, fused]
    for gate in gates:
        backward.remove(grads_of[gate])


def _run_position(join: Statement, outs: tuple, axis: int) -> int | None:
    """Where `outs` stand side by side (in order) among the arguments of a `Concatenate`
    along `axis`, or None."""
    if join.fn is not Concatenate or join.args[0] != (False, axis):
        return None
    for k in range(1, len(join.args) - len(outs) + 1):
        if join.args[k : k + len(outs)] == outs:
            return k
    return None


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


class Scale(Function):
    """a * scale, for a static coefficient array: a weight's rows or a bias, rescaled."""

    @staticmethod
    def forward(ctx, a, scale):
        return a.data * scale

    @staticmethod
    def lower(out, a, scale):
        return f"np.multiply({a}, {scale}, out={out})"


class ScaledTanh(Function):
    """scale * tanh(a) + shift: `GateActivations` (or a sigmoid, scale = shift = 1/2) whose
    input was already multiplied by `scale`, in the weights that make it."""

    @staticmethod
    def forward(ctx, a, scale, shift):
        return scale * np.tanh(a.data) + shift

    @staticmethod
    def lower(out, a, scale, shift):
        return f"np.tanh({a}, out={out})\nnp.multiply({out}, {scale}, out={out})\n" + (
            f"np.add({out}, {shift}, out={out})"
        )


def prescale_gate_inputs(program: Program) -> None:
    """Fold the 1/2 of sigmoid(a) = tanh(a/2)/2 + 1/2 into the weights, once per call.

    Each step's gate block is `GateActivations(P_t + Linear(h_t, W_hh))` (or a `Sigmoid` of
    such a sum of column blocks, a GRU's r and z), with P_t a step of the hoisted projection
    `Linear(X, W_ih, b)`. The gate columns of W_ih, b, W_hh and b_hh are scaled instead (the
    halving is exact), so each step goes straight to the tanh: one call fewer a step, as the
    hand-derived BPTT halves its sigmoid rows. Backward is unchanged: it reads the gates, never
    the pre-activations, and the weights as they are.
    """
    read = readers(program)
    made_by = {v: st for st in program.forward for v in st.outputs}
    backward_reads = set(program.forward_reads(program.backward))
    groups: dict[int, list] = defaultdict(list)  # the projection's Unstack -> its steps
    for act in program.forward:
        step = _gate_step(program, read, made_by, act)
        if step is not None:
            groups[id(step[0])].append(step)
    for steps in groups.values():
        unstack, _, _, lo, hi, scale, *_ = steps[0]
        projection = made_by.get(unstack.args[0][1])
        recurrent = [term for _, term, *_ in steps]
        if projection is None or projection.fn is not Linear or len(steps) != len(unstack.outputs):
            continue
        if read[projection.outputs[0]] != [unstack] or any(
            (s[3], s[4]) != (lo, hi) or not np.array_equal(s[5], scale) for s in steps
        ):
            continue
        if any(term.args[1:] != recurrent[0].args[1:] for term in recurrent):
            continue
        touched = [*unstack.outputs, *(term.outputs[0] for term in recurrent)]
        if backward_reads.intersection(touched):
            continue  # backward reads a pre-activation, which would change
        if not all(_only_block_read(program, read, v, lo, hi) for v in touched):
            continue  # something else reads the columns that would change
        position = program.forward.index(projection)
        weights = [arg[1] for arg in (*projection.args[1:], *recurrent[0].args[1:]) if arg[0]]
        if any(w in made_by and program.forward.index(made_by[w]) > position for w in weights):
            continue
        width = program.meta[projection.outputs[0]][0][-1]
        column = np.ones(width, program.meta[projection.outputs[0]][1])
        column[lo:hi] = scale
        new, renamed = [], {}
        for weight in dict.fromkeys(weights):  # W_ih, b, W_hh, b_hh
            shape, dtype = program.meta[weight]
            coefficient = column[:, None] if len(shape) == 2 else column
            renamed[weight] = program.new_meta((shape, dtype))
            scaling: tuple = ((True, weight), (False, coefficient))
            new.append(Statement(Scale, scaling, (renamed[weight],), (False,) * 2, False))
        for st in [projection, *recurrent]:
            rescaled = tuple((v, renamed.get(x, x) if v else x) for v, x in st.args)
            k = program.forward.index(st)
            program.forward[k] = Statement(Linear, rescaled, st.outputs, (False,) * 3, False)
        for _, _, act, _, _, _, scale_arg, shift_arg in steps:
            args: tuple = (act.args[0], (False, scale_arg), (False, shift_arg))
            k = program.forward.index(act)
            program.forward[k] = Statement(ScaledTanh, args, act.outputs, (False,) * 3, False)
        program.forward[position:position] = new


def _only_block_read(program: Program, read: dict, value: int, lo: int, hi: int) -> bool:
    """Is `value` read (forward) only by the one sum of its columns lo:hi, directly or as a
    piece of a `Split`, and otherwise only in columns outside lo:hi?"""
    for st in read.get(value, []):
        if st.fn is Add:
            continue  # the sum itself (checked by the caller)
        if st.fn is not Split or st.args[2][1] != len(program.meta[value][0]) - 1:
            return False
        bounds = st.args[1][1]
        for start, stop, piece in zip(bounds, bounds[1:], st.outputs):
            overlaps = start < hi and lo < stop
            if overlaps and (start, stop) != (lo, hi) and read.get(piece):
                return False
    return True


def _gate_step(program: Program, read: dict, made_by: dict, act: Statement) -> tuple | None:
    """For a gate activation of `P_t + Linear(h_t, W, b)` (whole, or the same column block of
    each): (the Unstack making P_t, the Linear, act, lo, hi, the scale per column, and the
    activation's own scale and shift), or None."""
    if act.fn is GateActivations:
        scale, shift = act.args[1][1], act.args[2][1]
        if scale.ndim != 1:
            return None
    elif act.fn is Sigmoid:
        scale = shift = 0.5
    else:
        return None
    a = act.args[0][1]
    add = made_by.get(a)
    if add is None or add.fn is not Add or read[a] != [act]:
        return None
    if not all(is_value and read[x] == [add] for is_value, x in add.args):
        return None
    blocks = [_columns(program, made_by, x) for _, x in add.args]
    if blocks[0][1:] != blocks[1][1:]:
        return None
    _, lo, hi = blocks[0]
    for piece, term in (blocks[0][0], blocks[1][0]), (blocks[1][0], blocks[0][0]):
        unstack, linear = made_by.get(piece), made_by.get(term)
        if unstack is None or linear is None or unstack.fn is not Unstack:
            continue
        if linear.fn is Linear and linear.args[1][0]:
            scales = np.full(hi - lo, scale) if np.ndim(scale) == 0 else scale
            return unstack, linear, act, lo, hi, scales, scale, shift
    return None


def _columns(program: Program, made_by: dict, value: int) -> tuple:
    """(the value this is a block of columns of, first column, end): through one `Split`
    along the last axis, or the value itself, whole."""
    st = made_by.get(value)
    if st is not None and st.fn is Split:
        (_, base), (_, bounds), (_, axis) = st.args[:3]
        if axis == len(program.meta[base][0]) - 1:
            k = st.outputs.index(value)
            return base, bounds[k], bounds[k + 1]
    return value, 0, program.meta[value][0][-1]


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
    for (fn, (shape, dtype), _), group in groups.items():
        saved = [st.args[1][1] for st in group]
        if len(group) < 2 or len(set(saved)) != len(saved):
            continue
        stack = _stacked_once(read, group, program)
        if stack is not None:  # in place: the products' order is the stack's
            order = {part: k for k, (_, part) in enumerate(stack.args[1:])}
            group.sort(key=lambda st: order[st.outputs[0]])
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
    join_sums_of_pieces,
    fuse_gate_activations,
    hoist_input_projections,
    form_recurrent_gradients_once,
    fold_recurrent_bias,
    prescale_gate_inputs,
    transpose_recurrent_weights,
    subtract_negations,
    eliminate_common_subexpressions,
    batch_derivative_factors,
    eliminate_dead_code,
]
