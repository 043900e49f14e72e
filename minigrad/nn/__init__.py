"""Neural-network building blocks on top of minigrad's autograd, named and shaped as PyTorch's.

Layers: `Linear`, `Embedding`, the cells `RNNCell`, `LSTMCell`, `GRUCell` and the sequence
layers `RNN`, `LSTM`, `GRU` (see `minigrad.nn.rnn`), all `Module`s holding `Parameter`s.
Containers (`Sequential`, `ModuleList`, `ModuleDict`, `ParameterList`) are in `container`,
activation modules (`ReLU`, `GELU`, `Softmax`, ...) in `activation`, loss modules
(`CrossEntropyLoss`, ...) in `loss`; the functions behind them live in `minigrad.nn.functional`,
`clip_grad_norm_` and `clip_grad_value_` in `minigrad.nn.utils`.

Initialisation is seedable: `minigrad.nn.init.manual_seed(s)` resets the shared generator that
layers draw from, or pass `rng=` (an int seed or a numpy Generator) to a single layer.
Every layer takes `dtype=` (float64 by default, or float32).
"""

from . import functional, init, utils
from .activation import GELU, Flatten, Identity, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .container import ModuleDict, ModuleList, ParameterList, Sequential
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
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from .utils import clip_grad_norm_, clip_grad_value_

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
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
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "ParameterList",
    "RNN",
    "RNNCell",
    "ReLU",
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
