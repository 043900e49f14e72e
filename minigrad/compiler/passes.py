"""Rewrites of a traced program, each a function `Program -> None` that changes it in place.

`PASSES` lists the ones `compile` runs, in order, after tracing and before the program is
finished (its saved values and frees worked out). Each must leave the program's results
unchanged; `compile(fn, check=True)` compares against eager after all of them have run.
"""

from __future__ import annotations

from collections.abc import Callable

from .program import Program, Statement


def eliminate_dead_code(program: Program) -> None:
    """Drop the statements whose results nothing reads: not the outputs, not the gradients
    returned, not a later statement (gradients for inputs that need none, unused values)."""
    live = {v for v in program.grads if v is not None}
    program.backward = _live_statements(program.backward, live)
    live.update(program.outputs)
    program.forward = _live_statements(program.forward, live)


def _live_statements(statements: list[Statement], live: set[int]) -> list[Statement]:
    """The statements (in order) that make a value in `live`; `live` gains what they read."""
    kept = []
    for st in reversed(statements):
        if any(v in live for v in st.outputs):
            kept.append(st)
            live.update(x for is_value, x in st.args if is_value)
    kept.reverse()
    return kept


PASSES: list[Callable[[Program], None]] = [eliminate_dead_code]
