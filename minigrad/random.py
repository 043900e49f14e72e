"""The one random generator minigrad draws from by default: random tensors, `nn.init`, dropout.

`manual_seed(seed)` resets it (as `torch.manual_seed`); every function that draws also takes its
own generator (`generator=` for the creation functions, `rng=` for layers): an int seed or a
`numpy.random.Generator`, which leaves the shared one untouched.
"""

from __future__ import annotations

import numpy as np

_default = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the shared generator from `seed`, so what is drawn afterwards is reproducible."""
    global _default
    _default = np.random.default_rng(seed)
    return _default


def default_generator() -> np.random.Generator:
    """The shared generator (the one `manual_seed` resets)."""
    return _default


def generator(rng: int | np.random.Generator | None = None) -> np.random.Generator:
    """The generator to draw from: `rng` (a seed or a Generator) if given, else the shared one."""
    return _default if rng is None else np.random.default_rng(rng)
