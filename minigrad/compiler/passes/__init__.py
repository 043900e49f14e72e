"""Rewrites of a traced program, each a function `Program -> None` that changes it in place.

`PASSES` lists the ones `compile` runs, in order, after tracing and before the program is
finished (its code generated). Each must leave the program's results unchanged (up to float
rounding); `compile(fn, check=True)` compares against eager after all of them have run, and
each is tested alone on random inputs. The fused ops a pass introduces are Functions beside
it, with a forward (the reference meaning) and a lowering; their backward is never needed,
since a differentiable replay (`create_graph=True`) replays the program as traced.

    gates.py        a step's gate blocks: one activation call forward and backward
    projections.py  a loop's matrix products: hoisted, formed once, transposed once
    factors.py      activation derivatives' factors formed for all steps at once
    cleanup.py      negations into subtractions, stacked pieces shared, repeated and dead
                    code removed
"""

from __future__ import annotations

from collections.abc import Callable

from ..program import Program
from .cleanup import (
    eliminate_common_subexpressions,
    eliminate_dead_code,
    share_stacked_pieces,
    subtract_negations,
)
from .common import readers
from .factors import (
    FACTORS,
    GateFactor,
    InPlaceResult,
    MulInPlace,
    SigmoidFactor,
    TanhFactor,
    batch_derivative_factors,
)
from .gates import (
    GateActivations,
    GateActivationsGrad,
    Scale,
    ScaledTanh,
    fuse_gate_activations,
    join_sums_of_pieces,
    prescale_gate_inputs,
)
from .projections import (
    LinearTransposed,
    TransposedCopy,
    fold_recurrent_bias,
    form_recurrent_gradients_once,
    hoist_input_projections,
    transpose_recurrent_weights,
)

PASSES: list[Callable[[Program], None]] = [
    join_sums_of_pieces,
    fuse_gate_activations,
    hoist_input_projections,
    form_recurrent_gradients_once,
    fold_recurrent_bias,
    prescale_gate_inputs,
    transpose_recurrent_weights,
    subtract_negations,
    eliminate_common_subexpressions,
    batch_derivative_factors,
    eliminate_dead_code,
    share_stacked_pieces,  # after dead code is gone: it needs to see who really reads a join
    eliminate_dead_code,
]


__all__ = [
    "FACTORS",
    "GateActivations",
    "GateActivationsGrad",
    "GateFactor",
    "InPlaceResult",
    "LinearTransposed",
    "MulInPlace",
    "PASSES",
    "Scale",
    "ScaledTanh",
    "SigmoidFactor",
    "TanhFactor",
    "TransposedCopy",
    "batch_derivative_factors",
    "eliminate_common_subexpressions",
    "eliminate_dead_code",
    "fold_recurrent_bias",
    "form_recurrent_gradients_once",
    "fuse_gate_activations",
    "hoist_input_projections",
    "join_sums_of_pieces",
    "prescale_gate_inputs",
    "readers",
    "share_stacked_pieces",
    "subtract_negations",
    "transpose_recurrent_weights",
]
