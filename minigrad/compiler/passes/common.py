"""What the passes share: who reads each value, and a `Split` of a value into new pieces."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ...ops import Split
from ..program import Program, Statement


def readers(program: Program, statements: list | None = None) -> dict[int, list[Statement]]:
    """Value -> the statements (forward and backward, or those given) that read it."""
    found: dict[int, list[Statement]] = defaultdict(list)
    for st in program.forward + program.backward if statements is None else statements:
        for is_value, x in st.args:
            if is_value:
                found[x].append(st)
    return found


def split(program: Program, value: int, bounds: tuple, axis: int) -> tuple[Statement, tuple]:
    """A `Split` of `value` at `bounds` along `axis` (a view: free), and its new pieces."""
    shape, dtype = program.meta[value]
    pieces = tuple(
        program.new_meta((shape[:axis] + (stop - start,) + shape[axis + 1 :], dtype))
        for start, stop in zip(bounds, bounds[1:])
    )
    args = ((True, value), (False, bounds), (False, axis), (False, None))
    return Statement(Split, args, pieces, (False,) * 4, True), pieces


def column_bounds(program: Program, values: list[int]) -> tuple:
    """Where each of `values` starts and ends when they are joined along their last axis."""
    widths = [program.meta[v][0][-1] for v in values]
    return tuple(np.cumsum([0, *widths]).tolist())
