"""`minigrad.compile`: trace a function once, replay it as one straight-line program.

`compiled.py` holds `compile` and the cache; `tracing.py` records a call and its backward;
`passes/` rewrites the recorded program; `program.py` is that program, how it replays and how
it prints; `codegen.py` writes it as one function of numpy calls; `masks.py` has the ops the
tracer uses where eager backwards compute masks on arrays.
"""

from .compiled import Compiled, CompiledCall, compile
from .program import Program
from .tracing import CompileError

__all__ = ["CompileError", "Compiled", "CompiledCall", "Program", "compile"]
