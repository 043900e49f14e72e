"""RMSprop, optionally centered and with momentum, as PyTorch computes it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..engine import Tensor
from .optimizer import ARRAY, COUNT, Optimizer, check_flags, check_nonnegative, lerp


class RMSprop(Optimizer):
    """v = alpha v + (1 - alpha) g^2; centered: m = alpha m + (1 - alpha) g and v - m^2 is used;
    d = g / (sqrt(v) + eps); p = p - lr * d, or with momentum b = momentum b + d, p = p - lr b.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[Mapping[str, Any]],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def check_group(self, group: dict[str, Any]) -> None:
        check_nonnegative("RMSprop", group, "lr", "eps", "momentum", "weight_decay", "alpha")
        check_flags("RMSprop", group, "centered", "maximize")

    def state_layout(self, group: dict[str, Any]) -> dict[str, str]:
        layout = {"step": COUNT, "square_avg": ARRAY}
        if group["momentum"] > 0:
            layout["momentum_buffer"] = ARRAY
        if group["centered"]:
            layout["grad_avg"] = ARRAY
        return layout

    def update(
        self, value: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> np.ndarray:
        alpha, momentum = group["alpha"], group["momentum"]
        if group["maximize"]:
            grad = -grad
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * value
        state["square_avg"] = state["square_avg"] * alpha + (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = state.setdefault("grad_avg", np.zeros_like(value))  # centered turned on
            grad_avg = state["grad_avg"] = lerp(grad_avg, grad, 1 - alpha)
            average = np.sqrt(state["square_avg"] - grad_avg * grad_avg)
        else:
            average = np.sqrt(state["square_avg"])
        average = average + group["eps"]
        if momentum > 0:
            buffer = state.setdefault("momentum_buffer", np.zeros_like(value))
            state["momentum_buffer"] = buffer * momentum + grad / average
            return value - group["lr"] * state["momentum_buffer"]
        return value + (-group["lr"]) * (grad / average)
