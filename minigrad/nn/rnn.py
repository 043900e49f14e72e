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
time steps in one matmul, then loops over time doing only the recurrent half.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..engine import Tensor
from ..ops import linear, split, stack, unstack
from . import init
from .module import Module, Parameter, as_input


class _Cell(Module):
    """What the three cells share: parameters, initialisation and input checks."""

    gates = 1  # how many weight blocks are stacked in weight_ih / weight_hh

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        dtype: Any = np.float64,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, input_size=input_size, hidden_size=hidden_size)
        dtype = init.check_dtype(dtype, name)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        generator, rows = init.generator(rng), self.gates * hidden_size
        uniform = lambda *shape: Parameter(  # noqa: E731
            init.uniform(shape, 1 / math.sqrt(hidden_size), dtype, generator)
        )
        self.weight_ih = uniform(rows, input_size)
        self.weight_hh = uniform(rows, hidden_size)
        self.bias_ih = uniform(rows) if bias else None
        self.bias_hh = uniform(rows) if bias else None

    def _input(self, x: Any) -> Tensor:
        x = as_input(x, self.weight_ih.dtype, type(self).__name__)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__}: expected input of shape (batch, {self.input_size}) or "
                f"({self.input_size},) (input_size={self.input_size}), got {x.shape}"
            )
        return x

    def _project(self, x: Tensor) -> Tensor:
        return linear(x, self.weight_ih, self.bias_ih)  # W_ih x + b_ih

    def _state(self, x: Tensor, hx: Any, name: str) -> Tensor:
        shape = x.shape[:-1] + (self.hidden_size,)
        return _checked_state(type(self).__name__, name, hx, shape, self.weight_ih.dtype)

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
        dtype: Any = np.float64,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        _check_nonlinearity("RNNCell", nonlinearity)
        super().__init__(input_size, hidden_size, bias, dtype, rng)
        self.nonlinearity = nonlinearity

    def forward(self, x: Any, hx: Any = None) -> Tensor:
        x = self._input(x)
        h = self._state(x, hx, "h")
        return self.step(self._project(x), h, self.weight_hh, self.bias_hh, self.nonlinearity)

    @staticmethod
    def step(
        x_proj: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None, nonlinearity: str
    ) -> Tensor:
        """One step, given the input projection x_proj = W_ih x + b_ih."""
        a = x_proj + linear(h, weight_hh, bias_hh)  # a = W_ih x + b_ih + W_hh h + b_hh
        return a.tanh() if nonlinearity == "tanh" else a.relu()  # h' = tanh(a)  (or relu(a))

    def extra_repr(self) -> str:
        extra = "" if self.nonlinearity == "tanh" else f", nonlinearity='{self.nonlinearity}'"
        return super().extra_repr() + extra


class LSTMCell(_Cell):
    """Long short-term memory cell (gate order i, f, g, o). `cell(x, (h, c)) -> (h', c')`."""

    gates = 4

    def forward(self, x: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        x = self._input(x)
        h, c = _unpack_pair(type(self).__name__, hx)
        state = self._state(x, h, "h"), self._state(x, c, "c")
        return self.step(self._project(x), state, self.weight_hh, self.bias_hh)

    @staticmethod
    def step(
        x_proj: Tensor, state: tuple[Tensor, Tensor], weight_hh: Tensor, bias_hh: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """One step, given the input projection x_proj = W_ih x + b_ih (all four gates)."""
        h, c = state
        gates = x_proj + linear(h, weight_hh, bias_hh)  # W_ih x + b_ih + W_hh h + b_hh
        i, f, g, o = split(gates, 4, axis=-1)  # the four blocks, in PyTorch's order
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()  # i,f,o = sigmoid, g = tanh
        c = f * c + i * g  # c' = f * c + i * g
        h = o * c.tanh()  # h' = o * tanh(c')
        return h, c


class GRUCell(_Cell):
    """Gated recurrent unit cell (gate order r, z, n). `cell(x, h) -> h'`."""

    gates = 3

    def forward(self, x: Any, hx: Any = None) -> Tensor:
        x = self._input(x)
        h = self._state(x, hx, "h")
        return self.step(self._project(x), h, self.weight_hh, self.bias_hh)

    @staticmethod
    def step(x_proj: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
        """One step, given the input projection x_proj = W_ih x + b_ih (all three gates)."""
        x_r, x_z, x_n = split(x_proj, 3, axis=-1)  # W_ir x + b_ir, W_iz x + b_iz, W_in x + b_in
        h_proj = linear(h, weight_hh, bias_hh)  # W_hh h + b_hh, all three blocks
        h_r, h_z, h_n = split(h_proj, 3, axis=-1)  # W_hr h + b_hr, W_hz h + b_hz, W_hn h + b_hn
        r = (x_r + h_r).sigmoid()  # r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = (x_z + h_z).sigmoid()  # z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = (x_n + r * h_n).tanh()  # n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        return (1 - z) * n + z * h  # h' = (1 - z) * n + z * h


# --- Sequence layers ------------------------------------------------------------------------


class _Layers(Module):
    """A stack of recurrent layers unrolled over time, on top of a cell's `step`.

    Subclasses set `cell` (whose `gates` sizes the weights) and `_step`, which adapts the cell's
    step to a tuple state: (h,) for RNN and GRU, (h, c) for LSTM.
    """

    cell: type[_Cell]
    state_names: tuple[str, ...] = ("h_0",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: Any = np.float64,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        if dropout:
            raise NotImplementedError(
                f"{name}: dropout between layers is not implemented in minigrad "
                f"(got dropout={dropout}); use dropout=0"
            )
        if bidirectional:
            raise NotImplementedError(
                f"{name}: bidirectional layers are not implemented in minigrad; run a second "
                f"{name} on the reversed sequence instead"
            )
        dtype = init.check_dtype(dtype, name)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first = bias, batch_first
        generator, rows = init.generator(rng), self.cell.gates * hidden_size
        uniform = lambda *shape: Parameter(  # noqa: E731
            init.uniform(shape, 1 / math.sqrt(hidden_size), dtype, generator)
        )
        for k in range(num_layers):  # PyTorch's names and order: weights, then biases, per layer
            setattr(self, f"weight_ih_l{k}", uniform(rows, input_size if k == 0 else hidden_size))
            setattr(self, f"weight_hh_l{k}", uniform(rows, hidden_size))
            if bias:
                setattr(self, f"bias_ih_l{k}", uniform(rows))
                setattr(self, f"bias_hh_l{k}", uniform(rows))

    def _step(self, x_proj: Tensor, state: tuple, weight_hh: Tensor, bias_hh: Any) -> tuple:
        raise NotImplementedError

    def _layer_weights(self, k: int) -> tuple:
        """Layer k's weight_ih, weight_hh, bias_ih, bias_hh (the biases None if bias=False)."""
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return tuple(getattr(self, f"{name}_l{k}", None) for name in names)

    def _run(self, x: Any, hx: Any) -> tuple[Tensor, tuple[Tensor, ...]]:
        """The output sequence and the final states (each (num_layers, [B,] H))."""
        name = type(self).__name__
        x = as_input(x, self.weight_ih_l0.dtype, name)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            layout = "(batch, seq, {0})" if self.batch_first else "(seq, batch, {0})"
            raise ValueError(
                f"{name}: expected input of shape {layout.format(self.input_size)} or "
                f"(seq, {self.input_size}) (input_size={self.input_size}), got {x.shape}"
            )
        transposed = x.ndim == 3 and self.batch_first
        if transposed:
            x = x.transpose(0, 1)  # (B, T, I) -> (T, B, I)
        if x.shape[0] == 0:
            raise ValueError(f"{name}: the input sequence is empty (shape {x.shape})")
        shape = (self.num_layers,) + x.shape[1:-1] + (self.hidden_size,)
        given = hx if len(self.state_names) > 1 else (hx,)
        states = [
            _checked_state(name, state_name, s, shape, x.dtype)
            for state_name, s in zip(self.state_names, given)
        ]
        finals = []
        for k in range(self.num_layers):
            weight_ih, weight_hh, bias_ih, bias_hh = self._layer_weights(k)
            x_proj = linear(x, weight_ih, bias_ih)  # W_ih x_t + b_ih for every t at once
            state = tuple(s[k] for s in states)
            outputs = []
            # One slice of x_proj per step. `unstack` is used rather than x_proj[t] because its
            # backward joins the slices' gradients in one stack, while each x_proj[t] would
            # scatter into its own zero array of x_proj's full size: quadratic in T.
            for x_t in unstack(x_proj):
                state = self._step(x_t, state, weight_hh, bias_hh)
                outputs.append(state[0])  # a layer's output at t is its h_t
            x = stack(outputs)  # (T, [B,] H): the next layer's input
            finals.append(state)
        output = x.transpose(0, 1) if transposed else x  # back to (B, T, H)
        return output, tuple(stack(parts) for parts in zip(*finals))

    def extra_repr(self) -> str:
        extra = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            extra += f", num_layers={self.num_layers}"
        if not self.bias:
            extra += ", bias=False"
        if self.batch_first:
            extra += ", batch_first=True"
        return extra


class RNN(_Layers):
    """Elman RNN layers (tanh or relu). `rnn(x, h_0=None) -> (output, h_n)`.

    x is (T, B, I) ((B, T, I) with batch_first) or unbatched (T, I); output has H in place of
    I; h_0 and h_n are (num_layers, B, H) (or (num_layers, H)). h_0 defaults to zeros.
    """

    cell = RNNCell

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
        dtype: Any = np.float64,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        _check_nonlinearity("RNN", nonlinearity)
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            dtype,
            rng,
        )
        self.nonlinearity = nonlinearity

    def _step(self, x_proj: Tensor, state: tuple, weight_hh: Tensor, bias_hh: Any) -> tuple:
        return (RNNCell.step(x_proj, state[0], weight_hh, bias_hh, self.nonlinearity),)

    def forward(self, x: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        output, (h_n,) = self._run(x, hx)
        return output, h_n

    def extra_repr(self) -> str:
        extra = "" if self.nonlinearity == "tanh" else f", nonlinearity='{self.nonlinearity}'"
        return super().extra_repr() + extra


class LSTM(_Layers):
    """LSTM layers. `lstm(x, (h_0, c_0)=None) -> (output, (h_n, c_n))`.

    Shapes as `RNN`; c_0 and c_n are shaped like h_0 and h_n. The state defaults to zeros.
    """

    cell = LSTMCell
    state_names = ("h_0", "c_0")

    def _step(self, x_proj: Tensor, state: tuple, weight_hh: Tensor, bias_hh: Any) -> tuple:
        return LSTMCell.step(x_proj, state, weight_hh, bias_hh)

    def forward(self, x: Any, hx: Any = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        output, (h_n, c_n) = self._run(x, _unpack_pair("LSTM", hx))
        return output, (h_n, c_n)


class GRU(_Layers):
    """GRU layers. `gru(x, h_0=None) -> (output, h_n)`, shapes as `RNN`."""

    cell = GRUCell

    def _step(self, x_proj: Tensor, state: tuple, weight_hh: Tensor, bias_hh: Any) -> tuple:
        return (GRUCell.step(x_proj, state[0], weight_hh, bias_hh),)

    def forward(self, x: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        output, (h_n,) = self._run(x, hx)
        return output, h_n


# --- Checks -----------------------------------------------------------------------------------


def _check_sizes(name: str, **sizes: int) -> None:
    for key, value in sizes.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: {key} must be a positive integer, got {value!r}")


def _check_nonlinearity(name: str, nonlinearity: str) -> None:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{name}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


def _unpack_pair(name: str, hx: Any) -> tuple[Any, Any]:
    """An LSTM state is None or a pair (h, c)."""
    if hx is None:
        return None, None
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise TypeError(f"{name}: the state must be a pair (h, c) or None, got {type(hx).__name__}")
    return hx[0], hx[1]


def _checked_state(name: str, which: str, given: Any, shape: tuple, dtype: np.dtype) -> Tensor:
    """The state `given` (zeros if None), checked to have `shape` and `dtype`."""
    if given is None:
        return Tensor(np.zeros(shape, dtype=dtype))
    given = as_input(given, dtype, name, which)
    if given.shape != shape:
        raise ValueError(f"{name}: expected {which} of shape {shape}, got {given.shape}")
    return given
