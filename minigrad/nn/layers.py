"""`Linear` and `Embedding`, with PyTorch's parameter names, shapes and default initialisation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..engine import Tensor
from ..ops import linear
from . import init
from .module import Module, Parameter, as_input


class Linear(Module):
    """y = x @ weight.T + bias, for inputs of any shape (..., in_features).

    weight (out, in) and bias (out,) are drawn from U(-1/sqrt(in), 1/sqrt(in)), which is what
    PyTorch's kaiming-uniform default (a = sqrt(5)) works out to.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        dtype: Any = np.float64,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        dtype = init.check_dtype(dtype, "Linear")
        generator = init.generator(rng)
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = Parameter(init.uniform((out_features, in_features), bound, dtype, generator))
        self.bias = (
            Parameter(init.uniform((out_features,), bound, dtype, generator)) if bias else None
        )

    def forward(self, x: Any) -> Tensor:
        x = as_input(x, self.weight.dtype, "Linear")
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear: expected an input of shape (..., {self.in_features}) "
                f"(in_features={self.in_features}), got {x.shape}"
            )
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A table of `num_embeddings` learned vectors; `emb(ids)` is `weight[ids]`.

    The lookup is plain integer-array indexing, so its gradient scatter-adds into the rows used
    (a repeated id gets the sum of its gradients). weight is drawn from N(0, 1), as in PyTorch.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        dtype: Any = np.float64,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        dtype = init.check_dtype(dtype, "Embedding")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        shape = (num_embeddings, embedding_dim)
        self.weight = Parameter(init.normal(shape, dtype, init.generator(rng)))

    def forward(self, ids: Any) -> Tensor:
        ids = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
        if ids.dtype.kind == "f" and np.array_equal(ids, np.round(ids)):
            ids = ids.astype(np.intp)  # a Tensor of ids holds floats; whole numbers are fine
        if ids.dtype.kind not in "iu":
            raise TypeError(f"Embedding: ids must be integers, got an array of dtype {ids.dtype}")
        bad = (ids < 0) | (ids >= self.num_embeddings)
        if bad.any():
            raise IndexError(
                f"Embedding: id {ids[bad].flat[0]} is out of range for num_embeddings="
                f"{self.num_embeddings} (ids must be in [0, {self.num_embeddings - 1}])"
            )
        return self.weight[ids]

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
