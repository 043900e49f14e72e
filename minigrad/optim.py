"""Optimizers: SGD (with momentum and weight decay) and Adam, with PyTorch's update rules.

An update is plain numpy on each parameter's `.data`, outside the graph. It makes a new array
and rebinds `p.data` to it rather than writing in place: an array that a still-alive graph saved
for backward is locked read-only by the engine, and writing into it would corrupt that graph's
gradients. Rebinding leaves the saved array untouched (and the engine then reports the change
if that old graph's backward is run, instead of silently using the new values).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .engine import Tensor


class Optimizer:
    """Holds the parameters to update; `step()` applies one update, `zero_grad()` clears grads."""

    def __init__(self, params: Iterable[Tensor]) -> None:
        self.params = list(params)
        name = type(self).__name__
        if not self.params:
            raise ValueError(f"{name}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad or not p.is_leaf:
                raise TypeError(
                    f"{name}: parameter {i} must be a leaf Tensor that requires grad, got {p!r:.60}"
                )
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(f"{name}: a parameter appears more than once in the list")
        self.state: dict[int, dict[str, np.ndarray | int]] = {id(p): {} for p in self.params}

    def zero_grad(self) -> None:
        """Set every parameter's gradient to None (PyTorch's default)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        for p in self.params:
            if p.grad is not None:
                p.data = self._update(p.data, p.grad, self.state[id(p)]).astype(p.dtype, copy=False)

    def _update(self, value: np.ndarray, grad: np.ndarray, state: dict) -> np.ndarray:
        """The parameter's new value (a new array) from its value, gradient and state."""
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum and (L2) weight decay.

    g = grad + weight_decay * p;  with momentum: b = g on the first step, then
    b = momentum * b + g, and g = b;  finally p = p - lr * g.
    """

    def __init__(
        self, params: Iterable[Tensor], lr: float, momentum: float = 0.0, weight_decay: float = 0.0
    ) -> None:
        _check_nonnegative("SGD", lr=lr, momentum=momentum, weight_decay=weight_decay)
        super().__init__(params)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay

    def _update(self, value: np.ndarray, grad: np.ndarray, state: dict) -> np.ndarray:
        if self.weight_decay:
            grad = grad + self.weight_decay * value
        if self.momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.array(grad, copy=True)  # the first grad itself
            else:
                state["momentum_buffer"] = self.momentum * state["momentum_buffer"] + grad
            grad = state["momentum_buffer"]
        return value - self.lr * grad


class Adam(Optimizer):
    """Adam with PyTorch's bias correction (and L2 weight decay added to the gradient).

    m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,  at step t:
    p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        _check_nonnegative("Adam", lr=lr, eps=eps, weight_decay=weight_decay)
        if not all(0.0 <= b < 1.0 for b in betas) or len(betas) != 2:
            raise ValueError(f"Adam: betas must be two numbers in [0, 1), got {betas!r}")
        super().__init__(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, tuple(betas), eps, weight_decay

    def _update(self, value: np.ndarray, grad: np.ndarray, state: dict) -> np.ndarray:
        beta1, beta2 = self.betas
        if self.weight_decay:
            grad = grad + self.weight_decay * value
        if not state:
            state.update(step=0, exp_avg=np.zeros_like(value), exp_avg_sq=np.zeros_like(value))
        state["step"] += 1
        state["exp_avg"] = beta1 * state["exp_avg"] + (1 - beta1) * grad
        state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad * grad
        correction1 = 1 - beta1 ** state["step"]
        correction2 = 1 - beta2 ** state["step"]
        denominator = np.sqrt(state["exp_avg_sq"]) / np.sqrt(correction2) + self.eps
        return value - (self.lr / correction1) * state["exp_avg"] / denominator


def _check_nonnegative(name: str, **values: float) -> None:
    for key, value in values.items():
        if not value >= 0:
            raise ValueError(f"{name}: {key} must be >= 0, got {value!r}")
