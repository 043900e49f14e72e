"""`grad()`: gradients returned instead of accumulated into `.grad`, as `torch.autograd.grad`.

It runs the engine's walk with two hooks of its own: leaves' gradients go to a dictionary
instead of `.grad` (the walk's `deliver`), and an observer picks up the gradient reaching each
requested non-leaf tensor (the same visit hook `retain_grad` and `debug.trace` use).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import checks
from .engine import Node, Tensor, run_backward
from .grad_mode import state


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> tuple:
    """d(outputs)/d(inputs) as a tuple of Tensors (None where unused), leaving `.grad` alone.

    With `create_graph=True` the returned gradients are themselves differentiable.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outputs) if len(outputs) == 1 else grad_outputs
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    seeds = []
    for output, seed in zip(outputs, grad_outputs):
        if seed is None:
            if output.data.size != 1:
                raise checks.implicit_seed("grad", output.shape)
            seed = np.ones_like(output.data)
        seeds.append(seed)

    found: dict[int, Tensor] = {}  # id(input) -> its gradient
    leaves = {id(t) for t in inputs if t.grad_fn is None}
    wanted = {(t.grad_fn, t.output_index): id(t) for t in inputs if t.grad_fn is not None}

    def capture_leaf(leaf: Tensor, g: Tensor) -> None:
        if id(leaf) in leaves:
            previous = found.get(id(leaf))
            found[id(leaf)] = g if previous is None else previous + g

    def capture_output(node: Node, grads: tuple) -> None:
        for index, g in enumerate(grads):
            key = wanted.get((node, index))
            if key is not None:
                found[key] = g

    observers = state.observers
    if wanted:
        state.observers = (*observers, capture_output)
    try:
        run_backward(outputs, seeds, retain_graph, create_graph, capture_leaf)
    finally:
        state.observers = observers
    return tuple([found.get(id(t)) for t in inputs])
