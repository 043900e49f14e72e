"""Dropout, activations and losses composed from the primitives: no extra gradient code.

Names, argument names, defaults and numerics follow `torch.nn.functional`: `dim=` as PyTorch
(numpy's `axis=` is accepted as an alias), `reduction="mean" | "sum" | "none"`, class ids with
`ignore_index`, and the same stable formulations (log-softmax after subtracting the maximum,
log-sigmoid through log1p), so results agree with PyTorch to rounding.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..engine import Tensor
from ..ops import constant, exp, lift, log, maximum, mean, relu, sigmoid, tanh, where
from . import init

__all__ = [
    "dropout",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "gelu",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "log_softmax",
    "logsigmoid",
    "mse_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "smooth_l1_loss",
    "softmax",
    "tanh",
]


def dropout(
    x: Any, p: float = 0.5, training: bool = True, rng: int | np.random.Generator | None = None
) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1 / (1 - p).

    So the expected value is unchanged and evaluation needs no rescaling: with training=False
    (or p=0) it is the identity. The mask is drawn from `rng` (a seed or a numpy Generator), by
    default from minigrad.nn.init's shared generator (`manual_seed` makes a run reproducible).
    """
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    x = lift(x)
    if not training or p == 0:
        return x
    keep = init.generator(rng).random(x.shape) >= p
    scale = 0.0 if p == 1 else 1 / (1 - p)
    return x * constant(keep * scale, x.dtype)  # the mask is a constant: gradient x mask too


# --- Validation shared by the layers and the losses -------------------------------------------


def class_indices(
    ids: Any,
    count: int,
    op: str,
    what: str = "target",
    ignore_index: int | None = None,
    bound: str | None = None,
) -> np.ndarray:
    """`ids` as an integer array of class ids in [0, count), or an error naming `where`.

    Embedding's ids and the losses' targets share this check. A Tensor of ids holds floats, so
    whole-number floats are accepted; `ignore_index` (if given) is allowed besides the range,
    and `bound` says what the range is in the error (default: "{count} classes").
    """
    array = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
    if array.dtype.kind == "f" and np.array_equal(array, np.round(array)):
        array = array.astype(np.intp)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: {what}s must be integer class ids, got an array of dtype {array.dtype} "
            f"and shape {array.shape}"
        )
    bad = (array < 0) | (array >= count)
    if ignore_index is not None:
        bad &= array != ignore_index
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        allowed = "" if ignore_index is None else f", or ignore_index={ignore_index}"
        bound = bound or f"{count} classes"
        raise IndexError(
            f"{op}: {what} {array[position]} is out of range for {bound} (at index {position} "
            f"of the {what}s of shape {array.shape}; valid {what}s are 0 to {count - 1}{allowed})"
        )
    return array


def _dim(op: str, dim: int | None, axis: int | None) -> int | None:
    """`dim`, or numpy's name for it, `axis` (they must agree if both are given)."""
    if axis is None:
        return dim
    if dim is not None and dim != axis:
        raise TypeError(f"{op}: got dim={dim} and axis={axis}; pass one (axis is an alias)")
    return axis


def _softmax_dim(op: str, x: Tensor, dim: int | None, axis: int | None) -> int:
    """The axis to normalise over; without one, PyTorch's legacy choice, with its warning."""
    dim = _dim(op, dim, axis)
    if dim is not None:
        return dim
    dim = 0 if x.ndim in (0, 1, 3) else 1
    warnings.warn(
        f"{op}: implicit dimension choice (dim={dim} for a {x.ndim}-D input, PyTorch's legacy "
        f"rule) is deprecated, as in PyTorch; pass dim= explicitly",
        UserWarning,
        stacklevel=3,
    )
    return dim


# --- Activations --------------------------------------------------------------------------------


def softmax(input: Any, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along `dim`, computed as exp(x - max) so it never overflows."""
    x = lift(input)
    dim = _softmax_dim("softmax", x, dim, axis)
    e = _minus_max(x, dim).exp()  # shift-invariant: the max is a constant
    return e / e.sum(axis=dim, keepdims=True)


def log_softmax(input: Any, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """x - log(sum(exp(x))) along `dim`; subtracting the max first keeps it finite for any x."""
    x = lift(input)
    dim = _softmax_dim("log_softmax", x, dim, axis)
    shifted = _minus_max(x, dim)  # the result does not depend on the shift
    return shifted - shifted.exp().sum(axis=dim, keepdims=True).log()


def _minus_max(x: Tensor, dim: int) -> Tensor:
    """x minus its (constant) max along `dim`; an empty axis has no max and needs no shift."""
    if x.ndim and x.shape[dim] == 0:
        return x  # softmax over nothing is an empty result, as PyTorch's
    return x - x.max(axis=dim, keepdims=True).detach()


def logsigmoid(input: Any) -> Tensor:
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)): finite and exact for any x."""
    x = lift(input)
    return -maximum(-x, 0.0) - _log1p(exp(-_abs(x)))  # max's tie split gives 1/2 at 0


def gelu(input: Any, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the normal CDF (exact, through erfc), or PyTorch's tanh approximation."""
    x = lift(input)
    if approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        inner = (x + 0.044715 * x * x * x) * math.sqrt(2 / math.pi)
        return 0.5 * x * (1 + tanh(inner))
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * _erfc(x * -math.sqrt(0.5))  # Phi(x) = erfc(-x / sqrt 2) / 2, no cancellation


# Cephes' rational approximations of erf / erfc (S. L. Moshier, ndtr.c), good to ~1e-16.
_ERF_T = (
    9.60497373987051638749e0,
    9.00260197203842689217e1,
    2.23200534594684319226e3,
    7.00332514112805075473e3,
    5.55923013010394962768e4,
)
_ERF_U = (
    1.0,
    3.35617141647503099647e1,
    5.21357949780152679795e2,
    4.59432382970980127987e3,
    2.26290000613890934246e4,
    4.92673942608635921086e4,
)
_ERFC_P = (
    2.46196981473530512524e-10,
    5.64189564831068821977e-1,
    7.46321056442269912687e0,
    4.86371970985681366614e1,
    1.96520832956077098242e2,
    5.26445194995477358631e2,
    9.34528527171957607540e2,
    1.02755188689515710272e3,
    5.57535335369399327526e2,
)
_ERFC_Q = (
    1.0,
    1.32281951154744992508e1,
    8.67072140885989742329e1,
    3.54937778887819891062e2,
    9.75708501743205489753e2,
    1.82390916687909736289e3,
    2.24633760818710981792e3,
    1.65666309194161350182e3,
    5.57535340817727675546e2,
)
_ERFC_R = (
    5.64189583547755073984e-1,
    1.27536670759978104416e0,
    5.01905042251180477414e0,
    6.16021097993053585195e0,
    7.40974269950448939160e0,
    2.97886665372100240670e0,
)
_ERFC_S = (
    1.0,
    2.26052863220117276590e0,
    9.39603524938001434673e0,
    1.20489539808096656605e1,
    1.70814450747565897222e1,
    9.60896809063285878198e0,
    3.36907645100081516050e0,
)


def _polynomial(x: Tensor, coefficients: tuple[float, ...]) -> Tensor:
    """c0 x^n + c1 x^(n-1) + ... + cn, by Horner's rule."""
    result = x * coefficients[0] + coefficients[1]
    for c in coefficients[2:]:
        result = result * x + c
    return result


def _erfc(z: Tensor) -> Tensor:
    """1 - erf(z), accurate in both tails, from Cephes' three rational approximations.

    There is no erf primitive, so this is composed from where / exp / arithmetic. Each branch is
    fed safe stand-in values where it is not used, so no inf or nan can leak into a gradient.
    """
    a = _abs(z)
    small, tail = a.data < 1, a.data < 27  # erfc(27) = 5e-319: beyond it erfc is 0 in float64
    zs = where(small, z, 0.5)
    erf_small = zs * _polynomial(zs * zs, _ERF_T) / _polynomial(zs * zs, _ERF_U)
    mid = where(a.data < 8, where(small, 2.0, a), 4.0)  # 1 <= |z| < 8
    far = where(a.data >= 8, where(tail, a, 10.0), 10.0)  # 8 <= |z| < 27
    ratio = where(
        a.data < 8,
        _polynomial(mid, _ERFC_P) / _polynomial(mid, _ERFC_Q),
        _polynomial(far, _ERFC_R) / _polynomial(far, _ERFC_S),
    )
    at = where(tail, a, 1.0)
    upper = where(tail, exp(-at * at) * ratio, 0.0)  # erfc(|z|) for |z| >= 1
    return where(small, 1 - erf_small, where(z.data > 0, upper, 2 - upper))


def _abs(x: Tensor) -> Tensor:
    """|x| as max(x, -x): at 0 the two halves of the gradient cancel to 0, as sign(0) = 0."""
    return maximum(x, -x)


def _log1p(u: Tensor) -> Tensor:
    """log(1 + u), accurate for tiny u too: log(w) * u / (w - 1) with w = 1 + u (Goldberg)."""
    w = 1 + u
    rounded = w - 1  # the part of u that survived rounding 1 + u
    exact = rounded.data == 0
    return where(exact, u, log(w) * (u / where(exact, 1.0, rounded)))


# --- Class-index losses -------------------------------------------------------------------------


def _check_reduction(name: str, reduction: str, extra: tuple[str, ...] = ()) -> None:
    allowed = ("mean", "sum", "none", *extra)
    if reduction not in allowed:
        names = ", ".join(repr(r) for r in allowed)
        raise ValueError(f"{name}: reduction must be one of {names}, got {reduction!r}")


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return mean(losses)
    return losses.sum() if reduction == "sum" else losses


def _constant_of(op: str, what: str, value: Any, dtype: np.dtype) -> np.ndarray | None:
    """A weight-like argument as an array of `dtype` (None stays None); no gradient reaches it."""
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError(
            f"{op}: {what} must be an array of weights, got the string {value!r} (pass "
            f"reduction= by keyword: the third positional argument is weight, as in PyTorch)"
        )
    if isinstance(value, Tensor):
        if value.requires_grad:
            raise NotImplementedError(
                f"{op}: no gradient flows to {what} (as in PyTorch); pass {what}.detach() "
                f"or an array"
            )
        value = value.data
    return np.asarray(value, dtype=dtype)


def _class_weight(op: str, weight: Any, classes: int, dtype: np.dtype) -> np.ndarray | None:
    weight = _constant_of(op, "weight", weight, dtype)
    if weight is not None and weight.shape != (classes,):
        raise ValueError(
            f"{op}: weight must have one entry per class, shape ({classes},), got {weight.shape}"
        )
    return weight


def _class_axis(op: str, x: Tensor) -> int:
    """Where the classes are: axis 0 of an unbatched (C,) input, else axis 1 of (N, C, d...)."""
    if x.ndim == 0:
        raise ValueError(f"{op}: input must be (C,), (N, C) or (N, C, d1, ...), got a scalar")
    return 0 if x.ndim == 1 else 1


def _nll_terms(
    op: str, log_p: Tensor, target: Any, weight: np.ndarray | None, ignore_index: int
) -> tuple[Tensor, float, np.ndarray]:
    """-weight[y] * log_p[y] at every target position, the weights' total, and the kept mask."""
    axis = _class_axis(op, log_p)
    classes = log_p.shape[axis]
    ids = class_indices(target, classes, op, "target", ignore_index)
    expected = log_p.shape[:axis] + log_p.shape[axis + 1 :]
    if ids.shape != expected:
        also = f" or {log_p.shape} (probabilities)" if op == "cross_entropy" else ""
        raise ValueError(
            f"{op}: input of shape {log_p.shape} (classes on axis {axis}) needs a target of "
            f"shape {expected} (class ids){also}, got {ids.shape}"
        )
    keep = ids != ignore_index
    safe = np.where(keep, ids, 0)  # ignored positions read class 0 and are weighted 0
    if axis == 0:
        picked = log_p[safe]
    else:
        grid = np.indices(expected, sparse=True)  # broadcasting index arrays, one per axis
        index = (grid[0], safe, *grid[1:])  # named first: mypy misreads x[(a, *b)] as x[a, *b]
        picked = log_p[index]
    if weight is None and keep.all():  # the common case: every target counts once
        return -picked, float(ids.size), keep
    weights = keep.astype(log_p.dtype) if weight is None else weight[safe] * keep
    return -picked * constant(weights, log_p.dtype), float(weights.sum()), keep


def _weighted_reduce(losses: Tensor, total: float, reduction: str) -> Tensor:
    """Reduce per-target losses; "mean" divides by the targets' total weight (nan if it is 0)."""
    if reduction == "none":
        return losses
    if reduction == "sum" or total != 0:
        summed = losses.sum()
        return summed if reduction == "sum" else summed * (1.0 / total)
    return losses.sum() + math.nan  # 0 / 0 as PyTorch, with zero gradients as PyTorch


def nll_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """-weight[y] * input[y] for log-probabilities `input` and class ids `target`.

    input (C,), (N, C) or (N, C, d1, ...); target (), (N,) or (N, d1, ...). Targets equal to
    `ignore_index` contribute nothing, and "mean" divides by the sum of the kept targets'
    weights (their count without `weight`), as PyTorch.
    """
    x = lift(input)
    _check_reduction("nll_loss", reduction)
    weight = _class_weight("nll_loss", weight, x.shape[_class_axis("nll_loss", x)], x.dtype)
    losses, total, _ = _nll_terms("nll_loss", x, target, weight, ignore_index)
    return _weighted_reduce(losses, total, reduction)


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy of logits `input` against class ids or class probabilities, as PyTorch.

    input (C,), (N, C) or (N, C, d1, ...). A target of input's shape holds probabilities;
    otherwise it holds class ids (input's shape without the class axis), with nll_loss's
    `weight`, `ignore_index` and "mean". `label_smoothing` mixes the target with the uniform
    distribution over the C classes.
    """
    op = "cross_entropy"
    x = lift(input)
    _check_reduction(op, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    axis = _class_axis(op, x)
    classes = x.shape[axis]
    weight = _class_weight(op, weight, classes, x.dtype)
    log_p = log_softmax(x, dim=axis)
    spread = (1,) * axis + (classes,) + (1,) * (x.ndim - axis - 1)  # weight along the class axis
    weighted = log_p if weight is None else log_p * constant(weight.reshape(spread), x.dtype)
    target_shape = target.shape if isinstance(target, Tensor) else np.shape(target)
    if tuple(target_shape) == x.shape:  # probabilities
        if ignore_index >= 0:
            raise ValueError(
                f"{op}: ignore_index={ignore_index} only applies to class-id targets, not to "
                f"probabilities of shape {x.shape} (as in PyTorch)"
            )
        p = target if isinstance(target, Tensor) else constant(target, x.dtype)
        if label_smoothing > 0:
            p = p * (1 - label_smoothing) + label_smoothing / classes
        losses = -(weighted * p).sum(axis=axis)
        if reduction != "mean":
            return _reduce(losses, reduction)
        return losses.sum() * (classes / x.size if x.size else math.nan)  # over N d1 ..., as torch
    losses, total, keep = _nll_terms(op, log_p, target, weight, ignore_index)
    nll = _weighted_reduce(losses, total, reduction)
    if label_smoothing == 0:
        return nll
    smooth = -weighted.sum(axis=axis) * constant(keep, x.dtype)  # each class's share, weighted
    return nll * (1 - label_smoothing) + _weighted_reduce(smooth, total, reduction) * (
        label_smoothing / classes
    )


# --- Elementwise losses -------------------------------------------------------------------------


def _same_shape(op: str, input: Any, target: Any) -> tuple[Tensor, Tensor]:
    """Both as Tensors (an array target takes input's dtype); their shapes must match."""
    input = lift(input)
    target = target if isinstance(target, Tensor) else Tensor(target, dtype=input.dtype)
    if input.shape != target.shape:
        raise ValueError(
            f"{op}: input has shape {input.shape} but target has shape {target.shape}; "
            f"they must match (no broadcasting, to avoid silent mistakes)"
        )
    return input, target


def _weighted(op: str, losses: Tensor, weight: Any) -> Tensor:
    """losses * weight, the weight broadcast against the losses (a constant)."""
    weight = _constant_of(op, "weight", weight, losses.dtype)
    if weight is None:
        return losses
    try:
        np.broadcast_shapes(weight.shape, losses.shape)
    except ValueError:
        raise ValueError(
            f"{op}: weight of shape {weight.shape} does not broadcast to the losses' shape "
            f"{losses.shape}"
        ) from None
    return losses * constant(weight, losses.dtype)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """(input - target)^2, averaged ("mean"), summed ("sum") or not ("none"); shapes must match."""
    _check_reduction("mse_loss", reduction)
    input, target = _same_shape("mse_loss", input, target)
    difference = input - target
    return _reduce(difference * difference, reduction)


def l1_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """|input - target|, reduced; the gradient at a zero difference is 0, as PyTorch's sign."""
    _check_reduction("l1_loss", reduction)
    input, target = _same_shape("l1_loss", input, target)
    return _reduce(_abs(input - target), reduction)


def _quadratic_then_linear(op: str, input: Any, target: Any, threshold: float) -> Tensor:
    """0.5 d^2 for |d| < threshold, else threshold (|d| - 0.5 threshold): Huber's loss."""
    input, target = _same_shape(op, input, target)
    distance = _abs(input - target)
    inside = distance.data < threshold
    return where(inside, 0.5 * distance * distance, threshold * (distance - 0.5 * threshold))


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Squared error for |d| < delta, delta-scaled absolute error beyond it (PyTorch's)."""
    _check_reduction("huber_loss", reduction)
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    return _reduce(_quadratic_then_linear("huber_loss", input, target, delta), reduction)


def smooth_l1_loss(input: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Huber's loss divided by beta: 0.5 d^2 / beta inside |d| < beta, |d| - 0.5 beta outside."""
    _check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must not be negative, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction)
    return _reduce(_quadratic_then_linear("smooth_l1_loss", input, target, beta) / beta, reduction)


def binary_cross_entropy(
    input: Any, target: Any, weight: Any = None, reduction: str = "mean"
) -> Tensor:
    """-(y log x + (1 - y) log(1 - x)) for probabilities x, each log clamped at -100 (PyTorch).

    The gradient is this loss's own; only within 1e-12 of 0 or 1 does it differ from PyTorch's,
    which clamps x (1 - x) in the gradient's denominator at 1e-12 instead.
    """
    op = "binary_cross_entropy"
    _check_reduction(op, reduction)
    input, target = _same_shape(op, input, target)
    if input.size and not ((input.data >= 0) & (input.data <= 1)).all():
        raise ValueError(
            f"{op}: every input must be a probability in [0, 1] (got values from "
            f"{input.data.min()} to {input.data.max()}); for logits use "
            f"binary_cross_entropy_with_logits"
        )
    losses = -(target * _clamped_log(input) + (1 - target) * _clamped_log(1 - input))
    return _reduce(_weighted(op, losses, weight), reduction)


def _clamped_log(p: Tensor) -> Tensor:
    """max(log p, -100), PyTorch's guard for p = 0; no gradient flows where it is clamped."""
    fine = p.data > math.exp(-100)
    return where(fine, log(where(fine, p, 1.0)), -100.0)


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """binary_cross_entropy(sigmoid(input), target), computed stably from the logits.

    (1 - y) x - (1 + (pos_weight - 1) y) log sigmoid(x), PyTorch's formula: finite for any
    logit, including +-1e4. `pos_weight` (broadcast along the last axis) weighs the positives.
    """
    op = "binary_cross_entropy_with_logits"
    _check_reduction(op, reduction)
    input, target = _same_shape(op, input, target)
    log_sig = logsigmoid(input)
    pos_weight = _constant_of(op, "pos_weight", pos_weight, input.dtype)
    if pos_weight is not None:
        log_sig = log_sig * (1 + (constant(pos_weight, input.dtype) - 1) * target)
    losses = (1 - target) * input - log_sig
    return _reduce(_weighted(op, losses, weight), reduction)


def kl_div(input: Any, target: Any, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """target * (log target - input) for log-probabilities `input`, 0 where target is 0.

    With `log_target`, target holds log-probabilities too. "batchmean" divides the sum by the
    batch size (the KL divergence); "mean" divides by every element, and warns, as PyTorch.
    """
    _check_reduction("kl_div", reduction, ("batchmean",))
    input, target = _same_shape("kl_div", input, target)
    if log_target:
        losses = exp(target) * (target - input)
    else:
        log_t = log(where(target.data > 0, target, 1.0))  # 0 where target is 0: 0 log 0 = 0
        losses = target * (log_t - input)
    if reduction == "batchmean":
        return losses.sum() * (1.0 / input.shape[0] if input.ndim else 1.0)
    if reduction == "mean":
        warnings.warn(
            "kl_div: reduction='mean' divides by the number of elements, not the batch size; "
            "'batchmean' gives the KL divergence (PyTorch gives the same warning)",
            UserWarning,
            stacklevel=2,
        )
    return _reduce(losses, reduction)


def layer_norm(
    x: Any,
    normalized_shape: int | tuple[int, ...] | list[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the last dims (`normalized_shape`) to mean 0, variance 1, then scale and
    shift: (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance, as PyTorch.

    Composed from primitives (mean, sqrt, ...), so its gradients need no code of their own.
    """
    x = lift(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or len(shape) > x.ndim or x.shape[x.ndim - len(shape) :] != shape:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} must be non-empty and equal the last "
            f"dimensions of the input, got an input of shape {x.shape}"
        )
    for name, given in (("weight", weight), ("bias", bias)):
        given_shape = np.shape(given.data if isinstance(given, Tensor) else given)
        if given is not None and given_shape != shape:
            raise ValueError(
                f"layer_norm: {name} must have shape normalized_shape={shape}, got {given_shape}"
            )
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centred = x - x.mean(axis=axes, keepdims=True)  # x - E[x]
    variance = (centred * centred).mean(axis=axes, keepdims=True)  # Var[x], biased (1/n)
    out = centred / (variance + eps).sqrt()  # (x - E[x]) / sqrt(Var[x] + eps)
    if weight is not None:
        out = out * weight  # * gamma
    if bias is not None:
        out = out + bias  # + beta
    return out
