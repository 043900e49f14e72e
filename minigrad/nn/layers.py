"""`Linear` and `Embedding`, with PyTorch's parameter names, shapes and default initialisation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..engine import Tensor
from ..ops import linear, where
from . import init
from .functional import class_indices
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
        dtype: Any = None,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        for name, size in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(size, (int, np.integer)) or isinstance(size, bool):
                raise TypeError(f"Linear: {name} must be an integer, got {size!r}")
            if size < 0:
                raise ValueError(f"Linear: {name} must be >= 0, got {size}")
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
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Embedding(Module):
    """A table of `num_embeddings` learned vectors; `emb(ids)` is `weight[ids]`.

    The lookup is plain integer-array indexing, so its gradient scatter-adds into the rows used
    (a repeated id gets the sum of its gradients). weight is drawn from N(0, 1), as in PyTorch.
    With `padding_idx`, that row starts at zero and never receives a gradient (a padding token
    stays put), as in PyTorch; a negative `padding_idx` counts from the end.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        dtype: Any = None,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        dtype = init.check_dtype(dtype, "Embedding")
        if padding_idx is not None:
            if not isinstance(padding_idx, (int, np.integer)) or isinstance(padding_idx, bool):
                raise TypeError(
                    f"Embedding: padding_idx must be an int or None, got {padding_idx!r} (the "
                    f"third positional argument is padding_idx, as in PyTorch; pass dtype= by "
                    f"keyword)"
                )
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx={padding_idx} is out of range for "
                    f"num_embeddings={num_embeddings}"
                )
            padding_idx = int(padding_idx) % num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        weight = init.normal((num_embeddings, embedding_dim), dtype, init.generator(rng))
        if padding_idx is not None:
            weight[padding_idx] = 0
        self.weight = Parameter(weight)

    def forward(self, ids: Any) -> Tensor:
        ids = class_indices(
            ids,
            self.num_embeddings,
            "Embedding",
            "id",
            bound=f"num_embeddings={self.num_embeddings}",
        )
        rows = self.weight[ids]
        if self.padding_idx is None:
            return rows
        used = (ids != self.padding_idx)[..., None]
        return where(used, rows, rows.detach())  # the same values; no gradient to the padding row

    def extra_repr(self) -> str:
        padding = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"
