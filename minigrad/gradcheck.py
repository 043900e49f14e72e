"""Check reverse-mode derivatives against central finite differences, the whole Jacobian.

A check never passes silently: NaN or inf on one side only, a function that gives different
values on the same input, and a function that changes its inputs are all failures.
"""

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


class _JacobianMismatch(GradcheckError):
    """The derivatives disagree (as opposed to fn being unfit for the check at all)."""


def gradcheck(
    fn: Callable[..., Any],
    inputs: Tensor | Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    max_full_outputs: int = 256,
    seed: int = 0,
    *,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
) -> bool:
    """Compare d fn(*inputs) / d input for every input that requires grad with finite differences.

    The full Jacobian is compared (each output element by its own backward pass), so errors that
    cancel under `sum()` are caught. Above `max_full_outputs` output elements, 16 random
    projections of the Jacobian are compared instead. NaN or inf where the other side differs
    fails, as does fn (or its backward) giving different values on the same input by more than
    `nondet_tol`, or fn changing an input. Returns True, or raises GradcheckError (returns False
    with `raise_exception=False`, as PyTorch).
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
    try:
        _check_jacobian(fn, inputs, checked, eps, atol, rtol, max_full_outputs, seed, nondet_tol)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def gradgradcheck(
    fn: Callable[..., Any],
    inputs: Tensor | Sequence[Any],
    grad_outputs: Sequence[Tensor] | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
    *,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
) -> bool:
    """Check second derivatives: gradcheck the map (inputs, v) -> v^T J, built with create_graph.

    Fails, raises and returns as `gradcheck` does (`raise_exception`, `nondet_tol`).
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    n = len(inputs)
    differentiable = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_derivative(*args: Any) -> tuple[Tensor, ...]:
        with enable_grad():
            outs = fn(*args[:n])
            outs = list(outs) if isinstance(outs, (tuple, list)) else [outs]
            grads = grad(
                outs,
                [args[i] for i in differentiable],
                list(args[n:]),
                create_graph=True,
                allow_unused=True,
            )
        return tuple(
            constant(np.zeros(args[i].shape), np.dtype(np.float64)) if g is None else g
            for i, g in zip(differentiable, grads)
        )

    try:
        if grad_outputs is None:
            outputs = _call_checking_inputs(fn, inputs)
            outputs = list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
            rng = np.random.default_rng(seed)
            grad_outputs = [
                Tensor(rng.standard_normal(o.shape), requires_grad=True, dtype=np.float64)
                for o in outputs
            ]
        return gradcheck(
            first_derivative,
            [*inputs, *grad_outputs],
            eps,
            atol,
            rtol,
            seed=seed,
            nondet_tol=nondet_tol,
        )
    except GradcheckError as error:
        if isinstance(error, _JacobianMismatch):  # say that it is the second derivatives
            message = (
                f"gradgradcheck: second derivatives are wrong; checking (inputs, v) -> v^T J, "
                f"where input {n} onwards are the output gradients v: {error}"
            )
        else:
            message = f"gradgradcheck: {error}"
        if raise_exception:
            raise GradcheckError(message) from None
        return False


def _check_jacobian(
    fn: Callable[..., Any],
    inputs: list[Any],
    checked: list[int],
    eps: float,
    atol: float,
    rtol: float,
    max_full_outputs: int,
    seed: int,
    nondet_tol: float,
) -> None:
    """Raise GradcheckError at the first disagreement between the two Jacobians."""
    flat = _flatten(_call_checking_inputs(fn, inputs))
    with no_grad():
        again = _flatten(_call_checking_inputs(fn, inputs)).data
    _check_same("fn", "output element", flat.data, again, nondet_tol)
    with no_grad():
        numerical = [_numerical_jacobian(fn, inputs, i, eps) for i in checked]
    m = flat.size
    if m <= max_full_outputs:
        directions = np.eye(m)
    else:
        directions = np.random.default_rng(seed).standard_normal((16, m))
    wrt = [inputs[i] for i in checked]
    for row, direction in enumerate(directions):
        analytical = _vjp(flat, wrt, direction)
        if row == 0:
            repeated = np.concatenate(_vjp(flat, wrt, direction))
            _check_same(
                "the backward of fn",
                "gradient element",
                np.concatenate(analytical),
                repeated,
                nondet_tol,
            )
        for i, numeric_jacobian, got in zip(checked, numerical, analytical):
            full = m <= max_full_outputs  # a row as it is: 0 * inf elsewhere must not spoil it
            expected = numeric_jacobian[row] if full else direction @ numeric_jacobian
            k = _worst_disagreement(got, expected, atol, rtol)
            if k is None:
                continue
            element = np.unravel_index(k, inputs[i].shape) if inputs[i].ndim else ()
            what = f"output element {row}" if full else f"projection {row}"
            note = ""
            if not np.isfinite(expected[k]):
                note = (
                    f"; the numerical value is not finite because fn is not finite (or "
                    f"overflows) within eps={eps} of the input there, so the check cannot be "
                    f"made at this point"
                )
            elif not np.isfinite(got[k]):
                note = "; the analytical value is not finite where the numerical one is"
            raise _JacobianMismatch(
                f"gradcheck: d(output)/d(input {i}) disagrees at input index "
                f"{tuple(int(e) for e in element)} for {what} (input shape "
                f"{inputs[i].shape}): analytical {float(got[k])!r}, numerical "
                f"{float(expected[k])!r} (atol={atol}, rtol={rtol}){note}"
            )


def _worst_disagreement(
    got: np.ndarray, expected: np.ndarray, atol: float, rtol: float
) -> int | None:
    """Index of the worst element outside atol + rtol * |expected|, or None if all agree.

    NaN never agrees with anything; an infinity agrees only with the same infinity. Elements
    that are non-finite on one side only count as the worst.
    """
    finite = np.isfinite(got) & np.isfinite(expected)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(got - expected)
        close = finite & (error <= atol + rtol * np.abs(expected))
    close |= np.isinf(got) & (got == expected)
    if close.all():
        return None
    score = np.where(close, -1.0, np.where(finite, error, np.inf))
    return int(np.argmax(score))


def _check_same(what: str, unit: str, first: np.ndarray, second: np.ndarray, tol: float) -> None:
    """Raise if two evaluations on the same input differ by more than `tol` anywhere."""
    if first.shape == second.shape:
        with np.errstate(invalid="ignore", over="ignore"):
            differ = ~(np.abs(first - second) <= tol) & ~(np.isnan(first) & np.isnan(second))
            differ &= ~(np.isinf(first) & (first == second))
        if not differ.any():
            return
        k = int(np.argmax(differ))
        detail = f"{unit} {k} was {float(first[k])!r}, then {float(second[k])!r}"
    else:
        detail = f"{first.size} values, then {second.size}"
    raise GradcheckError(
        f"gradcheck: {what} is not deterministic: evaluated twice on the same inputs it gave "
        f"different values ({detail}; nondet_tol={tol}). Finite differences of such a function "
        f"mean nothing: fix its randomness (seed it inside fn) or pass a larger nondet_tol."
    )


def _call_checking_inputs(fn: Callable[..., Any], inputs: list[Any]) -> Any:
    """fn(*inputs), raising (with the inputs restored) if fn changed any input's values."""
    arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
    before = [a.copy() if isinstance(a, np.ndarray) else None for a in arrays]
    result = fn(*inputs)
    changed = [
        i
        for i, (x, array, old) in enumerate(zip(inputs, arrays, before))
        if old is not None and not _unchanged(x.data if isinstance(x, Tensor) else x, array, old)
    ]
    if not changed:
        return result
    i = changed[0]
    now, old = (inputs[i].data if isinstance(inputs[i], Tensor) else inputs[i]), before[i]
    assert old is not None  # (only inputs that were arrays are in `changed`)
    if now is not arrays[i] or now.shape != old.shape:
        how = f"it rebound or reshaped it (shape {old.shape} -> {np.shape(now)})"
    else:
        k = int(np.argmax(~((now == old) | (np.isnan(now) & np.isnan(old)))))
        element = tuple(int(e) for e in np.unravel_index(k, old.shape))
        how = f"first at index {element}: {old.reshape(-1)[k]!r} -> {now.reshape(-1)[k]!r}"
    for j in changed:  # leave every input as it was (a Tensor's array is rebound, as in loading)
        if isinstance(inputs[j], Tensor):
            inputs[j].data = before[j]
        else:
            arrays[j][...] = before[j]
    raise GradcheckError(
        f"gradcheck: fn changed input {i} in place ({how}); finite differences need fn to "
        f"leave its inputs alone, so the check cannot be made. The inputs have been restored."
    )


def _unchanged(now: Any, array: np.ndarray, old: np.ndarray) -> bool:
    """Whether an input still is the same array with the same values (NaN equal to NaN)."""
    return now is array and np.array_equal(now, old, equal_nan=old.dtype.kind in "fc")


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
        return [np.zeros(t.size) for t in wrt]
    grads = grad(flat, wrt, direction.astype(flat.dtype), retain_graph=True, allow_unused=True)
    return [np.zeros(t.size) if g is None else g.data.reshape(-1) for t, g in zip(wrt, grads)]


def _numerical_jacobian(
    fn: Callable[..., Any], inputs: list[Any], index: int, eps: float
) -> np.ndarray:
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
        return np.zeros((_flatten(fn(*inputs)).size, 0))
    return np.stack(columns, axis=1)
