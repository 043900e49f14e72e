"""Neural-network building blocks on top of minigrad's autograd, named and shaped as PyTorch's.

Layers: `Linear`, `Embedding`, the cells `RNNCell`, `LSTMCell`, `GRUCell` and the sequence
layers `RNN`, `LSTM`, `GRU` (see `minigrad.nn.rnn`), all `Module`s holding `Parameter`s.
Losses and activations live in `minigrad.nn.functional`, `clip_grad_norm_` and
`clip_grad_value_` in `minigrad.nn.utils`.

Initialisation is seedable: `minigrad.nn.init.manual_seed(s)` resets the shared generator that
layers draw from, or pass `rng=` (an int seed or a numpy Generator) to a single layer.
Every layer takes `dtype=` (float64 by default, or float32).
"""

from . import functional, init, utils
from .layers import Embedding, Linear
from .module import IncompatibleKeys, Module, Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .utils import clip_grad_norm_, clip_grad_value_

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Embedding",
    "GRUCell",
    "IncompatibleKeys",
    "LSTMCell",
    "Linear",
    "Module",
    "Parameter",
    "RNNCell",
    "clip_grad_norm_",
    "clip_grad_value_",
    "functional",
    "init",
    "utils",
]
