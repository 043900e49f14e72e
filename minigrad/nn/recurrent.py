"""Unrolling any cell over a sequence: `Recurrent`, `Bidirectional`, and the loop itself, `unroll`.

The cell protocol (the one PyTorch's cells follow): a cell is a `Module` whose
`forward(x, state=None)` takes one step's input, (batch, input_size) or unbatched (input_size,),
and a state -- a Tensor, or a tuple of Tensors such as the LSTM's (h, c); None means zeros --
and returns the new state, shaped as the state it was given. The step's output is the state
itself, or its first element when the state is a tuple. `RNNCell`, `LSTMCell`, `GRUCell` follow
it, and so can any cell you write.

`unroll` is the package's only loop over time: `Recurrent` runs a cell with it, and the layers
`RNN` / `LSTM` / `GRU` run their cells' `step` on an input projected for all steps at once.
Variable lengths are masks, not a backward of their own: at a step past a row's end, that row
keeps its state (`where(mask, new, old)`) and outputs zeros.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ..engine import Tensor
from ..ops import concatenate, constant, lift, stack, unstack, where
from .module import Module, as_input
from .utils.rnn import PackedSequence, checked_lengths

State = Any  # a Tensor, or a tuple of Tensors (the cell protocol)


def output_of(state: State) -> Tensor:
    """A step's output: the state, or its first element when the state is a tuple (LSTM: h)."""
    return state[0] if isinstance(state, tuple) else state


def unroll(
    step: Callable[[Tensor, State], State],
    inputs: Tensor,
    state: State = None,
    *,
    lengths: np.ndarray | None = None,
    reverse: bool = False,
) -> tuple[Tensor, State]:
    """Run `step(x_t, state) -> state` along the first (time) axis of `inputs`.

    Returns the outputs stacked along time and the final state. With `lengths` (one per row of
    a batched input), row b's steps t >= lengths[b] leave its state unchanged and output zeros,
    so the final state is each row's state at its own last step; with `reverse`, the steps run
    from last to first, each row starting at its own last step.
    """
    # One slice per step. `unstack` is used rather than inputs[t] because its backward joins the
    # slices' gradients in one stack, while each inputs[t] would scatter into its own zero array
    # of the full size: quadratic in T.
    slices = unstack(inputs)
    count = len(slices)
    shortest = count if lengths is None else int(lengths.min())
    outputs: list[Any] = [None] * count
    for i, t in enumerate(reversed(range(count)) if reverse else range(count)):
        new = step(slices[t], state)
        if i == 0:
            _check_state_shapes(new, slices[t])
        if t < shortest:  # every row is still inside its sequence
            state, outputs[t] = new, output_of(new)
            continue
        assert lengths is not None  # (t >= shortest only happens with lengths)
        keep = np.asarray(t < lengths)[:, None]  # (B, 1): which rows this step belongs to
        old = _map(lambda n: constant(np.zeros(n.shape), n.dtype), new) if state is None else state
        state = _map(partial(where, keep), new, old)  # past its end, a row keeps its state
        outputs[t] = where(keep, output_of(new), 0.0)  # and outputs zeros, as PyTorch's packing
    return stack(outputs), state


class Recurrent(Module):
    """Runs any cell (see the module's docstring) over a sequence: `forward(input, state, lengths)`.

    input is (T, B, input_size) ((B, T, input_size) with batch_first), unbatched (T, input_size),
    or a `PackedSequence`. Returns (outputs, final_state): the step outputs stacked along time,
    laid out as the input (a PackedSequence for a packed input), and the state after the last
    step. `reverse=True` runs from the last step to the first. `lengths` (one int per batch row,
    each in 1..T) make the padded steps leave the state unchanged and output zeros, and the final
    state each row's own, exactly what PyTorch returns for a packed sequence.
    """

    def __init__(self, cell: Module, batch_first: bool = False, reverse: bool = False) -> None:
        super().__init__()
        if not isinstance(cell, Module):
            raise TypeError(f"Recurrent: cell must be a Module, got {type(cell).__name__}")
        self.cell = cell
        self.batch_first, self.reverse = bool(batch_first), bool(reverse)

    def forward(self, input: Any, state: State = None, lengths: Any = None) -> tuple[Any, State]:
        dtype = next((p.dtype for p in self.cell.parameters()), None)
        features = getattr(self.cell, "input_size", None)
        x, lengths, restore = time_major(
            "Recurrent", input, lengths, self.batch_first, dtype, features
        )
        outputs, final = unroll(self.cell, x, state, lengths=lengths, reverse=self.reverse)
        return restore(outputs), final

    def extra_repr(self) -> str:
        flags = [f"{k}=True" for k in ("batch_first", "reverse") if getattr(self, k)]
        return ", ".join(flags)


class Bidirectional(Module):
    """Two recurrent layers over the same sequence, one forwards and one backwards.

    `forward(input, state=None, lengths=None) -> (outputs, (final_forward, final_backward))`;
    outputs concatenates the two directions' outputs on the feature axis, as PyTorch's
    bidirectional layers, and `state` is None or a pair of the two initial states. With lengths
    (or a packed input), the backward direction starts at each row's own last step.
    """

    def __init__(self, forward_layer: Module, backward_layer: Module) -> None:
        super().__init__()
        for role, layer, reverse in (
            ("forward", forward_layer, False),
            ("backward", backward_layer, True),
        ):
            if not isinstance(layer, Module):
                raise TypeError(
                    f"Bidirectional: {role}_layer must be a Module, got {type(layer).__name__}"
                )
            if getattr(layer, "reverse", reverse) != reverse:
                raise ValueError(
                    f"Bidirectional: the {role}_layer must have reverse={reverse} (for example "
                    f"Recurrent(cell, reverse={reverse}))"
                )
        first = (
            getattr(forward_layer, "batch_first", False),
            getattr(backward_layer, "batch_first", False),
        )
        if first[0] != first[1]:
            raise ValueError(
                f"Bidirectional: the two layers disagree on batch_first (forward {first[0]}, "
                f"backward {first[1]})"
            )
        self.forward_layer, self.backward_layer = forward_layer, backward_layer

    def forward(self, input: Any, state: Any = None, lengths: Any = None) -> tuple[Any, tuple]:
        if state is None:
            state = (None, None)
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(
                f"Bidirectional: state must be None or a pair (forward state, backward state), "
                f"got {type(state).__name__}"
            )
        out_f, final_f = self.forward_layer(input, state[0], lengths=lengths)
        out_b, final_b = self.backward_layer(input, state[1], lengths=lengths)
        out: PackedSequence | Tensor
        if isinstance(out_f, PackedSequence):
            out = out_f.with_padded(concatenate([out_f.padded, out_b.padded], axis=-1))
        else:
            out = concatenate([out_f, out_b], axis=-1)
        return out, (final_f, final_b)


def time_major(
    name: str,
    input: Any,
    lengths: Any,
    batch_first: bool,
    dtype: np.dtype | None,
    features: int | None,
) -> tuple[Tensor, np.ndarray | None, Callable[[Tensor], Any]]:
    """The input as a time-first Tensor, its checked lengths (or None), and how to lay out outputs.

    Accepts a padded Tensor or array, (T, B, F) ((B, T, F) with batch_first) or (T, F), or a
    PackedSequence; the returned function puts a (T, [B,] H) result back in the input's layout.
    """
    packed = input if isinstance(input, PackedSequence) else None
    if packed is not None:
        if lengths is not None:
            raise ValueError(f"{name}: a PackedSequence carries its lengths; do not pass lengths")
        input, lengths, batch_first = packed.padded, packed.lengths, False  # time first inside
    x = lift(input) if dtype is None else as_input(input, dtype, name)
    if x.ndim not in (2, 3) or (features is not None and x.shape[-1] != features):
        f = "features" if features is None else str(features)
        layout = f"(batch, seq, {f})" if batch_first else f"(seq, batch, {f})"
        sizes = "" if features is None else f" (input_size={features})"
        raise ValueError(
            f"{name}: expected input of shape {layout} or (seq, {f}){sizes}, got {x.shape}"
        )
    if packed is not None:
        return x, lengths, packed.with_padded
    transposed = x.ndim == 3 and batch_first
    if transposed:
        x = x.transpose(1, 0, 2)  # (B, T, F) -> (T, B, F)
    if x.shape[0] == 0:
        raise ValueError(f"{name}: the input sequence is empty (shape {x.shape})")
    if lengths is not None:
        if x.ndim == 2:
            raise ValueError(f"{name}: lengths need a batched input, got shape {x.shape}")
        lengths = checked_lengths(name, lengths, x.shape[1], x.shape[0])
    restore = (lambda out: out.transpose(1, 0, 2)) if transposed else (lambda out: out)
    return x, lengths, restore


def _map(fn: Callable[..., Tensor], *states: State) -> State:
    """`fn` applied to each part of one or more states of the same structure."""
    if isinstance(states[0], tuple):
        return tuple(fn(*parts) for parts in zip(*states))
    return fn(*states)


def _check_state_shapes(state: State, x: Tensor) -> None:
    """The cell protocol: each part of a state is (batch, n) for a batched step, (n,) if not."""
    parts = state if isinstance(state, tuple) else (state,)
    for part in parts:
        if not isinstance(part, Tensor):
            raise TypeError(
                f"Recurrent: a cell must return a Tensor or a tuple of Tensors as its state, "
                f"got {type(part).__name__}"
            )
        if part.shape[:-1] != x.shape[:-1] or part.ndim != x.ndim:
            raise ValueError(
                f"Recurrent: for an input step of shape {x.shape} the cell returned a state part "
                f"of shape {part.shape}; the cell protocol needs {x.shape[:-1] + ('n',)}"
            )
