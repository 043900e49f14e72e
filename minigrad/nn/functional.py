"""Dropout, activations and losses composed from the primitives, so their gradients need no
extra code."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import Tensor
from ..ops import constant, lift, mean
from . import init


def dropout(
    x: Any, p: float = 0.5, training: bool = True, rng: int | np.random.Generator | None = None
) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1 / (1 - p).

    So the expected value is unchanged and evaluation needs no rescaling: with training=False
    (or p=0) it is the identity. The mask is drawn from `rng` (a seed or a numpy Generator), by
    default from minigrad.nn.init's shared generator (`manual_seed` makes a run reproducible).
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    x = lift(x)
    if not training or p == 0:
        return x
    keep = init.generator(rng).random(x.shape) >= p
    scale = 0.0 if p == 1 else 1 / (1 - p)
    return x * constant(keep * scale, x.dtype)  # the mask is a constant: gradient x mask too


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis`, computed as exp(x - max) so it never overflows."""
    x = lift(x)
    e = (x - x.max(axis=axis, keepdims=True).detach()).exp()  # shift-invariant: max is a constant
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - log(sum(exp(x))) along `axis`; subtracting the max first keeps it finite for any x."""
    x = lift(x)
    shifted = x - x.max(axis=axis, keepdims=True).detach()  # the result does not depend on it
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


def cross_entropy(logits: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """-log softmax(logits)[target] for integer class targets, as PyTorch's cross_entropy.

    logits (N, C) with targets (N,), or logits (C,) with a single target. reduction is "mean"
    (over N), "sum" or "none".
    """
    logits = lift(logits)
    _check_reduction("cross_entropy", reduction)
    if logits.ndim not in (1, 2):
        raise ValueError(f"cross_entropy: logits must be (N, C) or (C,), got shape {logits.shape}")
    targets = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if targets.dtype.kind == "f" and np.array_equal(targets, np.round(targets)):
        targets = targets.astype(np.intp)  # a Tensor of class ids holds whole-number floats
    if targets.dtype.kind not in "iu":
        raise TypeError(
            f"cross_entropy: targets must be integer class indices, got dtype {targets.dtype}"
        )
    if targets.shape != logits.shape[:-1]:
        raise ValueError(
            f"cross_entropy: logits of shape {logits.shape} need targets of shape "
            f"{logits.shape[:-1]}, got {targets.shape}"
        )
    classes = logits.shape[-1]
    bad = (targets < 0) | (targets >= classes)
    if bad.any():
        raise IndexError(
            f"cross_entropy: target {targets[bad].flat[0]} is out of range for {classes} classes "
            f"(logits of shape {logits.shape})"
        )
    log_p = log_softmax(logits, axis=-1)
    if logits.ndim == 1:
        picked = log_p[int(targets)]
    else:
        picked = log_p[np.arange(len(targets)), targets]  # row n, column targets[n]
    return _reduce(-picked, reduction)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """(input - target)^2, averaged ("mean"), summed ("sum") or not ("none"); shapes must match."""
    input = lift(input)
    target = target if isinstance(target, Tensor) else Tensor(target, dtype=input.dtype)
    _check_reduction("mse_loss", reduction)
    if input.shape != target.shape:
        raise ValueError(
            f"mse_loss: input has shape {input.shape} but target has shape {target.shape}; "
            f"they must match (no broadcasting, to avoid silent mistakes)"
        )
    difference = input - target
    return _reduce(difference * difference, reduction)


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return mean(losses)
    return losses.sum() if reduction == "sum" else losses
