"""Recurrent cells and layers, written with minigrad's primitives only.

No cell or layer here defines a backward: each step is a handful of Tensor ops, a sequence is a
Python loop over steps, and back-propagation through time is `loss.backward()` on the unrolled
graph. Names, shapes, gate order, equations and initialisation follow PyTorch exactly, so a
PyTorch `state_dict` loads unchanged.

LSTM from primitives
--------------------
A weight matrix holds the four gates stacked in PyTorch's order i, f, g, o: rows [0, H) feed the
input gate, [H, 2H) the forget gate, [2H, 3H) the candidate g, [3H, 4H) the output gate. So one
matmul pair computes all four pre-activations and `split` cuts them apart::

    import numpy as np
    import minigrad as mg
    from minigrad.nn import LSTMCell

    cell = LSTMCell(input_size=3, hidden_size=5, rng=0)
    x, h, c = mg.Tensor(np.ones((2, 3))), mg.Tensor(np.zeros((2, 5))), mg.Tensor(np.zeros((2, 5)))
    gates = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh  # (2, 20)
    i, f, g, o = mg.split(gates, 4, axis=-1)        # each (2, 5), in the order i, f, g, o
    i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
    c = f * c + i * g                               # keep part of the memory, write new content
    h = o * c.tanh()                                # show a gated view of the memory
    h_cell, c_cell = cell(x)                        # the cell computes exactly this
    assert np.allclose(h.data, h_cell.data) and np.allclose(c.data, c_cell.data)

The sequence layers (`RNN`, `LSTM`, `GRU`) reuse each cell's `step`, which takes the input
projection `linear(x, W_ih, b_ih)` = `x @ W_ih.T + b_ih` ready-made: a layer computes it for all
time steps in one matmul, then loops over time doing only the recurrent half, with the package's
one loop over time, `recurrent.unroll` (which also masks the padded steps of a packed batch).
"""

from __future__ import annotations

import math
import warnings
from functools import partial
from typing import Any

import numpy as np

from ..engine import Tensor
from ..ops import concatenate, linear, split, stack
from . import functional as F
from . import init
from .module import Module, Parameter, as_input
from .recurrent import time_major, unroll


class _Cell(Module):
    """What the three cells share: parameters, initialisation, input checks and `forward`.

    A subclass sets `gates` (how many weight blocks are stacked in weight_ih / weight_hh),
    `state_names` (("h",), or ("h", "c") for the LSTM) and writes `step`.
    """

    gates = 1
    state_names: tuple[str, ...] = ("h",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        dtype: Any = None,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_sizes(name, input_size=input_size, hidden_size=hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        add_weights(
            self,
            "",
            gates=self.gates,
            input_size=input_size,
            hidden_size=hidden_size,
            bias=bias,
            dtype=init.check_dtype(dtype, name),
            generator=init.generator(rng),
        )

    def forward(self, x: Any, hx: Any = None) -> Any:
        """One step: the new state (h', or (h', c') for the LSTM) from x and the state hx."""
        name = type(self).__name__
        x = as_input(x, self.weight_ih.dtype, name)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: expected input of shape (batch, {self.input_size}) or "
                f"({self.input_size},) (input_size={self.input_size}), got {x.shape}"
            )
        shape = x.shape[:-1] + (self.hidden_size,)
        parts = _state_parts(name, hx, self.state_names)
        state = _as_state(
            [
                _checked_state(name, which, given, shape, x.dtype)
                for which, given in zip(self.state_names, parts)
            ]
        )
        x_proj = linear(x, self.weight_ih, self.bias_ih)  # W_ih x + b_ih
        return self.step(x_proj, state, self.weight_hh, self.bias_hh)

    def step(self, x_proj: Tensor, state: Any, weight_hh: Tensor, bias_hh: Tensor | None) -> Any:
        """One step, given the input projection x_proj = W_ih x + b_ih; returns the new state."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_Cell):
    """Elman cell: h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (or relu). `cell(x, h) -> h'`."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        dtype: Any = None,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        _check_nonlinearity("RNNCell", nonlinearity)
        super().__init__(input_size, hidden_size, bias=bias, dtype=dtype, rng=rng)
        self.nonlinearity = nonlinearity

    def step(self, x_proj: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
        """One step, given the input projection x_proj = W_ih x + b_ih."""
        a = x_proj + linear(h, weight_hh, bias_hh)  # a = W_ih x + b_ih + W_hh h + b_hh
        return a.tanh() if self.nonlinearity == "tanh" else a.relu()  # h' = tanh(a)  (or relu(a))

    def extra_repr(self) -> str:
        extra = "" if self.nonlinearity == "tanh" else f", nonlinearity='{self.nonlinearity}'"
        return super().extra_repr() + extra


class LSTMCell(_Cell):
    """Long short-term memory cell (gate order i, f, g, o). `cell(x, (h, c)) -> (h', c')`."""

    gates = 4
    state_names = ("h", "c")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        dtype: Any = None,
        rng: int | np.random.Generator | None = None,
        forget_bias: float = 0.0,
    ) -> None:
        _check_forget_bias("LSTMCell", forget_bias, bias)
        super().__init__(input_size, hidden_size, bias, dtype=dtype, rng=rng)
        self.forget_bias = _open_forget_gates(self, forget_bias)

    def extra_repr(self) -> str:
        extra = f", forget_bias={self.forget_bias}" if self.forget_bias else ""
        return super().extra_repr() + extra

    def step(
        self,
        x_proj: Tensor,
        state: tuple[Tensor, Tensor],
        weight_hh: Tensor,
        bias_hh: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        """One step, given the input projection x_proj = W_ih x + b_ih (all four gates)."""
        h, c = state
        gates = x_proj + linear(h, weight_hh, bias_hh)  # W_ih x + b_ih + W_hh h + b_hh
        i, f, g, o = split(gates, 4, axis=-1, labels="ifgo")  # the four blocks, PyTorch's order
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()  # i,f,o = sigmoid, g = tanh
        c = f * c + i * g  # c' = f * c + i * g
        h = o * c.tanh()  # h' = o * tanh(c')
        return h, c


class GRUCell(_Cell):
    """Gated recurrent unit cell (gate order r, z, n). `cell(x, h) -> h'`."""

    gates = 3

    def step(self, x_proj: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
        """One step, given the input projection x_proj = W_ih x + b_ih (all three gates)."""
        x_r, x_z, x_n = split(x_proj, 3, axis=-1)  # W_ir x + b_ir, W_iz x + b_iz, W_in x + b_in
        h_proj = linear(h, weight_hh, bias_hh)  # W_hh h + b_hh, all three blocks
        h_r, h_z, h_n = split(h_proj, 3, axis=-1)  # W_hr h + b_hr, W_hz h + b_hz, W_hn h + b_hn
        r = (x_r + h_r).sigmoid()  # r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = (x_z + h_z).sigmoid()  # z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = (x_n + r * h_n).tanh()  # n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        return (h - n) * z + n  # h' = (1 - z) * n + z * h, computed as PyTorch does


# --- Sequence layers ------------------------------------------------------------------------


class _Layers(Module):
    """A stack of recurrent layers, each unrolled over time (`unroll`) with its cell's `step`.

    A subclass sets `cell` (whose `gates` size the weights and whose `state_names` name the
    state) and `step` (the cell's own: the layer steps exactly as its cell does).
    """

    cell: type[_Cell]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype: Any = None,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        check_sizes(name, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        number = isinstance(dropout, (int, float, np.floating)) and not isinstance(dropout, bool)
        if not number or not 0 <= dropout <= 1:
            raise ValueError(
                f"{name}: dropout must be a probability in [0, 1] (the chance that an element "
                f"between two layers is zeroed), got {dropout!r}"
            )
        if dropout and num_layers == 1:
            warnings.warn(
                f"{name}: dropout={dropout} acts between layers, so with num_layers=1 it does "
                f"nothing (as in PyTorch)",
                stacklevel=3,
            )
        dtype = init.check_dtype(dtype, name)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bool(bidirectional)
        generator = init.generator(rng)
        self._dropout_rng = None if rng is None else generator  # else the shared one, at run time
        directions = 2 if bidirectional else 1
        for k in range(num_layers):  # PyTorch's names and order: per layer and direction
            for suffix in self._suffixes(k):
                add_weights(
                    self,
                    suffix,
                    gates=self.cell.gates,
                    input_size=input_size if k == 0 else hidden_size * directions,
                    hidden_size=hidden_size,
                    bias=bias,
                    dtype=dtype,
                    generator=generator,
                )

    def _suffixes(self, k: int) -> tuple[str, ...]:
        """Layer k's parameter-name suffixes: "_lk", and "_lk_reverse" when bidirectional."""
        return (f"_l{k}", f"_l{k}_reverse") if self.bidirectional else (f"_l{k}",)

    def forward(self, input: Any, hx: Any = None) -> tuple[Any, Any]:
        """The output sequence and the final state (each part (layers * directions, [B,] H))."""
        name = type(self).__name__
        dtype = self.weight_ih_l0.dtype
        x, lengths, restore = time_major(
            name, input, None, self.batch_first, dtype, self.input_size
        )
        directions = 2 if self.bidirectional else 1
        shape = (self.num_layers * directions,) + x.shape[1:-1] + (self.hidden_size,)
        names = tuple(f"{n}_0" for n in self.cell.state_names)
        states = [
            _checked_state(name, which, given, shape, x.dtype)
            for which, given in zip(names, _state_parts(name, hx, names))
        ]
        finals = []
        for k in range(self.num_layers):
            outputs = []
            for d, suffix in enumerate(self._suffixes(k)):
                weight_ih, weight_hh, bias_ih, bias_hh = (
                    getattr(self, f"{w}{suffix}") for w in _WEIGHTS
                )
                x_proj = linear(x, weight_ih, bias_ih)  # W_ih x_t + b_ih for every t at once
                state = _as_state([s[k * directions + d] for s in states])
                step = partial(self.step, weight_hh=weight_hh, bias_hh=bias_hh)
                output, final = unroll(step, x_proj, state, lengths=lengths, reverse=d == 1)
                outputs.append(output)
                finals.append(final if isinstance(final, tuple) else (final,))
            x = outputs[0] if directions == 1 else concatenate(outputs, axis=-1)  # next input
            if self.dropout and self.training and k < self.num_layers - 1:
                x = F.dropout(x, self.dropout, rng=self._dropout_rng)
        return restore(x), _as_state([stack(parts) for parts in zip(*finals)])

    def extra_repr(self) -> str:
        extra = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            extra += f", num_layers={self.num_layers}"
        if not self.bias:
            extra += ", bias=False"
        if self.batch_first:
            extra += ", batch_first=True"
        if self.dropout:
            extra += f", dropout={self.dropout}"
        if self.bidirectional:
            extra += ", bidirectional=True"
        return extra


class RNN(_Layers):
    """Elman RNN layers (tanh or relu). `rnn(x, h_0=None) -> (output, h_n)`.

    x is (T, B, I) ((B, T, I) with batch_first), unbatched (T, I), or a PackedSequence; output
    has directions * H in place of I (packed if x is); h_0 and h_n are
    (num_layers * directions, B, H) (or without B), directions being 2 if bidirectional, else 1;
    layer k direction d is row k * directions + d. h_0 defaults to zeros.
    """

    cell = RNNCell
    step = RNNCell.step

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype: Any = None,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        _check_nonlinearity("RNN", nonlinearity)
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            dtype=dtype,
            rng=rng,
        )
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        extra = "" if self.nonlinearity == "tanh" else f", nonlinearity='{self.nonlinearity}'"
        return super().extra_repr() + extra


class LSTM(_Layers):
    """LSTM layers. `lstm(x, (h_0, c_0)=None) -> (output, (h_n, c_n))`.

    Shapes as `RNN`; c_0 and c_n are shaped like h_0 and h_n. The state defaults to zeros.
    `forget_bias` is added to every forget-gate block of bias_hh after the usual initialisation.
    """

    cell = LSTMCell
    step = LSTMCell.step

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype: Any = None,
        rng: int | np.random.Generator | None = None,
        forget_bias: float = 0.0,
    ) -> None:
        _check_forget_bias("LSTM", forget_bias, bias)
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias=bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=bidirectional,
            dtype=dtype,
            rng=rng,
        )
        self.forget_bias = _open_forget_gates(self, forget_bias)

    def extra_repr(self) -> str:
        extra = f", forget_bias={self.forget_bias}" if self.forget_bias else ""
        return super().extra_repr() + extra


class GRU(_Layers):
    """GRU layers. `gru(x, h_0=None) -> (output, h_n)`, shapes as `RNN`."""

    cell = GRUCell
    step = GRUCell.step


# --- Weights and checks ----------------------------------------------------------------------


def add_weights(
    module: Module,
    suffix: str,
    *,
    gates: int,
    input_size: int,
    hidden_size: int,
    bias: bool,
    dtype: np.dtype,
    generator: np.random.Generator,
) -> None:
    """Register weight_ih, weight_hh, bias_ih, bias_hh (+ suffix), drawn in PyTorch's order.

    Each is U(-1/sqrt(H), 1/sqrt(H)), PyTorch's default; the biases are None if bias=False.
    """
    rows, bound = gates * hidden_size, 1 / math.sqrt(hidden_size)
    draw = lambda *shape: Parameter(init.uniform(shape, bound, dtype, generator))  # noqa: E731
    setattr(module, f"weight_ih{suffix}", draw(rows, input_size))
    setattr(module, f"weight_hh{suffix}", draw(rows, hidden_size))
    setattr(module, f"bias_ih{suffix}", draw(rows) if bias else None)
    setattr(module, f"bias_hh{suffix}", draw(rows) if bias else None)


def _open_forget_gates(module: Module, forget_bias: float) -> float:
    """Add `forget_bias` to the forget block, rows [H, 2H), of every bias_hh (not bias_ih).

    So f = sigmoid(... + forget_bias) starts more open (Jozefowicz et al. 2015), after the
    usual draws: the weights, and bias_ih, are those the same seed gives without it.
    """
    hidden = module.hidden_size
    for name, parameter in module.named_parameters():
        if forget_bias and name.startswith("bias_hh"):
            data = parameter.data.copy()
            data[hidden : 2 * hidden] += data.dtype.type(forget_bias)
            parameter.data = data
    return forget_bias


_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _check_forget_bias(name: str, forget_bias: Any, bias: bool) -> None:
    if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float, np.floating)):
        raise TypeError(f"{name}: forget_bias must be a number, got {forget_bias!r}")
    if not math.isfinite(forget_bias):
        raise ValueError(f"{name}: forget_bias must be finite, got {forget_bias!r}")
    if forget_bias and not bias:
        raise ValueError(
            f"{name}: forget_bias={forget_bias} needs bias=True (it is added to bias_hh)"
        )


def check_sizes(name: str, **sizes: int) -> None:
    """Each size must be a positive integer (bools refused), named in the error."""
    for key, value in sizes.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: {key} must be a positive integer, got {value!r}")


def _check_nonlinearity(name: str, nonlinearity: str) -> None:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{name}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


def _state_parts(name: str, hx: Any, names: tuple[str, ...]) -> tuple:
    """The parts of a state: (hx,) for a one-part state, or hx itself, a tuple (h, c), or Nones."""
    if len(names) == 1:
        return (hx,)
    assert len(names) == 2  # the LSTM's (h, c)
    if hx is None:
        return (None,) * len(names)
    if not isinstance(hx, (tuple, list)) or len(hx) != len(names):
        raise TypeError(
            f"{name}: the state must be a pair ({', '.join(names)}) or None, got "
            f"{type(hx).__name__}"
        )
    return tuple(hx)


def _as_state(parts: list[Tensor]) -> Any:
    """A one-part state is the Tensor itself, a longer one a tuple (the cell protocol)."""
    return parts[0] if len(parts) == 1 else tuple(parts)


def _checked_state(name: str, which: str, given: Any, shape: tuple, dtype: np.dtype) -> Tensor:
    """The state `given` (zeros if None), checked to have `shape` and `dtype`."""
    if given is None:
        return Tensor(np.zeros(shape, dtype=dtype))
    given = as_input(given, dtype, name, which)
    if given.shape != shape:
        raise ValueError(f"{name}: expected {which} of shape {shape}, got {given.shape}")
    return given
