"""LSTM variants and the minimal gated unit, each a few lines of equations on the primitives.

Every cell follows the cell protocol, as `nn.LSTMCell` does: `forward(x, state=None)` takes one
step's input, (batch, input_size) or unbatched (input_size,), and a state -- (h, c) for the
LSTM-like cells, h for the MGU; None means zeros -- and returns the new state.

Parameters follow the built-in cells' layout: `weight_ih` (gates * hidden, input) and
`weight_hh` (gates * hidden, hidden) hold one block per gate, stacked in the order each class
names (i, f, g, o for the LSTM, as PyTorch's), `bias_ih` and `bias_hh` likewise, all drawn in
that order from U(-1/sqrt(hidden), 1/sqrt(hidden)) as PyTorch's `LSTMCell` draws them. Extra
weights (peepholes) come after, from the same distribution. So a `PeepholeLSTMCell` whose
peepholes are zeroed computes exactly the `LSTMCell` built from the same seed.

The LSTM-like cells take `output_activation=False` for h' = o * c' instead of o * tanh(c'):
the NOAF variant of Greff et al. (2017), for ablation studies.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..engine import Tensor
from ..ops import linear, split
from . import init
from .module import Module, Parameter, as_input
from .normalization import LayerNorm
from .rnn import add_weights, check_sizes

State = Any  # a Tensor (h), a pair (h, c), or None for zeros


class _GatedCell(Module):
    """What the cells share: sizes, the stacked gate weights, and the input and state checks."""

    gates: int  # weight blocks stacked in weight_ih / weight_hh
    vectors: tuple[str, ...] = ()  # names of extra (hidden,) weights, drawn after the biases

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        dtype: Any = None,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        """Draw weight_ih, weight_hh, bias_ih, bias_hh, then each of `vectors`."""
        super().__init__()
        name = type(self).__name__
        check_sizes(name, input_size=input_size, hidden_size=hidden_size)
        dtype = init.check_dtype(dtype, name)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        generator = init.generator(rng)
        add_weights(
            self,
            "",
            gates=self.gates,
            input_size=input_size,
            hidden_size=hidden_size,
            bias=bias,
            dtype=dtype,
            generator=generator,
        )
        bound = 1 / math.sqrt(hidden_size)  # the extra vectors are drawn like the weights, after
        for vector in self.vectors:
            setattr(self, vector, Parameter(init.uniform((hidden_size,), bound, dtype, generator)))

    dtype = property(lambda self: self.weight_ih.dtype, doc="The parameters' dtype.")

    def _input(self, x: Any) -> Tensor:
        name = type(self).__name__
        x = as_input(x, self.dtype, name)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: expected input of shape (batch, {self.input_size}) or "
                f"({self.input_size},) (input_size={self.input_size}), got {x.shape}"
            )
        return x

    def _hidden(self, x: Tensor, given: Any, which: str) -> Tensor:
        """One state tensor for input x: zeros if None, else checked for shape and dtype."""
        shape = x.shape[:-1] + (self.hidden_size,)
        if given is None:
            return Tensor(np.zeros(shape, dtype=self.dtype))
        given = as_input(given, self.dtype, type(self).__name__, which)
        if given.shape != shape:
            raise ValueError(
                f"{type(self).__name__}: expected {which} of shape {shape} for an input of "
                f"shape {x.shape}, got {given.shape}"
            )
        return given

    def _blocks(self, x: Tensor, h: Tensor) -> list[Tensor]:
        """The gates' pre-activations W_ih x + b_ih + W_hh h + b_hh, cut into their blocks."""
        pre = linear(x, self.weight_ih, self.bias_ih) + linear(h, self.weight_hh, self.bias_hh)
        return split(pre, self.gates, axis=-1)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class _LSTMLike(_GatedCell):
    """A cell whose state is (h, c), with the NOAF option (no tanh on the output)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        output_activation: bool = True,
        dtype: Any = None,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, dtype, rng)
        self.output_activation = bool(output_activation)

    def _state(self, x: Tensor, state: State) -> tuple[Tensor, Tensor]:
        """(h, c) for input x: zeros for None (the whole state, or either part)."""
        if state is None:
            state = (None, None)
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(
                f"{type(self).__name__}: the state must be a pair (h, c) or None, got "
                f"{type(state).__name__}"
            )
        return self._hidden(x, state[0], "h"), self._hidden(x, state[1], "c")

    def _output(self, o: Tensor, c: Tensor) -> Tensor:
        """h' = o * tanh(c'), or o * c' without the output activation (NOAF)."""
        return o * (c.tanh() if self.output_activation else c)

    def extra_repr(self) -> str:
        extra = "" if self.output_activation else ", output_activation=False"
        return super().extra_repr() + extra


class PeepholeLSTMCell(_LSTMLike):
    """LSTM with peephole connections (Gers & Schmidhuber 2000, "Recurrent nets that time and
    count"): the input and forget gates also see c, the output gate sees c'.

    Gate order i, f, g, o as `LSTMCell`, plus diagonal peephole weights `weight_ci`,
    `weight_cf`, `weight_co`, each (hidden_size,). `cell(x, (h, c)) -> (h', c')`.
    """

    gates = 4
    vectors = ("weight_ci", "weight_cf", "weight_co")

    def forward(self, x: Any, state: State = None) -> tuple[Tensor, Tensor]:
        x = self._input(x)
        h, c = self._state(x, state)
        i, f, g, o = self._blocks(x, h)  # W_i* x + b_i* + W_h* h + b_h*, * = i, f, g, o
        i = (i + self.weight_ci * c).sigmoid()  # i = sigmoid(W_ii x + W_hi h + b_i + w_ci * c)
        f = (f + self.weight_cf * c).sigmoid()  # f = sigmoid(W_if x + W_hf h + b_f + w_cf * c)
        c = f * c + i * g.tanh()  # c' = f * c + i * tanh(W_ig x + W_hg h + b_g)
        o = (o + self.weight_co * c).sigmoid()  # o = sigmoid(W_io x + W_ho h + b_o + w_co * c')
        return self._output(o, c), c  # h' = o * tanh(c')


class CoupledLSTMCell(_LSTMLike):
    """LSTM with coupled input and forget gates, f = 1 - i (CIFG; Greff et al. 2017, "LSTM: A
    Search Space Odyssey"): new content is written only as far as old content is forgotten.

    No forget weights: three blocks i, g, o in weight_ih / weight_hh. Greff et al. apply the
    coupling to an LSTM with peepholes; this is the coupling alone, on `LSTMCell`'s equations.
    `cell(x, (h, c)) -> (h', c')`.
    """

    gates = 3

    def forward(self, x: Any, state: State = None) -> tuple[Tensor, Tensor]:
        x = self._input(x)
        h, c = self._state(x, state)
        i, g, o = self._blocks(x, h)  # W_i* x + b_i* + W_h* h + b_h*, * = i, g, o
        i, g, o = i.sigmoid(), g.tanh(), o.sigmoid()  # i, o = sigmoid(.), g = tanh(.)
        c = (1 - i) * c + i * g  # c' = f * c + i * g, with f = 1 - i
        return self._output(o, c), c  # h' = o * tanh(c')


class NoForgetGateLSTMCell(_LSTMLike):
    """The original LSTM, without a forget gate (Hochreiter & Schmidhuber 1997, "Long
    short-term memory"): the cell state only accumulates, c' = c + i * g.

    Three blocks i, g, o in weight_ih / weight_hh. The 1997 paper squashes g and the output
    with scaled sigmoids; this uses tanh for both, as later formulations do (Greff et al.'s NFG
    variant, for one). `cell(x, (h, c)) -> (h', c')`.
    """

    gates = 3

    def forward(self, x: Any, state: State = None) -> tuple[Tensor, Tensor]:
        x = self._input(x)
        h, c = self._state(x, state)
        i, g, o = self._blocks(x, h)  # W_i* x + b_i* + W_h* h + b_h*, * = i, g, o
        i, g, o = i.sigmoid(), g.tanh(), o.sigmoid()  # i, o = sigmoid(.), g = tanh(.)
        c = c + i * g  # c' = c + i * g: nothing is ever forgotten
        return self._output(o, c), c  # h' = o * tanh(c')


class LayerNormLSTMCell(_LSTMLike):
    """LSTM with layer normalisation (Ba, Kiros & Hinton 2016, "Layer normalization", the
    layer-normalised LSTM of its supplementary material): the input and recurrent
    pre-activations are normalised separately, and so is c' before the output tanh (c' itself,
    the state, is not). Each normalisation adds `eps` (1e-5) to the variance, as `LayerNorm`.

    Parameters: weight_ih (4 * hidden, input) and weight_hh (4 * hidden, hidden) in the order
    i, f, g, o, and the LayerNorms `layernorm_ih`, `layernorm_hh` (over 4 * hidden) and
    `layernorm_c` (over hidden), gains 1 and shifts 0 as in the paper. The paper's extra bias b
    is left out: it would only add to the shifts of layernorm_ih and layernorm_hh.
    `bias=False` removes the layer norms' shifts. `cell(x, (h, c)) -> (h', c')`.
    """

    gates = 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        eps: float = 1e-5,
        output_activation: bool = True,
        dtype: Any = None,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, False, output_activation, dtype, rng)
        self.bias, self.eps = bias, eps  # the shifts are the layer norms' biases
        rows = self.gates * hidden_size
        self.layernorm_ih = LayerNorm(rows, eps=eps, bias=bias, dtype=self.dtype)
        self.layernorm_hh = LayerNorm(rows, eps=eps, bias=bias, dtype=self.dtype)
        self.layernorm_c = LayerNorm(hidden_size, eps=eps, bias=bias, dtype=self.dtype)

    def forward(self, x: Any, state: State = None) -> tuple[Tensor, Tensor]:
        x = self._input(x)
        h, c = self._state(x, state)
        pre = self.layernorm_ih(linear(x, self.weight_ih))  # LN(W_ih x; gain_ih, shift_ih)
        pre = pre + self.layernorm_hh(linear(h, self.weight_hh))  # + LN(W_hh h; gain_hh, ...)
        i, f, g, o = split(pre, 4, axis=-1)  # the four blocks, in the order i, f, g, o
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()  # i,f,o = sigmoid, g = tanh
        c = f * c + i * g  # c' = f * c + i * g
        return self._output(o, self.layernorm_c(c)), c  # h' = o * tanh(LN(c'; gain_c, shift_c))

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.eps == 1e-5 else f", eps={self.eps}")


class MGUCell(_GatedCell):
    """Minimal gated unit (Zhou, Wu, Zhang & Zhou 2016, "Minimal gated unit for recurrent
    neural networks"): a GRU with one gate, f, that both resets and updates.

    Two blocks f, n in weight_ih / weight_hh (the candidate n reads f * h, as in the paper).
    `cell(x, h) -> h'`.
    """

    gates = 2

    def forward(self, x: Any, state: State = None) -> Tensor:
        x = self._input(x)
        h = self._hidden(x, state, "h")
        x_f, x_n = split(linear(x, self.weight_ih, self.bias_ih), 2, axis=-1)  # W_i* x + b_i*
        w_f, w_n = split(self.weight_hh, 2, axis=0)  # W_hf, W_hn: the blocks of weight_hh
        b_f, b_n = (None, None) if self.bias_hh is None else split(self.bias_hh, 2)
        f = (x_f + linear(h, w_f, b_f)).sigmoid()  # f = sigmoid(W_if x + b_if + W_hf h + b_hf)
        n = (x_n + linear(f * h, w_n, b_n)).tanh()  # n = tanh(W_in x + b_in + W_hn (f*h) + b_hn)
        return (1 - f) * h + f * n  # h' = (1 - f) * h + f * n
