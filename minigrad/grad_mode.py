"""Grad mode: whether the ops applied now are recorded for backward -- one switch per thread.

The engine reads one switch on every op, `state.enabled`; `no_grad` / `enable_grad` /
`set_grad_enabled` flip it for a block. The same `state` also holds the switches of the debug
tools, which the engine checks as cheaply: `state.anomaly` (`minigrad.debug.detect_anomaly`) and
`state.observers`, functions called as `observer(node, grads)` at every node backward visits
(`minigrad.debug.trace`, `minigrad.grad`). While a function is traced for compiling,
`state.tracer(fn, inputs)` replaces every `Function.apply`: it runs the op (with the tracer off)
and writes it down.

As in PyTorch, all of these are per thread (`state` is a `threading.local`): a thread inside
`no_grad` does not stop another from recording, and a new thread starts with recording on,
anomaly detection off and no observers, whatever the thread that started it was doing.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Callable
from typing import Any


class State:
    """The switches the engine reads on every op and at every node backward visits (one thread's).

    The values set here are what a new thread starts with.
    """

    __slots__ = ("enabled", "anomaly", "anomalies", "observers", "tracer")

    def __init__(self) -> None:
        self.enabled = True  # record ops for backward (off inside `no_grad()` and in forward)
        self.anomaly = False  # check recorded ops for NaN/inf (minigrad.debug.detect_anomaly)
        self.anomalies: dict | None = None  # under detect_anomaly: non-finite outputs not yet used
        self.observers: tuple[Callable[[Any, tuple], None], ...] = ()  # called at each node
        self.tracer: Callable[[Any, tuple], Any] | None = None  # compiling: runs and records ops


# Each thread's own `State` is `threads.state`, made the first time that thread asks (`current`).
# The engine reads it once per op and then plain attributes: one thread-local lookup per op
# (~500 instructions) instead of one per switch, which made a tiny LSTM step 3.5% slower; a
# plain threading.local, as a subclass of it is slower to read. (bench/instructions.py: ~0.9%.)
threads = threading.local()


def current() -> State:
    """The calling thread's switches (made with the defaults on its first call)."""
    try:
        return threads.state
    except AttributeError:
        threads.state = fresh = State()
        return fresh


class _CurrentState:
    """`state`: reads and writes go to the calling thread's `State` (for code off the hot path)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(current(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(current(), name, value)


state: Any = _CurrentState()


def is_grad_enabled() -> bool:
    """Whether ops applied now (in this thread) are recorded for backward."""
    return current().enabled


class _GradMode:
    """A context manager and decorator that sets grad mode for a block and restores it after.

    As a decorator it wraps each call (a generator function: each step of its body) in a fresh
    copy of itself, so decorated calls nest and run in any thread.
    """

    _mode = False

    def _copy(self) -> _GradMode:
        return type(self)()

    def __enter__(self) -> None:
        switches = current()
        self._previous = switches.enabled
        switches.enabled = self._mode

    def __exit__(self, *exc_info: Any) -> None:
        current().enabled = self._previous

    def __call__(self, func: Callable) -> Callable:
        if inspect.isgeneratorfunction(func):
            return self._wrap_generator(func)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._copy():
                return func(*args, **kwargs)

        return wrapper

    def _wrap_generator(self, func: Callable) -> Callable:
        """The mode is on while the generator's body runs, off again at each `yield`."""

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            generator = func(*args, **kwargs)
            try:
                with self._copy():
                    response = generator.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with self._copy():
                            generator.close()
                        raise
                    except BaseException:
                        with self._copy():
                            response = generator.throw(*sys.exc_info()[1:2])
                    else:
                        with self._copy():
                            response = generator.send(request)
            except StopIteration as stop:
                return stop.value

        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator: ops inside record nothing (inference, optimizer steps).

    Works as `with no_grad():`, `@no_grad()` and `@no_grad`, on functions and generator functions.
    """

    _mode = False

    def __new__(cls, func: Callable | None = None) -> Any:
        self = super().__new__(cls)
        return self if func is None else self(func)  # bare `@no_grad` on a function


class enable_grad(no_grad):
    """Context manager and decorator: record ops even inside `no_grad`."""

    _mode = True


class set_grad_enabled(_GradMode):
    """Turn recording on or off (in this thread), as torch.set_grad_enabled.

    Called as a function it switches at once (`set_grad_enabled(False)`); used as
    `with set_grad_enabled(mode):` or `@set_grad_enabled(mode)` the previous mode comes back when
    the block (the decorated call) ends. Decorating does not change the current mode.
    """

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        switches = current()
        self._previous = switches.enabled
        switches.enabled = self._mode

    def _copy(self) -> _GradMode:
        copy = set_grad_enabled.__new__(set_grad_enabled)
        copy._mode = self._mode
        return copy

    def __enter__(self) -> None:
        if not hasattr(self, "_previous"):  # a copy made by the decorator: switch now
            super().__enter__()

    def __call__(self, func: Callable) -> Callable:
        current().enabled = self._previous  # decorating is not switching: undo __init__
        return super().__call__(func)
