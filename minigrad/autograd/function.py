"""Helpers for writing a `Function`: `once_differentiable`, as `torch.autograd.function`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from ..engine import Function, Tensor, from_numpy
from ..grad_mode import is_grad_enabled, no_grad


def once_differentiable(backward: Callable) -> Callable:
    """Decorate a Function's `backward` that is not written with Tensor ops (numpy, say).

    It runs with recording off. Under `create_graph=True` its gradients come out attached to a
    node that refuses to be differentiated, so a second derivative through it raises instead of
    silently treating it as a constant (PyTorch does so only if a grad_output requires grad).
    """

    @functools.wraps(backward)
    def wrapper(ctx: Any, *grad_outputs: Any) -> Any:
        recording = is_grad_enabled()  # the walk records only under create_graph
        with no_grad():
            grads = backward(ctx, *grad_outputs)
        if not recording:
            return grads
        name = getattr(ctx, "fn", Function).__name__
        single = not isinstance(grads, tuple)
        marked = tuple(
            None if g is None else DifferentiatedTwice.apply(as_leaf(g), name)
            for g in ((grads,) if single else grads)
        )
        return marked[0] if single else marked

    return wrapper


def as_leaf(gradient: Any) -> Tensor:
    """A gradient (Tensor or array) as a new leaf that requires grad, for DifferentiatedTwice."""
    data = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient)
    leaf = from_numpy(np.array(data, dtype=data.dtype if data.dtype.kind == "f" else np.float64))
    leaf.requires_grad = True
    return leaf


class DifferentiatedTwice(Function):
    """Passes a gradient through; its backward raises: the once_differentiable guard."""

    @staticmethod
    def forward(ctx: Any, gradient: Tensor, name: str) -> np.ndarray:
        ctx.name = name
        return gradient.data

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple:
        raise RuntimeError(
            f"{ctx.name}: trying to differentiate twice a function whose backward is marked "
            f"@once_differentiable"
        )
