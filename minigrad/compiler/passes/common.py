"""What the passes share: who reads each value."""

from __future__ import annotations

from collections import defaultdict

from ..program import Program, Statement


def readers(program: Program, statements: list | None = None) -> dict[int, list[Statement]]:
    """Value -> the statements (forward and backward, or those given) that read it."""
    found: dict[int, list[Statement]] = defaultdict(list)
    for st in program.forward + program.backward if statements is None else statements:
        for is_value, x in st.args:
            if is_value:
                found[x].append(st)
    return found
