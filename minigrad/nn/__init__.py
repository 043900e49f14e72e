"""Neural-network building blocks on top of minigrad's autograd, named and shaped as PyTorch's.

Layers: `Linear`, `Embedding`, `LayerNorm`, the cells `RNNCell`, `LSTMCell`, `GRUCell` and the
sequence layers `RNN`, `LSTM`, `GRU` (see `minigrad.nn.rnn`), the LSTM variants and the MGU
(`minigrad.nn.cells`), all `Module`s holding `Parameter`s.
Losses and activations live in `minigrad.nn.functional`, `clip_grad_norm_` in `minigrad.nn.utils`.

Initialisation is seedable: `minigrad.nn.init.manual_seed(s)` resets the shared generator that
layers draw from, or pass `rng=` (an int seed or a numpy Generator) to a single layer.
Every layer takes `dtype=` (float64 by default, or float32).
"""

from . import functional, init, utils
from .cells import (
    CoupledLSTMCell,
    LayerNormLSTMCell,
    MGUCell,
    NoForgetGateLSTMCell,
    PeepholeLSTMCell,
)
from .layers import Embedding, Linear
from .module import IncompatibleKeys, Module, Parameter
from .normalization import LayerNorm
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .utils import clip_grad_norm_

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "CoupledLSTMCell",
    "Embedding",
    "GRUCell",
    "IncompatibleKeys",
    "LSTMCell",
    "LayerNorm",
    "LayerNormLSTMCell",
    "Linear",
    "MGUCell",
    "Module",
    "NoForgetGateLSTMCell",
    "Parameter",
    "PeepholeLSTMCell",
    "RNNCell",
    "clip_grad_norm_",
    "functional",
    "init",
    "utils",
]
