"""Neural-network building blocks on top of minigrad's autograd, named and shaped as PyTorch's.

Layers: `Linear`, `Embedding`, `Dropout`, `LayerNorm`, the cells `RNNCell`, `LSTMCell`,
`GRUCell` and the sequence layers `RNN`, `LSTM`, `GRU` (see `minigrad.nn.rnn`), all `Module`s
holding `Parameter`s; the LSTM variants and the MGU are in `minigrad.nn.cells`. `Recurrent` and
`Bidirectional` (`minigrad.nn.recurrent`) unroll any cell.
Containers (`Sequential`, `ModuleList`, `ModuleDict`, `ParameterList`) are in `container`,
activation modules (`ReLU`, `GELU`, `Softmax`, ...) in `activation`, loss modules
(`CrossEntropyLoss`, ...) in `loss`; the functions behind them (and dropout) live in
`minigrad.nn.functional`; `clip_grad_norm_`, `clip_grad_value_` and the sequence packing
(`pack_padded_sequence`, ...) in `minigrad.nn.utils`.

Initialisation is seedable: `minigrad.nn.init.manual_seed(s)` resets the shared generator that
layers draw from, or pass `rng=` (an int seed or a numpy Generator) to a single layer.
Every layer takes `dtype=` (float32 or float64; by default `minigrad.get_default_dtype()`).
"""

from . import functional, init, utils
from .activation import GELU, Flatten, Identity, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .cells import (
    CoupledLSTMCell,
    LayerNormLSTMCell,
    MGUCell,
    NoForgetGateLSTMCell,
    PeepholeLSTMCell,
)
from .container import ModuleDict, ModuleList, ParameterList, Sequential
from .dropout import Dropout
from .layers import Embedding, Linear
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from .module import IncompatibleKeys, Module, Parameter, RemovableHandle
from .normalization import LayerNorm
from .recurrent import Bidirectional, Recurrent
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .utils import clip_grad_norm_, clip_grad_value_

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "Bidirectional",
    "CoupledLSTMCell",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Flatten",
    "GELU",
    "GRU",
    "GRUCell",
    "HuberLoss",
    "Identity",
    "IncompatibleKeys",
    "KLDivLoss",
    "L1Loss",
    "LSTM",
    "LSTMCell",
    "LayerNorm",
    "LayerNormLSTMCell",
    "Linear",
    "LogSoftmax",
    "MGUCell",
    "MSELoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "NoForgetGateLSTMCell",
    "Parameter",
    "ParameterList",
    "PeepholeLSTMCell",
    "RNN",
    "RNNCell",
    "ReLU",
    "Recurrent",
    "RemovableHandle",
    "Sequential",
    "Sigmoid",
    "SmoothL1Loss",
    "Softmax",
    "Tanh",
    "clip_grad_norm_",
    "clip_grad_value_",
    "functional",
    "init",
    "utils",
]
