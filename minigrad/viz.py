"""Draw the graph behind a tensor: Graphviz DOT text, and SVG/PNG when Graphviz is installed.

`to_dot(t)` walks back from `t` through the recorded `Node`s (the same graph `backward` walks)
and returns DOT text: one box per op (its Function's name and output shape), one box per leaf
that requires grad (shape, its `.grad` when present), edges in the direction data flows in
forward. `render(t, "graph.svg")` pipes that text through the `dot` program.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from typing import Any

import numpy as np

from .engine import Node, Tensor

__all__ = ["GraphvizNotFoundError", "render", "to_dot"]


class GraphvizNotFoundError(RuntimeError):
    """Raised by `render` when the Graphviz `dot` program is not on PATH."""


_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}


def to_dot(
    tensor: Tensor,
    names: Mapping[str, Tensor] | None = None,
    rankdir: str = "TB",
) -> str:
    """Graphviz DOT text for the graph that produced `tensor`: exactly what backward walks.

    `names` labels tensors you know (e.g. `dict(model.named_parameters())`). Op boxes show the
    Function's name and its output's shape; leaves that require grad are filled blue; a `.grad`
    is shown as its shape and norm. Constants, which no gradient reaches, are not part of the
    graph and are not drawn. The walk is iterative, so graphs of any depth (a long unrolled RNN)
    draw without hitting Python's recursion limit.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot: expected a Tensor, got {type(tensor).__name__}")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"to_dot: rankdir must be one of TB, LR, BT, RL, got {rankdir!r}")
    label_of = {id(t): name for name, t in (names or {}).items()}
    ids: dict[int, str] = {}  # id(object) -> DOT node name, in order of discovery

    def dot_id(obj: Any, prefix: str) -> str:
        key = id(obj)
        if key not in ids:
            ids[key] = f"{prefix}{len(ids)}"
        return ids[key]

    lines = [
        "digraph minigrad {",
        f"  rankdir={rankdir};",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", '
        "fontsize=11];",
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    seen_tensors: set[int] = set()  # tensors already drawn as boxes
    # Intermediate tensors the graph does not hold: known by the (node, output) that made them.
    named = (names or {}).values()
    known = {(t.grad_fn, t.output_index): t for t in named if t.grad_fn is not None}

    root = tensor
    root_id = dot_id(root, "t")
    if root.grad_fn is None:
        lines.append(_leaf_line(root_id, root, label_of.get(id(root)), is_root=True))
        lines.append("}")
        return "\n".join(lines) + "\n"

    lines.append(_tensor_line(root_id, root, label_of.get(id(root)), "output"))
    lines.append(f"  {dot_id(root.grad_fn, 'op')} -> {root_id};")

    stack = [root.grad_fn]
    visited = {root.grad_fn}
    ops: list[tuple[str, Node]] = []
    edges: list[str] = []
    while stack:
        node = stack.pop()
        node_id = dot_id(node, "op")
        ops.append((node_id, node))
        for position, (target, index) in enumerate(node.next_functions):
            if target is None:  # an operand no gradient flows to: not part of the graph
                continue
            if isinstance(target, Tensor):  # a leaf
                source = dot_id(target, "t")
                if id(target) not in seen_tensors:
                    seen_tensors.add(id(target))
                    edges.append(_leaf_line(source, target, label_of.get(id(target))))
                edges.append(_edge(source, node_id, position, node, None))
                continue
            source = dot_id(target, "op")
            output = f"[{index}] " if target.n_outputs > 1 else ""
            if target.output_labels:  # the op named its outputs (an LSTM's i, f, g, o)
                output = f"{target.output_labels[index]} "
            value = known.get((target, index))
            if value is None:  # (not `or`: a Tensor's truth value is its element's)
                value = _retained(target, index)
            if value is not None and (id(value) in label_of or value.grad is not None):
                # A named or grad-holding intermediate tensor gets its own box on the edge.
                middle = dot_id(value, "t")
                if id(value) not in seen_tensors:
                    seen_tensors.add(id(value))
                    edges.append(_tensor_line(middle, value, label_of.get(id(value)), "tensor"))
                    edges.append(f"  {source} -> {middle};")
                edges.append(_edge(middle, node_id, position, node, None))
            else:
                shape = target.output_shapes[index]
                edges.append(_edge(source, node_id, position, node, shape, output))
            if target not in visited:
                visited.add(target)
                stack.append(target)
    lines.extend(_op_line(name, node) for name, node in ops)
    lines.extend(edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _retained(node: Node, index: int) -> Tensor | None:
    """The tensor made by `node` as output `index`, if it asked to retain its grad."""
    ref = (node.retained or {}).get(index)
    return None if ref is None else ref()


def render(
    tensor: Tensor,
    path: str | os.PathLike,
    names: Mapping[str, Tensor] | None = None,
    rankdir: str = "TB",
) -> str:
    """Write the graph behind `tensor` to `path`; the format comes from its suffix (.svg, .png).

    Needs the Graphviz `dot` program; without it, raises GraphvizNotFoundError saying how to
    install it (`to_dot` alone needs nothing). Returns the path written.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in _FORMATS:
        raise ValueError(
            f"render: cannot tell the format from {path!r}; use a path ending in "
            f"{', '.join(sorted(_FORMATS))}"
        )
    text = to_dot(tensor, names=names, rankdir=rankdir)
    if _FORMATS[suffix] == "dot":
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizNotFoundError(
            "render: the Graphviz 'dot' program was not found on PATH. Install Graphviz "
            "(Debian/Ubuntu: `apt-get install graphviz`, macOS: `brew install graphviz`, "
            "conda: `conda install graphviz`), or call minigrad.viz.to_dot(tensor) and paste "
            "the text into any Graphviz viewer."
        )
    result = subprocess.run(
        [dot, f"-T{_FORMATS[suffix]}", "-o", path],
        input=text.encode("utf-8"),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"render: dot failed with exit code {result.returncode}: "
            f"{result.stderr.decode('utf-8', 'replace').strip()}"
        )
    return path


# --- Labels -------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    """A DOT string literal; newlines in `text` become line breaks in the drawn label."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _shape_text(shape: tuple) -> str:
    return str(tuple(int(n) for n in shape))


def _grad_text(grad: np.ndarray) -> str:
    norm = float(np.sqrt(np.sum(np.square(grad, dtype=np.float64))))
    return f"grad {_shape_text(grad.shape)} |g|={norm:.3g}"


def _leaf_line(dot_name: str, tensor: Tensor, name: str | None, is_root: bool = False) -> str:
    parts = [name] if name else []
    parts.append(f"{_shape_text(tensor.shape)} {tensor.dtype}")
    if not tensor.requires_grad and tensor.size == 1:
        parts[-1] = f"{tensor.item():.4g}"  # a small constant: its value says more than its shape
    if tensor.requires_grad:
        parts.append("requires_grad")
        style = 'fillcolor="#cfe2ff"'
    else:
        parts.append("constant")
        style = 'style="rounded,dashed", fillcolor=white'
    if tensor.grad is not None:
        parts.append(_grad_text(tensor.grad))
    if is_root:
        style += ", penwidth=2"
    return f"  {dot_name} [label={_quote(chr(10).join(parts))}, {style}];"


def _tensor_line(dot_name: str, tensor: Tensor, name: str | None, role: str) -> str:
    parts = [name or role, f"{_shape_text(tensor.shape)} {tensor.dtype}"]
    if tensor.grad is not None:
        parts.append(_grad_text(tensor.grad))
    color = "#d1e7dd" if role == "output" else "#fff3cd"
    return (
        f"  {dot_name} [label={_quote(chr(10).join(parts))}, shape=ellipse, "
        f'style=filled, fillcolor="{color}"];'
    )


def _op_line(dot_name: str, node: Node) -> str:
    label = node.fn.__name__
    shapes = node.output_shapes
    if len(shapes) > 1 and len(set(shapes)) == 1:  # e.g. split into four equal gates
        label += f"\n-> {len(shapes)} x {_shape_text(shapes[0])}"
    else:
        label += "\n-> " + ", ".join(_shape_text(s) for s in shapes)
    return f'  {dot_name} [label={_quote(label)}, fillcolor="#eeeeee"];'


def _edge(
    source: str, target: str, position: int, node: Node, shape: tuple | None, output: str = ""
) -> str:
    """An edge into `node`'s box: the operand's shape, and which operand it is when gradients
    flow to several (a - b draws #0 from a and #1 from b). `output` says which output of the
    source it carries, when the source op has several ([2] = third)."""
    text = output + ("" if shape is None else _shape_text(shape))
    operands = [i for i, (t, _) in enumerate(node.next_functions) if t is not None]
    if len(operands) > 1:
        text = f"#{operands.index(position)} {text}".strip()
    attrs = [f"label={_quote(' ' + text)}"] if text else []
    return f"  {source} -> {target}" + (f" [{', '.join(attrs)}];" if attrs else ";")
