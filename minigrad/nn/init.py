"""Random initialisation, seedable in two ways.

Every layer draws its parameters from a numpy `Generator`:

* the shared one of `minigrad.random` (also behind `minigrad.rand`, `randn`, ...), reset with
  `manual_seed(seed)` (like `torch.manual_seed`; `minigrad.manual_seed` is the same function), or
* its own, when given `rng=` (an int seed or a `numpy.random.Generator`), which leaves the
  shared generator untouched.

Draws are made in float64 and then cast, so a float32 layer gets the float32-rounded values of
the float64 layer built from the same seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..engine import default_dtype
from ..random import generator, manual_seed

__all__ = ["check_dtype", "generator", "manual_seed", "normal", "uniform"]


def check_dtype(dtype: Any, where: str) -> np.dtype:
    """`dtype` as a numpy dtype, which must be float32 or float64 (the engine's two dtypes);
    None is the default dtype (`minigrad.set_default_dtype`)."""
    dtype = default_dtype[0] if dtype is None else np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"{where}: dtype must be float32 or float64, got {dtype}")
    return dtype


def uniform(
    shape: tuple[int, ...], bound: float, dtype: npt.DTypeLike, rng: np.random.Generator
) -> np.ndarray:
    """U(-bound, bound) samples of `shape`: PyTorch's default for Linear and recurrent weights."""
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def normal(shape: tuple[int, ...], dtype: npt.DTypeLike, rng: np.random.Generator) -> np.ndarray:
    """N(0, 1) samples of `shape`: PyTorch's default for Embedding."""
    return rng.standard_normal(shape).astype(dtype)
