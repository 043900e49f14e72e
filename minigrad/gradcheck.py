"""Check reverse-mode derivatives against central finite differences, the whole Jacobian."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .autograd import grad
from .engine import Tensor
from .grad_mode import enable_grad, no_grad
from .ops import concatenate, constant


class GradcheckError(AssertionError):
    """Raised when an analytical derivative disagrees with the finite-difference one."""


def gradcheck(
    fn: Callable[..., Any],
    inputs: Tensor | Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    max_full_outputs: int = 256,
    seed: int = 0,
) -> bool:
    """Compare d fn(*inputs) / d input for every input that requires grad with finite differences.

    The full Jacobian is compared (each output element by its own backward pass), so errors that
    cancel under `sum()` are caught. Above `max_full_outputs` output elements, 16 random
    projections of the Jacobian are compared instead. Returns True or raises GradcheckError.
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise ValueError(
                f"gradcheck: input {i} is {inputs[i].dtype}; finite differences with eps={eps} "
                f"need float64 (float32 has only ~7 significant digits, so the check would "
                f"fail or pass by chance). Cast the inputs with Tensor(x, dtype=np.float64)."
            )
    flat = _flatten(fn(*inputs))
    with no_grad():
        numerical = [_numerical_jacobian(fn, inputs, i, eps) for i in checked]
    m = flat.data.size
    if m <= max_full_outputs:
        directions = np.eye(m)
    else:
        directions = np.random.default_rng(seed).standard_normal((16, m))
    for row, direction in enumerate(directions):
        analytical = _vjp(flat, [inputs[i] for i in checked], direction)
        for i, numeric_jacobian, got in zip(checked, numerical, analytical):
            expected = direction @ numeric_jacobian
            bad = np.abs(got - expected) > atol + rtol * np.abs(expected)
            if bad.any():
                k = int(np.argmax(np.abs(got - expected) * bad))
                element = np.unravel_index(k, inputs[i].shape) if inputs[i].ndim else ()
                what = f"output element {row}" if m <= max_full_outputs else f"projection {row}"
                raise GradcheckError(
                    f"gradcheck: d(output)/d(input {i}) disagrees at input index "
                    f"{tuple(int(e) for e in element)} for {what} (input shape "
                    f"{inputs[i].shape}): analytical {float(got[k])!r}, numerical "
                    f"{float(expected[k])!r} (atol={atol}, rtol={rtol})"
                )
    return True


def gradgradcheck(
    fn: Callable[..., Any],
    inputs: Tensor | Sequence[Any],
    grad_outputs: Sequence[Tensor] | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> bool:
    """Check second derivatives: gradcheck the map (inputs, v) -> v^T J, built with create_graph."""
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    outputs = fn(*inputs)
    outputs = list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = [
            Tensor(rng.standard_normal(o.shape), requires_grad=True, dtype=np.float64)
            for o in outputs
        ]
    n = len(inputs)
    differentiable = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_derivative(*args: Any) -> tuple:
        with enable_grad():
            outs = fn(*args[:n])
            outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
            grads = grad(outs, [args[i] for i in differentiable], list(args[n:]), create_graph=True)
        return tuple(
            constant(np.zeros(args[i].shape), np.float64) if g is None else g
            for i, g in zip(differentiable, grads)
        )

    try:
        return gradcheck(first_derivative, [*inputs, *grad_outputs], eps, atol, rtol, seed=seed)
    except GradcheckError as error:  # say that it is the second derivatives that are wrong
        raise GradcheckError(
            f"gradgradcheck: second derivatives are wrong; checking (inputs, v) -> v^T J, where "
            f"input {n} onwards are the output gradients v: {error}"
        ) from None


def _flatten(outputs: Any) -> Tensor:
    """All output tensors as one vector (built with ops, so it stays differentiable)."""
    outputs = outputs if isinstance(outputs, (tuple, list)) else [outputs]
    tensors = [o for o in outputs if isinstance(o, Tensor)]
    if not tensors:
        raise ValueError("gradcheck: fn returned no Tensor")
    return concatenate([t.reshape(-1) for t in tensors])


def _vjp(flat: Tensor, wrt: list[Tensor], direction: np.ndarray) -> list[np.ndarray]:
    """direction^T J for each input, flattened (zeros where no gradient reaches)."""
    if not flat.requires_grad:
        return [np.zeros(t.data.size) for t in wrt]
    grads = grad(flat, wrt, grad_outputs=direction.astype(flat.dtype), retain_graph=True)
    return [np.zeros(t.data.size) if g is None else g.data.reshape(-1) for t, g in zip(wrt, grads)]


def _numerical_jacobian(fn: Callable, inputs: list, index: int, eps: float) -> np.ndarray:
    """d flat(fn) / d inputs[index] by central differences, shape (outputs, input elements).

    The input's `.data` is replaced by perturbed copies and then restored, so functions that
    reach the tensor another way (a module's parameter, say) see the perturbation too.
    """
    tensor = inputs[index]
    original = tensor.data
    columns = []
    try:
        for k in range(original.size):
            values = []
            for step in (eps, -eps):
                perturbed = original.copy()
                perturbed.reshape(-1)[k] += step
                tensor.data = perturbed
                values.append(_flatten(fn(*inputs)).data.copy())
            columns.append((values[0] - values[1]) / (2 * eps))
    finally:
        tensor.data = original
    if not columns:
        return np.zeros((_flatten(fn(*inputs)).data.size, 0))
    return np.stack(columns, axis=1)
