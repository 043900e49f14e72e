"""What a node saves for backward, and how those arrays are kept safe until backward reads them.

`ctx.save_for_backward(a, out)` in a forward hands the node some tensors. Keeping the Tensor
objects would tie the graph to every intermediate result and, for the op's own output, make a
cycle (output -> node -> output). So when forward returns, `seal` keeps each saved tensor as its
array plus a *source* saying where it came from:

    ~k      the node's own output k (~0 = -1 for the only output), kept as a number: no cycle
    edge    an input: that input's edge (the node that made it, or the leaf itself), or None
            for an input that needs no gradient (rebuilt as a constant)
    (t, 0)  a tensor that was neither input nor output, kept as is; None if None was saved

`Node.saved_tensors` (in engine.py) rebuilds the tensors from these sources when backward asks.

Backward reads the saved arrays, so an in-place write into one of them in between would silently
corrupt gradients. Outputs of recorded ops are read-only from birth (the engine does that); any
other saved array (a leaf's, say) has its memory owner made read-only by `lock` until the last
node that saved it is released (its `Guard` is dropped).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_locks: dict[int, list] = {}  # id(owner array) -> [owner array, number of nodes holding it]


def lock(array: np.ndarray) -> np.ndarray | None:
    """Make `array`'s memory read-only for a node; return the owner to unlock later, if any."""
    owner = array if array.base is None else array.base
    if not isinstance(owner, np.ndarray) or not owner.flags.writeable:
        entry = _locks.get(id(owner))
        if entry is None:
            return None  # read-only anyway (an op's output, a broadcast view): nothing to guard
        entry[1] += 1
        return owner
    owner.flags.writeable = False
    _locks[id(owner)] = [owner, 1]
    return owner


def is_locked(array: np.ndarray) -> bool:
    """Whether a node that has not been released holds `array`'s memory read-only."""
    return id(array if array.base is None else array.base) in _locks


def unlock(owner: np.ndarray) -> None:
    """One node no longer needs `owner` read-only; the last one makes it writable again."""
    entry = _locks[id(owner)]
    entry[1] -= 1
    if entry[1] == 0:
        del _locks[id(owner)]
        owner.flags.writeable = True


class Guard:
    """The arrays one node made read-only: unlocked when the node drops this (released or freed).

    Only nodes that locked something carry one, so freeing an ordinary node runs no Python code.
    """

    __slots__ = ("owners",)

    def __init__(self, owners: list) -> None:
        self.owners = owners

    def __del__(self) -> None:
        for owner in self.owners:
            unlock(owner)


def seal(saved: tuple, inputs: tuple, edges: tuple, results: tuple, arrays: tuple) -> tuple:
    """(sources, arrays, guard) for the tensors forward saved: see the module docstring.

    `edges` are the node's, `results` what forward returned, `arrays` the output arrays recorded.
    """
    sources, kept, owners = [], [], []
    for tensor in saved:
        source: Any = None
        data = None
        if tensor is not None:
            source, data = (tensor, 0), tensor.data
            for index, result in enumerate(results):
                if result is tensor:
                    source, data = ~index, arrays[index]  # the array actually recorded
                    break
            else:
                for position, x in enumerate(inputs):
                    if x is tensor:
                        source = edges[position]
                        break
                owner = lock(data)
                if owner is not None:
                    owners.append(owner)
        sources.append(source)
        kept.append(data)
    return tuple(sources), tuple(kept), Guard(owners) if owners else None
