"""Normalisation layers: `LayerNorm`, with PyTorch's arguments, parameter names and defaults."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import Tensor
from . import init
from .functional import layer_norm
from .module import Module, Parameter, as_input


class LayerNorm(Module):
    """Layer normalisation (Ba et al. 2016) over the last dims, `normalized_shape`.

    `weight` (ones) and `bias` (zeros), both of shape `normalized_shape`, scale and shift the
    normalised input; `elementwise_affine=False` drops both, `bias=False` the shift only.
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...] | list[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        dtype = init.check_dtype(dtype, "LayerNorm")
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        self.normalized_shape = tuple(int(n) for n in shape)
        if not self.normalized_shape or min(self.normalized_shape) < 1:
            raise ValueError(
                f"LayerNorm: normalized_shape must be non-empty positive sizes, got "
                f"{normalized_shape!r}"
            )
        self.eps, self.elementwise_affine = eps, elementwise_affine
        affine = elementwise_affine
        self.weight = Parameter(np.ones(self.normalized_shape, dtype)) if affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype)) if affine and bias else None

    def forward(self, input: Any) -> Tensor:  # noqa: A002 - PyTorch's name
        if self.weight is not None:  # the input must have the parameters' dtype
            input = as_input(input, self.weight.dtype, "LayerNorm")
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
