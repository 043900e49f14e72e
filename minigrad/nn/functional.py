"""Activations and losses composed from the primitives, so their gradients need no extra code."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import Tensor
from ..ops import lift, mean


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


def layer_norm(
    x: Any,
    normalized_shape: int | tuple[int, ...] | list[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the last dims (`normalized_shape`) to mean 0, variance 1, then scale and
    shift: (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance, as PyTorch.

    Composed from primitives (mean, sqrt, ...), so its gradients need no code of their own.
    """
    x = lift(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or len(shape) > x.ndim or x.shape[x.ndim - len(shape) :] != shape:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} must be non-empty and equal the last "
            f"dimensions of the input, got an input of shape {x.shape}"
        )
    for name, given in (("weight", weight), ("bias", bias)):
        given_shape = np.shape(given.data if isinstance(given, Tensor) else given)
        if given is not None and given_shape != shape:
            raise ValueError(
                f"layer_norm: {name} must have shape normalized_shape={shape}, got {given_shape}"
            )
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centred = x - x.mean(axis=axes, keepdims=True)  # x - E[x]
    variance = (centred * centred).mean(axis=axes, keepdims=True)  # Var[x], biased (1/n)
    out = centred / (variance + eps).sqrt()  # (x - E[x]) / sqrt(Var[x] + eps)
    if weight is not None:
        out = out * weight  # * gamma
    if bias is not None:
        out = out + bias  # + beta
    return out
