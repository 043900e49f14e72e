"""Adagrad: each coordinate's step shrinks with the sum of its squared gradients."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..engine import Tensor
from .optimizer import ARRAY, COUNT, Optimizer, check_flags, check_nonnegative


class Adagrad(Optimizer):
    """s = s + g^2 (s starts at `initial_accumulator_value`); at step t,
    p = p - lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps).

    As in PyTorch, every parameter's state exists from the start (so `state_dict()` has it).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[Mapping[str, Any]],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            self.state[id(p)] = self.initial_state(p.data, group)

    def check_group(self, group: dict[str, Any]) -> None:
        keys = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
        check_nonnegative("Adagrad", group, *keys)
        check_flags("Adagrad", group, "maximize")

    def initial_state(self, value: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "sum": np.full_like(value, group["initial_accumulator_value"])}

    def state_layout(self, group: dict[str, Any]) -> dict[str, str]:
        return {"step": COUNT, "sum": ARRAY}

    def update(
        self, value: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> np.ndarray:
        if group["maximize"]:
            grad = -grad
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * value
        step_size = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] = state["sum"] + grad * grad
        return value + (-step_size) * (grad / (np.sqrt(state["sum"]) + group["eps"]))
