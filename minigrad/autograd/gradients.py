"""`grad()`: gradients returned instead of accumulated into `.grad`, as `torch.autograd.grad`.

The walk is the engine's (`engine.collect_grads`, which `backward(inputs=)` shares): leaves'
gradients are summed aside instead of added to `.grad`, and an observer picks up the gradient
reaching each requested non-leaf tensor. This file checks the arguments and the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import checks
from ..engine import Tensor, collect_grads, from_numpy


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple:
    """d(outputs)/d(inputs) as a tuple of Tensors, one per input, leaving `.grad` alone.

    An input the outputs do not depend on raises, unless `allow_unused=True` (then its gradient
    is None) or `materialize_grads=True` (zeros). With `create_graph=True` the returned
    gradients are themselves differentiable.
    """
    outputs = as_tensor_list("grad", "outputs", outputs)
    inputs = as_tensor_list("grad", "inputs", inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs]
    else:
        grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(
            f"grad: got {len(outputs)} outputs but {len(grad_outputs)} grad_outputs; pass one "
            f"gradient (or None) per output"
        )
    if materialize_grads and allow_unused is False:
        raise ValueError("grad: materialize_grads=True needs allow_unused to be True or unset")
    allow_unused = materialize_grads if allow_unused is None else allow_unused
    for index, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(
                f"grad: input {index} (shape {t.shape}) does not require grad, so it has no "
                f"gradient; set requires_grad=True on it"
            )
    seeds = []
    for output, seed in zip(outputs, grad_outputs):
        if seed is None:
            if output.size != 1:
                raise checks.implicit_seed("grad", output.shape)
            seed = np.ones_like(output.data)
        seeds.append(seed)

    grads = [g for _, g in collect_grads(outputs, seeds, inputs, retain_graph, create_graph)]
    for index, (t, g) in enumerate(zip(inputs, grads)):
        if g is not None:
            continue
        if not allow_unused:
            raise RuntimeError(
                f"grad: input {index} (shape {t.shape}) was not used to compute the outputs; "
                f"pass allow_unused=True to get None for it, or materialize_grads=True for zeros"
            )
        if materialize_grads:
            grads[index] = from_numpy(np.zeros_like(t.data))
    return tuple(grads)


def as_tensor_list(name: str, what: str, tensors: Any) -> list[Tensor]:
    """A Tensor or a sequence of Tensors, as a non-empty list (`what` names the argument)."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if not tensors:
        raise RuntimeError(f"{name}: {what} cannot be empty")
    for index, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: {what}[{index}] must be a Tensor, got {type(t).__name__}")
    return tensors
