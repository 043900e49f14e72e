"""Neural-network building blocks on top of minigrad's autograd, named and shaped as PyTorch's.

Layers: `Linear`, `Embedding`, `Dropout`, the cells `RNNCell`, `LSTMCell`, `GRUCell` and the
sequence layers `RNN`, `LSTM`, `GRU` (see `minigrad.nn.rnn`), all `Module`s holding
`Parameter`s. `Recurrent` and `Bidirectional` (`minigrad.nn.recurrent`) unroll any cell.
Dropout, losses and activations live in `minigrad.nn.functional`; `clip_grad_norm_`,
`clip_grad_value_` and the sequence packing (`pack_padded_sequence`, ...) in `minigrad.nn.utils`.

Initialisation is seedable: `minigrad.nn.init.manual_seed(s)` resets the shared generator that
layers draw from, or pass `rng=` (an int seed or a numpy Generator) to a single layer.
Every layer takes `dtype=` (float64 by default, or float32).
"""

from . import functional, init, utils
from .dropout import Dropout
from .layers import Embedding, Linear
from .module import IncompatibleKeys, Module, Parameter
from .recurrent import Bidirectional, Recurrent
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .utils import clip_grad_norm_, clip_grad_value_

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Bidirectional",
    "Dropout",
    "Embedding",
    "GRUCell",
    "IncompatibleKeys",
    "LSTMCell",
    "Linear",
    "Module",
    "Parameter",
    "RNNCell",
    "Recurrent",
    "clip_grad_norm_",
    "clip_grad_value_",
    "functional",
    "init",
    "utils",
]
