"""The engine's contract errors and anomaly checks, kept apart so the walk reads as the algorithm.

The engine compares on its hot path (a gradient's shape, the number of gradients backward
returned) and calls in here only to raise. The anomaly checks run only under
`minigrad.debug.detect_anomaly()`.
"""

from __future__ import annotations

import traceback
from typing import Any

import numpy as np


def released(name: str) -> RuntimeError:
    """Backward reached a node whose saved arrays were already freed."""
    return RuntimeError(
        f"{name}: trying to backward through the graph a second time (or to read saved "
        f"tensors after they were freed); pass retain_graph=True to the first backward if you "
        f"need to go through it twice"
    )


def data_replaced(name: str, shape: tuple) -> RuntimeError:
    """A saved leaf's `.data` was rebound between forward and backward."""
    return RuntimeError(
        f"{name}: a tensor of shape {shape} saved for backward had its .data replaced after "
        f"forward (by an assignment, or an in-place op that gave it a fresh array); its "
        f"gradients would be wrong"
    )


def gradient_count(name: str, returned: int, expected: int) -> RuntimeError:
    """A backward returned a different number of gradients than forward took inputs."""
    return RuntimeError(
        f"{name}.backward returned {returned} gradients but forward took {expected} inputs"
    )


def gradient_shape(name: str, shape: tuple, expected: tuple) -> RuntimeError:
    """A backward returned a gradient whose shape is not its input's."""
    return RuntimeError(
        f"{name}.backward returned a gradient of shape {shape} for an input of shape {expected}"
    )


def gradient_type(name: str, grad: Any) -> TypeError:
    """A backward returned something that is not a gradient (a Tensor or a real ndarray)."""
    kind = type(grad).__name__
    if isinstance(grad, (np.ndarray, np.generic)):
        kind += f" of dtype {grad.dtype}"
    return TypeError(
        f"{name}.backward returned a {kind} as a gradient; expected a Tensor or an ndarray of "
        f"real numbers (or None) for each input of forward"
    )


def seed_shape(shape: tuple, expected: tuple) -> RuntimeError:
    """The gradient passed to backward does not match the output."""
    return RuntimeError(f"backward: gradient has shape {shape} but the output has shape {expected}")


def no_graph(shape: tuple) -> RuntimeError:
    """backward() on a tensor that nothing can be differentiated through."""
    return RuntimeError(
        f"backward: tensor of shape {shape} does not require grad and has no graph; set "
        f"requires_grad=True on the leaves you differentiate"
    )


def implicit_seed(name: str, shape: tuple) -> RuntimeError:
    """backward() / grad() without a gradient for an output of more than one element."""
    return RuntimeError(
        f"{name}: grad can be implicitly created only for one-element outputs; this tensor "
        f"has shape {shape}, so pass a gradient of that shape"
    )


def not_real_numbers(data: Any, dtype: np.dtype) -> TypeError:
    """Tensor(...) of something that is not real numbers (None, strings, complex, objects)."""
    text = repr(data)
    text = text if len(text) <= 60 else text[:57] + "..."
    kinds = {"c": "complex numbers", "U": "strings", "S": "bytes", "O": "Python objects"}
    return TypeError(
        f"Tensor: expected real numbers (a number, a nested list of them or a numeric array), "
        f"got {kinds.get(dtype.kind, f'dtype {dtype}')}: {text}"
    )


def numpy_call(name: str) -> TypeError:
    """A numpy function or ufunc that minigrad does not run on Tensors."""
    return TypeError(
        f"numpy.{name} does not take a minigrad Tensor, as it would drop the gradient: use the "
        f"minigrad op (minigrad.{name}(t), where minigrad has one: see docs/api.md), or call "
        f"numpy on t.numpy() for a plain array without gradient"
    )


def not_a_leaf(what: str) -> RuntimeError:
    """deepcopy / pickle of a tensor an op made: its graph cannot be copied."""
    return RuntimeError(
        f"{what}: only Tensors created explicitly by the user (graph leaves) support the "
        f"{what} protocol; this one was made by an op. Copy t.detach() for its value"
    )


# --- Anomaly detection (minigrad.debug.detect_anomaly) ------------------------------------------


def forward_anomaly(name: str, input_arrays: list, output: np.ndarray, created_at: str) -> str:
    """What to say about an op whose output is not finite: its input was not, or it made it."""
    for index, x in enumerate(input_arrays):
        if x is not None and not np.all(np.isfinite(x)):
            return (
                f"input {index} of {name} (shape {x.shape}) already contains NaN or inf; the op "
                f"was called at:\n{created_at}"
            )
    return (
        f"{name} produced NaN or inf in its output of shape {output.shape} from finite inputs; "
        f"the op was called at:\n{created_at}"
    )


def raise_pending(pending: dict) -> None:
    """Raise the oldest NaN/inf that forward made and nothing masked (and forget them all)."""
    message = next(iter(pending.values()))
    pending.clear()
    raise FloatingPointError(message)


def check_backward(name: str, input_grads: tuple, created_at: str | None) -> None:
    """Refuse a non-finite gradient, naming the op and where it was made."""
    for index, g in enumerate(input_grads):
        if g is not None and not np.all(np.isfinite(np.asarray(getattr(g, "data", g)))):
            where = created_at or "(the op was created before anomaly detection was on)"
            raise FloatingPointError(
                f"{name}.backward produced NaN or inf in the gradient of input {index}; the op "
                f"was called at:\n{where}"
            )


def user_frames(keep: int = 3) -> str:
    """The innermost stack frames outside the minigrad package: the user's own lines."""
    package = __file__.rsplit("/", 1)[0].rsplit("\\", 1)[0]
    frames = [f for f in traceback.extract_stack() if not f.filename.startswith(package)]
    return "".join(traceback.format_list(frames[-keep:]))
