"""Draw the graph of one LSTM step, and print the nodes backward visits through it.

    python examples/lstm_graph.py      # writes examples/out/lstm_step.dot (+ .svg with Graphviz)

The drawing comes from `minigrad.viz`: every box is a recorded op (its Function's name and
output shape), blue boxes are the parameters and inputs that gradients flow into. The table
comes from `minigrad.debug.trace`: the order in which backward visits the nodes, with the size
of the gradient arriving at each.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from common import DEFAULT_OUT

import minigrad as mg
from minigrad import debug, nn, viz


def lstm_step() -> tuple[mg.Tensor, dict[str, mg.Tensor]]:
    """h' of one LSTMCell step (batch 2, input 3, hidden 4), and names for the drawing."""
    cell = nn.LSTMCell(3, 4, rng=0)
    rng = np.random.default_rng(0)
    x = mg.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    h = mg.Tensor(rng.standard_normal((2, 4)), requires_grad=True)
    c = mg.Tensor(rng.standard_normal((2, 4)), requires_grad=True)
    h_next, c_next = cell(x, (h, c))
    names = {**dict(cell.named_parameters()), "x": x, "h": h, "c": c, "c'": c_next, "h'": h_next}
    return h_next, names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--format", choices=["svg", "png"], default="svg")
    parser.add_argument(
        "--smoke", action="store_true", help="accepted for uniformity: already tiny"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    h_next, names = lstm_step()
    dot_path = viz.render(h_next, args.out / "lstm_step.dot", names=names)
    print(f"wrote {dot_path}")
    try:
        print(f"wrote {viz.render(h_next, args.out / f'lstm_step.{args.format}', names=names)}")
    except viz.GraphvizNotFoundError as error:
        print(error)

    with debug.trace():
        h_next.sum().backward()


if __name__ == "__main__":
    main()
