"""Tools for looking inside backward: a trace of the nodes it visits, and anomaly detection.

    with minigrad.debug.trace() as t:      # prints a table when the block ends
        loss.backward()
    t.rows                                 # [TraceRow(step=0, op='Sum', shape=(), ...), ...]

    with minigrad.debug.detect_anomaly():  # an op making a NaN/inf that is not masked raises
        loss = model(x).log().sum()
        loss.backward()

Both work through the switches the engine checks at every op, in `minigrad.grad_mode.state`:
`state.observers` (functions called with each node and the gradients of its outputs as backward
reaches it) and `state.anomaly`. Each context manager sets its switch on entry and restores the
previous value on exit, so they nest and combine.
"""

from __future__ import annotations

import contextlib
import sys
from typing import IO, Any, NamedTuple

import numpy as np

from . import checks
from .engine import Node
from .grad_mode import state

__all__ = ["TraceRow", "detect_anomaly", "is_anomaly_enabled", "trace"]


class TraceRow(NamedTuple):
    """One node visited by backward: the order, the op, its output's shape and incoming gradient."""

    step: int  # 0 for the first node backward visits (the one that made the output)
    op: str  # the Function's name, e.g. "MatMul"
    shape: tuple  # shape of the op's output (= of the gradient flowing in); a tuple of shapes
    # for an op with several outputs (split), whose gradients are then reported together
    dtype: str
    grad_norm: float  # L2 norm of the gradient arriving at this op's output(s)
    grad_max: float  # largest |element| of that gradient
    finite: bool  # False if that gradient holds a NaN or inf


class trace:
    """Record every node backward visits inside the block, then print them as a table.

    `rows` holds a TraceRow per visited node, in the order backward handled them (a
    topological order: a node comes after every node that uses its output). Pass
    `print_table=False` to only collect, `file=` to print elsewhere, `limit=` to cap the
    number of printed rows (all are still recorded).
    """

    def __init__(
        self, print_table: bool = True, file: IO[str] | None = None, limit: int | None = 200
    ) -> None:
        self.print_table = print_table
        self.file = file
        self.limit = limit
        self.rows: list[TraceRow] = []
        self._previous: tuple = ()

    def _observe(self, node: Node, grads: tuple) -> None:
        # A node with several outputs (split) gets one gradient per output: report them together.
        arrays = [np.asarray(g.data) for g in grads]
        wide = [a.astype(np.float64).ravel() for a in arrays]
        with np.errstate(over="ignore", invalid="ignore"):
            norm = float(np.sqrt(sum(np.sum(w * w) for w in wide)))
            largest = max((float(np.max(np.abs(w))) for w in wide if w.size), default=0.0)
        finite = all(bool(np.all(np.isfinite(a))) for a in arrays)
        shape = arrays[0].shape if len(arrays) == 1 else tuple(a.shape for a in arrays)
        step = len(self.rows)
        self.rows.append(
            TraceRow(step, node.fn.__name__, shape, str(arrays[0].dtype), norm, largest, finite)
        )

    def __enter__(self) -> trace:
        self.rows = []
        self._previous = state.observers
        state.observers = (*self._previous, self._observe)  # after any observer already there
        return self

    def __exit__(self, *exc_info: Any) -> None:
        state.observers = self._previous
        self._previous = ()
        if self.print_table:
            print(self.table(), file=self.file if self.file is not None else sys.stdout)

    def table(self) -> str:
        """The recorded rows as a fixed-width text table (at most `limit` rows shown)."""
        header = ("step", "op", "output shape", "dtype", "|grad|", "max|grad|")
        shown = self.rows if self.limit is None else self.rows[: self.limit]
        body = [
            (
                str(r.step),
                r.op,
                _shapes_text(r.shape),
                r.dtype,
                f"{r.grad_norm:.4g}",
                f"{r.grad_max:.4g}" + ("" if r.finite else "  <- NaN/inf"),
            )
            for r in shown
        ]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(header, widths)).rstrip()]
        lines.append("  ".join("-" * w for w in widths))
        lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in body)
        if len(shown) < len(self.rows):
            lines.append(f"... {len(self.rows) - len(shown)} more rows (see .rows)")
        lines.append(f"backward visited {len(self.rows)} nodes")
        return "\n".join(lines)


class detect_anomaly(contextlib.ContextDecorator):
    """Inside the block, a NaN or inf that an op makes and nothing masks raises, naming the op.

    The FloatingPointError names the op (its Function) and the lines of code that created it,
    so you see *where* a NaN was born instead of finding it in the loss many ops later. Each
    recorded op also remembers its creation stack, which costs time: use it while debugging.
    Only recorded ops (those with an input that requires grad) are checked.

    The rule, made so that the masking idioms PyTorch's anomaly mode accepts pass here too
    (PyTorch checks only backward, for NaN): a recorded op's non-finite output (NaN or inf) is
    *pending* until another recorded op uses it. Using it settles it: `where(x > 0, log(x), 0)`
    drops the bad branch, `exp` of an additive `-inf` mask gives 0, `max` picks a finite value;
    an op that passes the NaN/inf on makes its own output pending in turn, still blamed on the
    op where it was born (or on the input that already held it). What is still pending when
    backward starts, or when the block ends, raises: a NaN in the loss or one left unused. In
    backward, every gradient an op returns must be finite (NaN and inf both raise, naming the
    op and its line), as a masked branch gets a zero gradient and stays finite.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = bool(enabled)
        self._previous: tuple = (False, None)

    def _recreate_cm(self) -> detect_anomaly:
        return type(self)(self.enabled)  # a fresh instance per decorated call, so calls nest

    def __enter__(self) -> detect_anomaly:
        self._previous = (state.anomaly, state.anomalies)
        state.anomaly = self.enabled
        if self.enabled and state.anomalies is None:
            state.anomalies = {}  # this block owns the pending NaN/inf (see the class doc)
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        pending = state.anomalies
        state.anomaly, state.anomalies = self._previous
        if pending and self._previous[1] is None and exc_type is None:
            checks.raise_pending(pending)


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on now."""
    return state.anomaly


def _shapes_text(shape: tuple) -> str:
    """(2, 4) for one output; 4 x (2, 4) or (2, 4), (2, 3) for an op with several outputs."""
    if not shape or not isinstance(shape[0], tuple):
        return str(shape)
    if len(set(shape)) == 1:
        return f"{len(shape)} x {shape[0]}"
    return ", ".join(str(s) for s in shape)
