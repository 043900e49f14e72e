"""Per-op cost of minigrad (forward + backward), next to PyTorch eager in the same run.

Each op is timed as a chain of 100 applications followed by one backward, divided by 100, so the
number is the engine's per-node cost (recording, dispatch, backward) plus the numpy work. A long
`x = x * 0.999 + 0.001` chain measures forward and backward separately at scale.

    python bench/ops.py [--rounds N] [--quick] [--dtype float64|float32]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: one thread, and the repository on the path
    for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_name] = "1"  # read by BLAS once, when numpy loads: so set before importing it
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gc  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from bench import harness  # noqa: E402

CHAIN = 100  # ops per timed chain
LONG_CHAIN = 100_000  # steps of the x * 0.999 + 0.001 chain
SHAPES = ((4, 4), (32, 128))

# Each op maps the running value `y` and a fixed operand `w` to the next value. Both minigrad and
# torch tensors support these spellings, so the same lambda drives both libraries.
OPS: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda y, w: y + w,
    "mul": lambda y, w: y * w,
    "matmul": lambda y, w: y @ w,
    "sigmoid": lambda y, w: y.sigmoid(),
    "tanh": lambda y, w: y.tanh(),
}


def operands(op: str, shape: tuple[int, int], dtype: str, seed: int = 0) -> tuple:
    """Start value and fixed operand for `op`, chosen so 100 steps neither blow up nor vanish.

    Denormal numbers would make every op far slower, so values stay of order one: mul uses
    factors near 1, matmul an orthogonal matrix (norm preserving), add a small increment.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, shape)
    if op == "matmul":
        w, _ = np.linalg.qr(rng.standard_normal((shape[1], shape[1])))
    elif op == "mul":
        w = 1 + 0.01 * rng.standard_normal(shape)
    else:
        w = 0.01 * rng.standard_normal(shape)
    return x.astype(dtype), w.astype(dtype)


class MinigradLib:
    """How the bench makes leaves and seeds in minigrad."""

    name = "minigrad"

    @staticmethod
    def leaf(array: np.ndarray) -> mg.Tensor:
        return mg.Tensor(array, requires_grad=True)

    @staticmethod
    def backward(y: mg.Tensor, create_graph: bool = False) -> None:
        y.backward(np.ones_like(y.data), create_graph=create_graph)


class TorchLib:
    """The same for PyTorch (eager, one thread)."""

    name = "torch"

    def __init__(self, torch: Any) -> None:
        self.torch = torch

    def leaf(self, array: np.ndarray) -> Any:
        return self.torch.tensor(array, requires_grad=True)

    def backward(self, y: Any, create_graph: bool = False) -> None:
        with warnings.catch_warnings():  # torch warns that create_graph on leaves makes cycles
            warnings.simplefilter("ignore", UserWarning)
            y.backward(self.torch.ones_like(y), create_graph=create_graph)


class OpChain:
    """The timed unit: `length` applications of `op` to leaf x (operand: leaf w), then backward.

    With `create_graph=True` the backward is itself recorded (what grad-of-grad needs): set
    beside the plain case, it shows what the first-order path does not pay for.
    """

    def __init__(
        self,
        lib: Any,
        op: str,
        shape: tuple[int, int],
        dtype: str,
        length: int = CHAIN,
        create_graph: bool = False,
    ) -> None:
        x0, w0 = operands(op, shape, dtype)
        self.x, self.w = lib.leaf(x0), lib.leaf(w0)
        self.lib, self.apply, self.length = lib, OPS[op], length
        self.create_graph = create_graph

    def __call__(self) -> None:
        self.x.grad = self.w.grad = None
        y = self.x
        for _ in range(self.length):
            y = self.apply(y, self.w)
        self.lib.backward(y, create_graph=self.create_graph)


def long_chain(lib: Any, dtype: str, length: int = LONG_CHAIN) -> Callable[[], dict[str, float]]:
    """A sampler timing forward and backward of `x = x * 0.999 + 0.001`, `length` steps.

    The forward is also timed with Python's garbage collector switched off: on a graph of
    hundreds of thousands of Python objects its full collections are most of minigrad's
    forward time (the graph has no reference cycles, so nothing needs the collector).
    """
    start = np.array(0.5, dtype=dtype)

    def sample() -> dict[str, float]:
        times = {}
        for collector in ("on", "off"):
            gc.collect()  # start from a clean heap, like the other samplers
            if collector == "off":
                gc.disable()
            try:
                x = lib.leaf(start)
                t0 = time.perf_counter()
                y = x
                for _ in range(length):
                    y = y * 0.999 + 0.001
                t1 = time.perf_counter()
            finally:
                gc.enable()
            if collector == "off":
                times["forward, gc disabled"] = t1 - t0
                continue
            lib.backward(y)
            t2 = time.perf_counter()
            expected = 0.999**length
            if not np.isclose(float(x.grad), expected, rtol=1e-3):
                raise AssertionError(f"{lib.name} chain gradient {float(x.grad)} != {expected}")
            times["forward"], times["backward"] = t1 - t0, t2 - t1
        return times

    return sample


def build_groups(
    libs: list[Any], dtype: str, timing_seconds: float, chain_length: int, shapes=SHAPES
) -> dict[str, dict[str, harness.Sampler]]:
    """All cases, each with one sampler per library, calibrated now (warm-up included)."""
    groups: dict[str, dict[str, harness.Sampler]] = {}
    for op in OPS:
        for shape in shapes:
            case = f"{op} {shape[0]}x{shape[1]}"
            groups[case] = {
                lib.name: harness.repeated(OpChain(lib, op, shape, dtype), timing_seconds, "op")
                for lib in libs
            }
    for shape in shapes:
        case = f"tanh {shape[0]}x{shape[1]}, backward with create_graph=True"
        groups[case] = {
            lib.name: harness.repeated(
                OpChain(lib, "tanh", shape, dtype, create_graph=True), timing_seconds, "op"
            )
            for lib in libs
        }
    case = f"chain x*0.999+0.001, {chain_length:,} steps (ms)"
    groups[case] = {lib.name: long_chain(lib, dtype, chain_length) for lib in libs}
    return groups


def report(samples: dict, libs: list[Any]) -> str:
    """Markdown table: µs per op (or ms for the long chain), spreads, and same-round ratios."""
    names = [lib.name for lib in libs]
    header = ["case", *(f"{n} median (min–max)" for n in names)]
    if "torch" in names:
        header.append("minigrad/torch, same-round median (min–max)")
    rows = []
    for (case, metric), per_lib in samples.items():
        per_op = metric == "op"
        scale = 1e6 / CHAIN if per_op else 1e3  # µs per op, or ms for the whole chain
        label = f"{case} (µs/op)" if per_op else f"{case}: {metric}"
        row = [label, *(harness.Spread.of(per_lib[n]).format(scale) for n in names)]
        if "torch" in names:
            ratio = harness.paired_ratios(per_lib["minigrad"], per_lib["torch"])
            row.append(ratio.format(digits=2))
        rows.append(row)
    return harness.markdown_table(header, rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 9, quick 3)")
    parser.add_argument("--quick", action="store_true", help="short samples, 10,000-step chain")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 9)
    timing_seconds = 0.005 if args.quick else 0.02
    chain_length = LONG_CHAIN // 10 if args.quick else LONG_CHAIN

    torch = harness.load_torch()
    libs: list[Any] = [MinigradLib()] + ([TorchLib(torch)] if torch is not None else [])
    print(harness.describe_machine(torch))
    print(f"dtype {args.dtype}; {rounds} rounds, interleaved {' / '.join(x.name for x in libs)}")
    if torch is None:
        print("PyTorch is not installed: minigrad only.")
    groups = build_groups(libs, args.dtype, timing_seconds, chain_length)
    samples = harness.interleave(groups, rounds, progress=True)
    print()
    print(report(samples, libs))


if __name__ == "__main__":
    main()
