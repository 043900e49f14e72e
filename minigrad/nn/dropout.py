"""`Dropout`, the module form of `functional.dropout`: active in training mode only."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import Tensor
from . import functional as F
from .module import Module


class Dropout(Module):
    """Zero each element with probability p in training mode (scaling the rest by 1 / (1 - p)).

    The identity after `eval()`. Masks come from `rng` (a seed or a numpy Generator, kept and
    advanced from call to call) if given, else from minigrad.nn.init's shared generator.
    """

    def __init__(self, p: float = 0.5, rng: int | np.random.Generator | None = None) -> None:
        super().__init__()
        F.dropout(np.zeros(0), p)  # checks p, with dropout's own message
        self.p = float(p)
        self.generator = None if rng is None else np.random.default_rng(rng)

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"
