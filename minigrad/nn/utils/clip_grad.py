"""Gradient clipping, as torch.nn.utils: by the global norm (`clip_grad_norm_`) or by value."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ...engine import Tensor


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale all gradients together so their global `norm_type`-norm is at most `max_norm`.

    As PyTorch: the norm is that of the per-gradient norms (parameters without a gradient are
    skipped), and every gradient is multiplied by min(max_norm / (norm + 1e-6), 1), so a NaN or
    infinite norm reaches every gradient, unless `error_if_nonfinite` raises instead. A NaN or
    negative `max_norm` is refused. Returns the norm before clipping, as a float.
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not max_norm >= 0:  # NaN too: PyTorch would turn every gradient into NaN
        raise ValueError(
            f"clip_grad_norm_: max_norm must be a number >= 0, not {max_norm} (a NaN limit would "
            f"make every gradient NaN, a negative one would flip their signs)"
        )
    grads = _gradients(parameters)
    if not grads:
        return 0.0
    total = _vector_norm(np.array([_vector_norm(g, norm_type) for _, g in grads]), norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: The total norm of order {norm_type} for gradients from "
            f"`parameters` is non-finite, so it cannot be clipped. To disable this error and "
            f"scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    with np.errstate(invalid="ignore"):
        coefficient = min(max_norm / (total + 1e-6), 1.0) if not math.isnan(total) else math.nan
        for p, g in grads:  # a new array of the same dtype (a python float is weak), as in loading
            p.grad = g * coefficient
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient into [-clip_value, clip_value], as PyTorch (NaN stays NaN)."""
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(
            f"clip_grad_value_: clip_value must be a number >= 0, not {clip_value} (the range "
            f"is [-clip_value, clip_value])"
        )
    for p, g in _gradients(parameters):
        p.grad = np.clip(g, -clip_value, clip_value).astype(g.dtype, copy=False)


def _gradients(parameters: Tensor | Iterable[Tensor]) -> list[tuple[Tensor, np.ndarray]]:
    """The parameters that have a gradient, each with its gradient."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [(p, p.grad) for p in parameters if p.grad is not None]


def _vector_norm(x: np.ndarray, p: float) -> float:
    """torch.linalg.vector_norm(x, p) of all elements, in float64: inf is max |x|, -inf min |x|,
    0 the count of non-zeros, otherwise (sum |x|^p)^(1/p), scaled so tiny or huge values do not
    under- or overflow (as PyTorch's)."""
    a = np.abs(np.asarray(x, dtype=np.float64)).reshape(-1)
    if a.size == 0:
        return 0.0
    if p == math.inf:
        return float(a.max())
    if p == -math.inf:
        return float(a.min())
    if p == 0:
        return float(np.count_nonzero(a))
    scale = a.max()  # dividing by the largest magnitude keeps |x|^p from under- or overflowing
    if not np.isfinite(scale) or scale == 0:  # NaN or inf decide the norm (or it is 0)
        scale = 1.0
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        a = a / scale
        if p == 2:
            return float(scale * np.sqrt(np.sum(a * a)))
        return float(scale * np.sum(a**p) ** (1 / p))
