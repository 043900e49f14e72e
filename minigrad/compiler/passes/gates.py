"""Gate blocks: sums of column blocks joined, one activation call for all the gates of a
step forward and backward, and the sigmoids' halving moved into the weights."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ...engine import Function
from ...ops import Add, Concatenate, Linear, Sigmoid, SigmoidGrad, Split, Tanh, TanhGrad, Unstack
from ..program import Program, Statement
from .common import readers, split


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


def _join_sum_run(
    program: Program, split_a: Statement, split_b: Statement, adds: list, k: int
) -> None:
    """Replace the `adds` (pieces k, k+1, ... of the two splits) by one Add and a Split."""
    (_, bounds), (_, axis) = split_a.args[1:3]
    lo, hi = bounds[k], bounds[k + len(adds)]
    cut = tuple(sorted({0, lo, hi, bounds[-1]}))
    middle = cut.index(lo)
    shape, dtype = program.meta[split_a.args[0][1]]
    no = (False,) * 4
    new = []
    joined = []
    for source in (split_a, split_b):
        statement, pieces = split(program, source.args[0][1], cut, axis)
        new.append(statement)
        joined.append(pieces[middle])
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
        sums = {id(made_by[act.args[0][1]]) for _, _, act, *_ in steps}  # the steps' own sums
        if not all(_only_block_read(program, read, v, lo, hi, sums) for v in touched):
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


def _only_block_read(program: Program, read: dict, value: int, lo: int, hi: int, sums: set) -> bool:
    """Is `value` read (forward) only by one of the steps' `sums` of columns lo:hi (directly
    or as a piece of a `Split`), and otherwise only in columns outside lo:hi?"""
    for st in read.get(value, []):
        if id(st) in sums:
            continue  # a step's sum itself (checked by the caller)
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
