"""Activation functions as Modules, so they can sit in a `Sequential`; reprs as PyTorch's."""

from __future__ import annotations

import math
from typing import Any

from ..engine import Tensor
from ..ops import lift, relu, sigmoid, tanh
from . import functional as F
from .module import Module


class ReLU(Module):
    """max(x, 0) elementwise (the gradient at 0 is 0, as PyTorch's)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        if inplace:
            raise NotImplementedError(
                "ReLU: inplace=True is not supported (minigrad never writes into an array a "
                "graph may have saved); use ReLU()"
            )
        self.inplace = False

    def forward(self, input: Any) -> Tensor:
        return relu(input)


class Tanh(Module):
    """tanh(x) elementwise."""

    def forward(self, input: Any) -> Tensor:
        return tanh(input)


class Sigmoid(Module):
    """1 / (1 + exp(-x)) elementwise, without overflow."""

    def forward(self, input: Any) -> Tensor:
        return sigmoid(input)


class GELU(Module):
    """x * Phi(x): exact (approximate="none", through erfc) or the tanh approximation."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Any) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """softmax along `dim` (None: PyTorch's legacy implicit choice, with its warning)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Any) -> Tensor:
        return F.softmax(input, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log_softmax along `dim`, finite for any input."""

    def forward(self, input: Any) -> Tensor:
        return F.log_softmax(input, dim=self.dim)


class Identity(Module):
    """Returns its input unchanged; its arguments are ignored (a placeholder, as PyTorch's)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Flatten(Module):
    """Merge the axes `start_dim` to `end_dim` into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Any) -> Tensor:
        x = lift(input)
        start, end, ndim = self.start_dim, self.end_dim, max(x.ndim, 1)  # 0-d counts as 1-d
        if not (-ndim <= start < ndim and -ndim <= end < ndim):
            raise IndexError(
                f"Flatten: start_dim={start} / end_dim={end} out of range for an input of "
                f"shape {x.shape}"
            )
        if x.ndim == 0:
            return x.reshape(1)
        start, end = start % ndim, end % ndim
        if start > end:
            raise ValueError(
                f"Flatten: start_dim={self.start_dim} comes after end_dim={self.end_dim} for an "
                f"input of shape {x.shape}"
            )
        merged = math.prod(x.shape[start : end + 1])
        return x.reshape(x.shape[:start] + (merged,) + x.shape[end + 1 :])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
