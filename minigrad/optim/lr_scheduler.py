"""Learning-rate schedules: they set each parameter group's `lr`, as PyTorch's schedulers do.

Call `scheduler.step()` after `optimizer.step()` (ReduceLROnPlateau: `scheduler.step(metric)`).
Each one computes the next rate the way PyTorch does (mostly from the current one, so that
other changes to `lr` compose), so the values agree with PyTorch's to the last bits.
`state_dict()` holds Python numbers, strings and lists of them only (never the optimizer, nor
LambdaLR's functions); `load_state_dict` checks its layout before changing anything.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..engine import Tensor
from .optimizer import Optimizer

__all__ = [
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "StepLR",
]


class LRScheduler:
    """Base class: `step()` sets every group's `lr` to `get_lr()`; `get_last_lr()` reads them.

    With `last_epoch=-1` each group's starting `lr` is kept as `initial_lr` (the base rate);
    a larger `last_epoch` resumes a schedule and needs `initial_lr` in every group.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        _check_optimizer(type(self).__name__, optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{type(self).__name__}: param 'initial_lr' is not specified in "
                        f"param_groups[{i}] when resuming scheduler with last_epoch >= 0"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True  # the constructor's step sets the starting rates
        self.step()
        self._is_initial = False

    def get_lr(self) -> list[float]:
        """The rates for the step now at `last_epoch` (called by `step`)."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The learning rate of each parameter group, as the last `step()` set it."""
        return list(self._last_lr)

    def step(self) -> None:
        """Advance the schedule by one step and set every group's `lr`."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def current_lrs(self) -> list[float]:
        """Every group's `lr` as it is now."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's own variables (not the optimizer, not functions), as plain values."""
        return {
            key: _copy(value)
            for key, value in vars(self).items()
            if key != "optimizer" and not _holds_callables(value)
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore `state_dict()`'s output, after checking it has the same layout as ours."""
        own = self.state_dict()
        problems: list[str] = []
        if not isinstance(state_dict, Mapping):
            problems.append(f"expected a dict, got {type(state_dict).__name__}")
        else:
            missing, unexpected = (
                sorted(set(own) - set(state_dict)),
                sorted(set(state_dict) - set(own)),
            )
            if missing:
                problems.append(f"missing keys {missing}")
            if unexpected:
                problems.append(f"unexpected keys {unexpected}")
            for key in sorted(set(own) & set(state_dict)):
                _compare_layout(key, own[key], state_dict[key], problems)
        if problems:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: nothing was loaded, because of\n  "
                + "\n  ".join(problems)
            )
        for key, value in state_dict.items():
            setattr(self, key, _copy(value))


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(epoch); one function for all groups, or a list of them."""

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer("LambdaLR", optimizer)
        groups = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != groups:
                raise ValueError(
                    f"LambdaLR: Expected {groups} lr_lambdas, but got {len(lr_lambda)}"
                )
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * groups
        if not all(callable(f) for f in self.lr_lambdas):
            raise TypeError("LambdaLR: lr_lambda must be a function (or a list of functions)")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * f(self.last_epoch) for f, base in zip(self.lr_lambdas, self.base_lrs)]


class StepLR(LRScheduler):
    """Multiply every group's lr by `gamma` once every `step_size` steps."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        if not isinstance(step_size, numbers.Integral) or step_size <= 0:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        self.step_size: int = int(step_size)
        self.gamma: float = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self.current_lrs()
        return [lr * self.gamma for lr in self.current_lrs()]


class ExponentialLR(LRScheduler):
    """Multiply every group's lr by `gamma` at each step."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self.current_lrs()
        return [lr * self.gamma for lr in self.current_lrs()]


class CosineAnnealingLR(LRScheduler):
    """lr follows eta_min + (initial_lr - eta_min) (1 + cos(pi t / T_max)) / 2, in PyTorch's
    recursive form (each rate from the last one), which goes back up after T_max.
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        if not isinstance(T_max, numbers.Real) or not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be > 0, got {T_max!r}")
        self.T_max: int = T_max
        self.eta_min: float = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        t, t_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self.current_lrs()
        if self._step_count == 1 and t > 0:  # resumed: the closed form
            return [
                eta_min + (base - eta_min) * (1 + math.cos(t * math.pi / t_max)) / 2
                for base in self.base_lrs
            ]
        if (t - 1 - t_max) % (2 * t_max) == 0:  # the bottom of the curve: climb back
            return [
                lr + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
                for base, lr in zip(self.base_lrs, self.current_lrs())
            ]
        ratio = (1 + math.cos(math.pi * t / t_max)) / (1 + math.cos(math.pi * (t - 1) / t_max))
        return [ratio * (lr - eta_min) + eta_min for lr in self.current_lrs()]


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lr by `factor` once the metric has not improved for `patience` steps.

    `step(metric)` takes the monitored value. Improvement means beating the best value so far
    by `threshold` (relative or absolute, `threshold_mode`); after a reduction, `cooldown`
    steps are not counted. The rate never goes below `min_lr`, and changes smaller than `eps`
    are skipped.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Sequence[float] = 0.0,
        eps: float = 1e-8,
    ) -> None:
        if not factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: Factor should be < 1.0 (got {factor})")
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode {mode} is unknown! (use 'min' or 'max')")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"ReduceLROnPlateau: threshold mode {threshold_mode} is unknown! (use 'rel' "
                "or 'abs')"
            )
        _check_optimizer("ReduceLROnPlateau", optimizer)
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != groups:
                raise ValueError(f"ReduceLROnPlateau: expected {groups} min_lrs, got {len(min_lr)}")
            self.default_min_lr, self.min_lrs = None, list(min_lr)
        else:
            self.default_min_lr, self.min_lrs = min_lr, [min_lr] * groups
        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = self.current_lrs()

    def step(self, metrics: float) -> None:  # type: ignore[override]
        """Record one value of the monitored metric, and reduce the rates if it has stalled."""
        current = metrics.item() if isinstance(metrics, Tensor) else float(metrics)
        self.last_epoch += 1
        if self.is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad steps in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            groups = self.optimizer.param_groups
            if len(groups) != len(self.min_lrs):  # a group was added since
                if self.default_min_lr is None:
                    raise ValueError(
                        f"ReduceLROnPlateau: the optimizer has {len(groups)} parameter groups "
                        f"but min_lr gave {len(self.min_lrs)} (set .min_lrs to one per group)"
                    )
                self.min_lrs = [self.default_min_lr] * len(groups)
            for group, min_lr in zip(groups, self.min_lrs):
                old = float(group["lr"])
                new = max(old * self.factor, min_lr)
                if old - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = self.current_lrs()

    def is_better(self, value: float) -> bool:
        """Whether `value` beats the best so far by the threshold."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return value < self.best * (1.0 - self.threshold)
            return value < self.best - self.threshold
        if self.threshold_mode == "rel":
            return value > self.best * (self.threshold + 1.0)
        return value > self.best + self.threshold


class OneCycleLR(LRScheduler):
    """The 1cycle policy: lr climbs from max_lr / div_factor to max_lr over the first
    `pct_start` of `total_steps`, then anneals to initial_lr / final_div_factor ('cos' or
    'linear'); momentum (or Adam's beta1) moves the opposite way when `cycle_momentum`.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | Sequence[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | Sequence[float] = 0.85,
        max_momentum: float | Sequence[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer("OneCycleLR", optimizer)
        if total_steps is not None:
            if not _positive_int(total_steps):
                raise ValueError(
                    f"OneCycleLR: Expected positive integer total_steps, but got {total_steps}"
                )
        elif epochs is not None and steps_per_epoch is not None:
            for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if not _positive_int(value):
                    raise ValueError(
                        f"OneCycleLR: Expected positive integer {name}, but got {value}"
                    )
            total_steps = epochs * steps_per_epoch
        else:
            raise ValueError(
                "OneCycleLR: You must define either total_steps OR (epochs AND steps_per_epoch)"
            )
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(
                f"OneCycleLR: Expected float between 0 and 1 pct_start, but got {pct_start}"
            )
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                "OneCycleLR: anneal_strategy must be one of 'cos' or 'linear', instead got "
                f"{anneal_strategy}"
            )
        self.total_steps, self.anneal_strategy = int(total_steps), anneal_strategy
        up = float(pct_start * total_steps) - 1
        # Each phase: [last step, lr from, lr to, momentum from, momentum to] (group keys); lists,
        # not tuples, so that state_dict holds plain lists.
        self.phases: list[list[Any]]
        if three_phase:
            self.phases = [
                [up, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                [float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr",
                 "base_momentum", "max_momentum"],
                [total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"],
            ]  # fmt: skip
        else:
            self.phases = [
                [up, "initial_lr", "max_lr", "max_momentum", "base_momentum"],
                [total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"],
            ]
        groups = optimizer.param_groups
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    f"OneCycleLR: optimizer must support momentum or beta1 with "
                    f"`cycle_momentum` option enabled ({type(optimizer).__name__} has neither)"
                )
            self.use_beta1 = "betas" in optimizer.defaults
        max_lrs = _per_group("max_lr", max_lr, groups)
        max_momentums = _per_group("max_momentum", max_momentum, groups)
        base_momentums = _per_group("base_momentum", base_momentum, groups)
        if last_epoch == -1:
            for group, top in zip(groups, max_lrs):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
            if cycle_momentum:
                for group, high, low in zip(groups, max_momentums, base_momentums):
                    self.set_momentum(group, high)
                    group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer, last_epoch)

    def set_momentum(self, group: dict[str, Any], value: float) -> None:
        """Set a group's momentum, or its beta1 for the Adam family."""
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def anneal(self, start: float, end: float, pct: float) -> float:
        """From `start` (pct = 0) to `end` (pct = 1), along a half cosine or a line."""
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR: Tried to step {step} times. The specified number of total steps "
                f"is {self.total_steps}"
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (end, lr_from, lr_to, momentum_from, momentum_to) in enumerate(self.phases):
                if step <= end or i == len(self.phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(self.anneal(group[lr_from], group[lr_to], pct))
                    if self.cycle_momentum:
                        momentum = self.anneal(group[momentum_from], group[momentum_to], pct)
                        self.set_momentum(group, momentum)
                    break
                start = end
        return lrs


# --- Helpers ---------------------------------------------------------------------------------


def _check_optimizer(name: str, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{name}: {type(optimizer).__name__} is not an Optimizer")


def _positive_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) > 0


def _per_group(name: str, value: Any, groups: Sequence[object]) -> list[Any]:
    """One value per parameter group: a list of them, or one repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(groups):
            raise ValueError(
                f"OneCycleLR: {name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(value)} values, param_groups has {len(groups)}."
            )
        return list(value)
    return [value] * len(groups)


def _holds_callables(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_holds_callables(v) for v in value)
    return callable(value)


def _copy(value: Any) -> Any:
    """A copy of nested lists (so a state dict does not alias the scheduler's own lists)."""
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _compare_layout(path: str, own: Any, given: Any, problems: list[str]) -> None:
    """Report where `given` differs in kind or length from `own`."""
    if isinstance(own, list):
        if not isinstance(given, list) or len(given) != len(own):
            problems.append(f"'{path}' must be a list of {len(own)}, got {given!r:.60}")
            return
        for i, (a, b) in enumerate(zip(own, given)):
            _compare_layout(f"{path}[{i}]", a, b, problems)
    elif isinstance(own, bool) or isinstance(own, str):
        if type(given) is not type(own):
            problems.append(f"'{path}' must be a {type(own).__name__}, got {given!r:.60}")
    elif isinstance(own, numbers.Real):
        if isinstance(given, bool) or not isinstance(given, numbers.Real):
            problems.append(f"'{path}' must be a number, got {given!r:.60}")
