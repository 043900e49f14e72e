"""SGD: stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..engine import Tensor
from .optimizer import ARRAY, Optimizer, check_flags, check_nonnegative


class SGD(Optimizer):
    """PyTorch's SGD: g = grad + weight_decay * p; with momentum, b = g on the first step, then
    b = momentum * b + (1 - dampening) * g, and g = b (or g + momentum * b with Nesterov);
    finally p = p - lr * g. `maximize=True` ascends instead.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[Mapping[str, Any]],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def check_group(self, group: dict[str, Any]) -> None:
        check_nonnegative("SGD", group, "lr", "momentum", "weight_decay")
        check_flags("SGD", group, "nesterov", "maximize")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "SGD: Nesterov momentum requires a momentum and zero dampening (got momentum="
                f"{group['momentum']}, dampening={group['dampening']})"
            )

    def initial_state(self, value: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        return {}  # the momentum buffer starts as the first gradient, made by `update`

    def state_layout(self, group: dict[str, Any]) -> dict[str, str]:
        return {"momentum_buffer": ARRAY} if group["momentum"] != 0 else {}

    def update(
        self, value: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> np.ndarray:
        momentum = group["momentum"]
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * value
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = np.array(grad, copy=True)  # the first grad itself
            else:
                buffer = buffer * momentum + (1 - group["dampening"]) * grad
            state["momentum_buffer"] = buffer
            grad = grad + momentum * buffer if group["nesterov"] else buffer
        return value - group["lr"] * grad
