"""minigrad: a small reverse-mode autograd library on numpy, written to be read."""

from . import autograd, debug, nn, optim, viz
from .autograd import grad
from .engine import Function, Node, Tensor, from_numpy
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .ops import (
    add,
    broadcast_to,
    concatenate,
    div,
    exp,
    linear,
    log,
    matmul,
    max,
    maximum,
    mean,
    mul,
    pow,
    relu,
    reshape,
    sigmoid,
    split,
    stack,
    sub,
    sum,
    tanh,
    transpose,
    unstack,
    where,
)

float32 = "float32"
float64 = "float64"

__version__ = "0.1.0"

__all__ = [
    "Function",
    "GradcheckError",
    "Node",
    "Tensor",
    "add",
    "autograd",
    "broadcast_to",
    "concatenate",
    "debug",
    "div",
    "enable_grad",
    "exp",
    "from_numpy",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "is_grad_enabled",
    "linear",
    "log",
    "matmul",
    "max",
    "maximum",
    "mean",
    "mul",
    "nn",
    "no_grad",
    "optim",
    "pow",
    "relu",
    "reshape",
    "set_grad_enabled",
    "sigmoid",
    "split",
    "stack",
    "sub",
    "sum",
    "tanh",
    "transpose",
    "unstack",
    "viz",
    "where",
]
