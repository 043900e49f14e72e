"""Grad mode: whether the ops applied now are recorded for backward.

The engine reads one switch on every op, `state.enabled`; `no_grad` / `enable_grad` flip it for a
block. The same `state` also holds the two switches of the debug tools, which the engine checks as
cheaply: `state.anomaly` (`minigrad.debug.detect_anomaly`) and `state.observers`, functions called
as `observer(node, grads)` at every node backward visits (`minigrad.debug.trace`, `minigrad.grad`).
While a function is traced for compiling, `state.tracer(fn, inputs)` replaces every
`Function.apply`: it runs the op (with the tracer off) and writes it down.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class State:
    """The switches the engine reads on every op and at every node backward visits."""

    enabled = True  # record ops for backward (off inside `no_grad()` and while forward runs)
    anomaly = False  # check every recorded op for NaN/inf (minigrad.debug.detect_anomaly)
    observers: tuple[Callable[[Any, tuple], None], ...] = ()  # called at each node backward visits
    tracer: Callable[[Any, tuple], Any] | None = None  # while compiling: runs and records each op


state = State()


def is_grad_enabled() -> bool:
    """Whether ops applied now are recorded for backward."""
    return state.enabled


def set_grad_enabled(mode: bool) -> None:
    """Turn recording on or off globally (prefer the `no_grad` context manager)."""
    state.enabled = bool(mode)


class no_grad:
    """Context manager and decorator: ops inside record nothing (inference, optimizer steps).

    Works as `with no_grad():`, `@no_grad()` and `@no_grad`.
    """

    _mode = False

    def __new__(cls, func: Callable | None = None) -> Any:
        self = super().__new__(cls)
        return self if func is None else self(func)  # bare `@no_grad` on a function

    def __enter__(self) -> None:
        self._previous = state.enabled
        state.enabled = self._mode

    def __exit__(self, *exc_info: Any) -> None:
        state.enabled = self._previous

    def __call__(self, func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return func(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Context manager and decorator: record ops even inside `no_grad`."""

    _mode = True
