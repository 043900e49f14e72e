"""Per-op cost of minigrad (forward + backward), next to PyTorch eager in the same run.

Each op is timed as a chain of 100 applications followed by one backward, divided by 100, so the
number is the engine's per-node cost (recording, dispatch, backward) plus the numpy work. A long
`x = x * 0.999 + 0.001` chain measures forward and backward separately at scale. HIPS autograd
and MyGrad, where installed, run the same chains (not the create_graph rows).

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

# Each op maps the running value `y` and a fixed operand `w` to the next value, in library `lib`
# (which supplies sigmoid and tanh; the operators are the same spelling everywhere).
OPS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "add": lambda lib, y, w: y + w,
    "mul": lambda lib, y, w: y * w,
    "matmul": lambda lib, y, w: y @ w,
    "sigmoid": lambda lib, y, w: lib.sigmoid(y),
    "tanh": lambda lib, y, w: lib.tanh(y),
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


class TensorLib:
    """A library whose tensors record the ops applied to them, then `y.backward(seed)`.

    `record(fn, leaves)` runs the forward and returns a function that runs the backward and
    gives the leaves' gradients: the one interface every library here is timed through.
    """

    name: str
    create_graph = True  # can the backward itself be recorded (for higher orders)?

    def record(self, fn: Callable, leaves: tuple, create_graph: bool = False) -> Callable:
        for leaf in leaves:
            self.clear_grad(leaf)
        y = fn(*leaves)

        def backward() -> tuple:
            self.backward(y, create_graph)
            return tuple(self.grad(leaf) for leaf in leaves)

        return backward

    @staticmethod
    def clear_grad(leaf: Any) -> None:
        leaf.grad = None

    @staticmethod
    def grad(leaf: Any) -> np.ndarray:
        return leaf.grad


class MinigradLib(TensorLib):
    name = "minigrad"
    sigmoid, tanh = staticmethod(mg.sigmoid), staticmethod(mg.tanh)

    @staticmethod
    def leaf(array: np.ndarray) -> mg.Tensor:
        return mg.Tensor(array, requires_grad=True)

    @staticmethod
    def backward(y: mg.Tensor, create_graph: bool = False) -> None:
        y.backward(np.ones_like(y.data), create_graph=create_graph)


class TorchLib(TensorLib):
    """PyTorch eager, one thread."""

    name = "torch"

    def __init__(self, torch: Any) -> None:
        self.torch, self.sigmoid, self.tanh = torch, torch.sigmoid, torch.tanh

    def leaf(self, array: np.ndarray) -> Any:
        return self.torch.tensor(array, requires_grad=True)

    def backward(self, y: Any, create_graph: bool = False) -> None:
        with warnings.catch_warnings():  # torch warns that create_graph on leaves makes cycles
            warnings.simplefilter("ignore", UserWarning)
            y.backward(self.torch.ones_like(y), create_graph=create_graph)

    @staticmethod
    def grad(leaf: Any) -> np.ndarray | None:
        return None if leaf.grad is None else leaf.grad.detach().numpy()


class MyGradLib(TensorLib):
    """MyGrad, where installed (no higher-order gradients)."""

    name = harness.PEERS["mygrad"]
    create_graph = False

    def __init__(self, mygrad: Any) -> None:
        self.mygrad = mygrad
        self.sigmoid, self.tanh = harness.peer_activations("mygrad", mygrad)

    def leaf(self, array: np.ndarray) -> Any:
        return self.mygrad.tensor(array)

    @staticmethod
    def backward(y: Any, create_graph: bool = False) -> None:
        y.backward(np.ones(y.shape, dtype=y.dtype))

    @staticmethod
    def clear_grad(leaf: Any) -> None:
        leaf.null_grad()


class AutogradLib:
    """HIPS autograd, where installed: functional, so `record` is its `make_vjp`."""

    name = harness.PEERS["autograd"]
    create_graph = False  # (it has higher orders, as grad of grad, but not this interface)

    def __init__(self, autograd: Any) -> None:
        self.make_vjp = autograd.make_vjp
        self.sigmoid, self.tanh = harness.peer_activations("autograd", autograd)

    @staticmethod
    def leaf(array: np.ndarray) -> np.ndarray:
        return array

    def record(self, fn: Callable, leaves: tuple, create_graph: bool = False) -> Callable:
        vjp, y = self.make_vjp(lambda args: fn(*args))(leaves)
        return lambda: vjp(np.ones_like(y))


def libraries(torch: Any, peers: dict[str, Any]) -> list[Any]:
    """minigrad first, then whichever of PyTorch, HIPS autograd and MyGrad are installed."""
    libs: list[Any] = [MinigradLib()] + ([TorchLib(torch)] if torch is not None else [])
    if "autograd" in peers:
        libs.append(AutogradLib(peers["autograd"]))
    if "mygrad" in peers:
        libs.append(MyGradLib(peers["mygrad"]))
    return libs


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

    def chain(self, x: Any, w: Any) -> Any:
        for _ in range(self.length):
            x = self.apply(self.lib, x, w)
        return x

    def __call__(self) -> None:
        backward = self.lib.record(self.chain, (self.x, self.w), self.create_graph)
        self.grads = backward()  # (d/dx, d/dw) of the sum of the chain's output


def long_chain(lib: Any, dtype: str, length: int = LONG_CHAIN) -> Callable[[], dict[str, float]]:
    """A sampler timing forward and backward of `x = x * 0.999 + 0.001`, `length` steps.

    The forward is also timed with Python's garbage collector switched off: on a graph of
    hundreds of thousands of Python objects its full collections are most of minigrad's
    forward time (the graph has no reference cycles, so nothing needs the collector).
    """
    start = np.array(0.5, dtype=dtype)

    def chain(y: Any) -> Any:
        for _ in range(length):
            y = y * 0.999 + 0.001
        return y

    def sample() -> dict[str, float]:
        times = {}
        for collector in ("on", "off"):
            gc.collect()  # start from a clean heap, like the other samplers
            if collector == "off":
                gc.disable()
            try:
                x = lib.leaf(start)
                t0 = time.perf_counter()
                backward = lib.record(chain, (x,))
                t1 = time.perf_counter()
            finally:
                gc.enable()
            if collector == "off":
                times["forward, gc disabled"] = t1 - t0
                continue
            (grad,) = backward()
            t2 = time.perf_counter()
            expected = 0.999**length
            if not np.isclose(float(grad), expected, rtol=1e-3):
                raise AssertionError(f"{lib.name} chain gradient {float(grad)} != {expected}")
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
            if lib.create_graph
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
        row = [label]
        row += [harness.Spread.of(per_lib[n]).format(scale) if n in per_lib else "—" for n in names]
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

    torch, peers = harness.load_torch(), harness.load_peers()
    libs = libraries(torch, peers)
    print(harness.describe_machine(torch, peers))
    print(f"dtype {args.dtype}; {rounds} rounds, interleaved {' / '.join(x.name for x in libs)}")
    if torch is None:
        print("PyTorch is not installed: minigrad only.")
    groups = build_groups(libs, args.dtype, timing_seconds, chain_length)
    samples = harness.interleave(groups, rounds, progress=True)
    print()
    print(report(samples, libs))


if __name__ == "__main__":
    main()
