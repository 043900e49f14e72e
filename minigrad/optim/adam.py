"""Adam and AdamW, with PyTorch's bias correction, AMSGrad and both kinds of weight decay."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..engine import Tensor
from .optimizer import ARRAY, COUNT, Optimizer, check_flags, check_nonnegative, lerp


class Adam(Optimizer):
    """m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2 (v = max over time with `amsgrad`), at
    step t: p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).

    `weight_decay` adds `weight_decay * p` to the gradient (L2), or with
    `decoupled_weight_decay=True` (which is AdamW) multiplies p by `1 - lr * weight_decay` first.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[Mapping[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        check_nonnegative(name, group, "lr", "eps")
        betas = group["betas"] = _pair(group["betas"])  # a group may give them as a list
        if not isinstance(betas, tuple) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be two numbers in [0, 1), got {betas!r:.60}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(
                    f"{name}: betas must be two numbers in [0, 1) (Invalid beta parameter at "
                    f"index {i}: {beta})"
                )
        check_nonnegative(name, group, "weight_decay")
        check_flags(name, group, "amsgrad", "maximize", "decoupled_weight_decay")

    def state_layout(self, group: dict[str, Any]) -> dict[str, str]:
        layout = {"step": COUNT, "exp_avg": ARRAY, "exp_avg_sq": ARRAY}
        if group["amsgrad"]:
            layout["max_exp_avg_sq"] = ARRAY
        return layout

    def update(
        self, value: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> np.ndarray:
        lr, (beta1, beta2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
        if group["maximize"]:
            grad = -grad
        state["step"] += 1
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                value = value * (1 - lr * weight_decay)
            else:
                grad = grad + weight_decay * value
        state["exp_avg"] = lerp(state["exp_avg"], grad, 1 - beta1)
        state["exp_avg_sq"] = state["exp_avg_sq"] * beta2 + (1 - beta2) * grad * grad
        second = state["exp_avg_sq"]
        if group["amsgrad"]:
            highest = state.setdefault("max_exp_avg_sq", np.zeros_like(value))  # turned on late
            second = state["max_exp_avg_sq"] = np.maximum(highest, second)
        step_size = lr / (1 - beta1 ** state["step"])
        denominator = np.sqrt(second) / (1 - beta2 ** state["step"]) ** 0.5 + group["eps"]
        return value + (-step_size) * (state["exp_avg"] / denominator)


class AdamW(Adam):
    """Adam with decoupled weight decay (p *= 1 - lr * weight_decay each step), default 1e-2."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[Mapping[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )


def _pair(betas: Any) -> Any:
    """Betas as a tuple (so a list also works); anything else is left for the check to reject."""
    return tuple(betas) if isinstance(betas, (list, tuple)) else betas
