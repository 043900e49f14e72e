"""Random initialisation, seedable in two ways.

Every layer draws its parameters from a numpy `Generator`:

* the module-level one, reset with `manual_seed(seed)` (like `torch.manual_seed`), or
* its own, when given `rng=` (an int seed or a `numpy.random.Generator`), which leaves the
  module-level generator untouched.

Draws are made in float64 and then cast, so a float32 layer gets the float32-rounded values of
the float64 layer built from the same seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Reset the module-level generator, so layers built afterwards are reproducible."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator(rng: int | np.random.Generator | None = None) -> np.random.Generator:
    """The generator to draw from: `rng` (a seed or a Generator) if given, else the module's."""
    return _generator if rng is None else np.random.default_rng(rng)


def check_dtype(dtype: Any, where: str) -> np.dtype:
    """`dtype` as a numpy dtype, which must be float32 or float64 (the engine's two dtypes)."""
    dtype = np.dtype(dtype)
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
