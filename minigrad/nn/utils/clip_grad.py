"""Gradient utilities."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ...engine import Tensor


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float) -> float:
    """Scale all gradients together so their global 2-norm is at most `max_norm`, as PyTorch.

    The norm is taken over every gradient at once (parameters without one are skipped). They
    are multiplied by max_norm / (norm + 1e-6) only when that factor is below 1. Returns the
    norm before clipping, as a float.
    """
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p for p in parameters if p.grad is not None]
    total = float(np.sqrt(sum(float(np.sum(np.square(p.grad, dtype=np.float64))) for p in grads)))
    coefficient = float(max_norm) / (total + 1e-6)
    if coefficient < 1:
        for p in grads:
            p.grad = p.grad * coefficient  # a new array of the same dtype (a python float is weak)
    return total
