"""One LSTM / GRU training step in minigrad, against hand-derived numpy BPTT (and PyTorch).

A training step is: forward over T steps from a zero state, loss = sum(h_T * R) with R a fixed
random array, backward to every weight, bias and the input x. Implementations:

* numpy, hand-derived BPTT (`bench/rnn_numpy.py`): the reference every ratio is taken against;
* minigrad: a Python loop of `nn.LSTMCell` / `nn.GRUCell`, and the `nn.LSTM` / `nn.GRU` layer
  (input projection of all steps in one matmul);
* PyTorch, where installed: the fused `nn.LSTM` / `nn.GRU`, a loop of `nn.LSTMCell` / `GRUCell`,
  and a loop of the step written with torch primitives (matmul, chunk, sigmoid, tanh);
* HIPS autograd and MyGrad, where installed: the same primitive step in their tensors.

Before anything is timed, every implementation's gradients are checked against the reference
(float64 at a small size, tightly; float32 at the timed sizes, loosely): a mismatch aborts.
All runs use float32 and one thread; implementations are interleaved round by round.

    python bench/rnn.py [--size main|tiny|both] [--rounds N] [--quick] [--memory] [--profile]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: one thread, and the repository on the path
    for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_name] = "1"  # read by BLAS once, when numpy loads: so set before importing it
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cProfile  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from bench import harness  # noqa: E402
from bench import rnn_numpy as ref  # noqa: E402
from minigrad import nn  # noqa: E402

KINDS = ("lstm", "gru")
REFERENCE = "numpy, hand-derived BPTT"


@dataclass(frozen=True)
class Size:
    """Batch, input, hidden sizes and sequence length."""

    batch: int
    inputs: int
    hidden: int
    steps: int

    def __str__(self) -> str:
        return f"B={self.batch} I={self.inputs} H={self.hidden} T={self.steps}"


SIZES = {"main": Size(32, 64, 128, 50), "tiny": Size(1, 16, 32, 50)}
VERIFY_SIZE = Size(3, 4, 5, 6)  # float64 gradient agreement is checked at this size
MEMORY_SIZE = Size(32, 64, 128, 200)


@dataclass
class Problem:
    """Parameters (PyTorch names, numpy arrays), input x (T, B, I) and loss weights r (B, H)."""

    kind: str
    params: ref.Params
    x: np.ndarray
    r: np.ndarray

    @property
    def dtype(self) -> np.dtype:
        return self.x.dtype


def make_problem(kind: str, size: Size, dtype: Any = np.float32, seed: int = 0) -> Problem:
    """A reproducible problem: PyTorch-style initial parameters, normal x and r."""
    params = ref.init_params(kind, size.inputs, size.hidden, dtype, seed)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((size.steps, size.batch, size.inputs)).astype(dtype)
    r = rng.standard_normal((size.batch, size.hidden)).astype(dtype)
    return Problem(kind, params, x, r)


@dataclass
class Impl:
    """One implementation of the training step, set up and ready to run."""

    name: str
    step: Callable[[], None]  # forward, loss, backward (gradients of the previous step cleared)
    grads: Callable[[], dict[str, np.ndarray]]  # gradients of the last step: params and "x"
    workspace: Callable[[], int] | None = None  # bytes kept between steps (compiled buffers)


# --- The implementations ---------------------------------------------------------------------


def numpy_reference(problem: Problem) -> Impl:
    """The hand-written forward and hand-derived BPTT."""
    result: dict[str, ref.Params] = {}

    def step() -> None:
        result["grads"] = ref.training_step(problem.kind, problem.params, problem.x, problem.r)

    return Impl(REFERENCE, step, lambda: result["grads"])


def _minigrad_grads(module: nn.Module, suffix: str, x: mg.Tensor) -> dict[str, np.ndarray]:
    """The gradients a minigrad step left, under the reference's names."""
    grads = {name: getattr(module, name + suffix).grad for name in ref.PARAM_NAMES}
    grads["x"] = x.grad
    return grads


def _load(module: nn.Module, problem: Problem, suffix: str) -> None:
    """Give a minigrad module the problem's parameters (through its public load_state_dict)."""
    module.load_state_dict({name + suffix: problem.params[name] for name in ref.PARAM_NAMES})


def minigrad_cells(problem: Problem) -> Impl:
    """A Python loop of minigrad.nn.LSTMCell / GRUCell over x[t]."""
    size = _size_of(problem)
    cell_type = nn.LSTMCell if problem.kind == "lstm" else nn.GRUCell
    cell = cell_type(size.inputs, size.hidden, dtype=problem.dtype)
    _load(cell, problem, "")
    x, r = mg.Tensor(problem.x, requires_grad=True), mg.Tensor(problem.r)
    zeros = np.zeros((size.batch, size.hidden), problem.dtype)

    def step() -> None:
        cell.zero_grad()
        x.grad = None
        xs = mg.unstack(x)  # the steps' inputs; x[t] would scatter a full-size gradient per step
        h = _unroll(problem.kind, cell, xs, mg.Tensor(zeros))
        (h * r).sum().backward()

    return Impl(f"minigrad {cell_type.__name__} loop", step, lambda: _minigrad_grads(cell, "", x))


def minigrad_layer(problem: Problem) -> Impl:
    """minigrad.nn.LSTM / GRU (one layer), which projects the whole input in one matmul."""
    size = _size_of(problem)
    layer_type = nn.LSTM if problem.kind == "lstm" else nn.GRU
    layer = layer_type(size.inputs, size.hidden, dtype=problem.dtype)
    _load(layer, problem, "_l0")
    x, r = mg.Tensor(problem.x, requires_grad=True), mg.Tensor(problem.r)

    def step() -> None:
        layer.zero_grad()
        x.grad = None
        _, state = layer(x)
        h_n = state[0] if problem.kind == "lstm" else state
        (h_n[0] * r).sum().backward()

    name = f"minigrad nn.{layer_type.__name__}"
    return Impl(name, step, lambda: _minigrad_grads(layer, "_l0", x))


def minigrad_compiled(problem: Problem, layer: bool) -> Impl:
    """The cell loop (or the nn.LSTM / nn.GRU layer) and loss under `mg.compile`: traced once
    (here, at setup), replayed as generated numpy code on every step."""
    size = _size_of(problem)
    if layer:
        module: nn.Module = (nn.LSTM if problem.kind == "lstm" else nn.GRU)(
            size.inputs, size.hidden, dtype=problem.dtype
        )
        suffix, what = "_l0", f"nn.{type(module).__name__}"
    else:
        module = (nn.LSTMCell if problem.kind == "lstm" else nn.GRUCell)(
            size.inputs, size.hidden, dtype=problem.dtype
        )
        suffix, what = "", f"{type(module).__name__} loop"
    _load(module, problem, suffix)
    x, r = mg.Tensor(problem.x, requires_grad=True), mg.Tensor(problem.r)
    zeros = mg.Tensor(np.zeros((size.batch, size.hidden), problem.dtype))

    def loss(x: mg.Tensor) -> mg.Tensor:
        if layer:
            _, state = module(x)
            h_n = (state[0] if problem.kind == "lstm" else state)[0]
        else:
            h_n = _unroll(problem.kind, module, mg.unstack(x), zeros)
        return (h_n * r).sum()

    compiled = mg.compile(loss)

    def step() -> None:
        module.zero_grad()
        x.grad = None
        compiled(x).backward()

    step()  # traced here, not in the timed rounds
    name = f"minigrad compiled {what}"
    return Impl(name, step, lambda: _minigrad_grads(module, suffix, x), compiled.workspace_bytes)


def trace_seconds(problem: Problem, layer: bool) -> float:
    """Seconds to trace and compile the training step: its first call, less a replayed one."""
    import time

    start = time.perf_counter()
    impl = minigrad_compiled(problem, layer)  # set up, traced, compiled and run once
    first = time.perf_counter() - start
    start = time.perf_counter()
    impl.step()
    return first - (time.perf_counter() - start)


def compile_report(sizes: dict[str, Size]) -> str:
    """Markdown table: trace + compile seconds of each compiled training step."""
    rows = []
    for size_name, size in sizes.items():
        for kind in KINDS:
            problem = make_problem(kind, size)
            for layer in (False, True):
                what = ("nn." + kind.upper()) if layer else f"{kind.upper()} cell loop"
                seconds = min(trace_seconds(problem, layer) for _ in range(3))
                rows.append([f"{size_name} ({size})", what, f"{seconds:.2f}"])
    title = "Trace + compile time of the compiled step (first call less a replay; best of 3)\n\n"
    return title + harness.markdown_table(["size", "step", "seconds"], rows)


def _torch_setup(torch: Any, module: Any, problem: Problem, suffix: str) -> tuple[Any, Any]:
    """Load the parameters into a torch module; return x (requiring grad) and r as tensors."""
    with torch.no_grad():
        for name in ref.PARAM_NAMES:
            getattr(module, name + suffix).copy_(torch.from_numpy(problem.params[name]))
    return torch.tensor(problem.x, requires_grad=True), torch.from_numpy(problem.r)


def _torch_grads(module: Any, suffix: str, x: Any) -> dict[str, np.ndarray]:
    """The gradients a torch step left, as numpy arrays under the reference's names."""
    grads = {name: getattr(module, name + suffix).grad.numpy() for name in ref.PARAM_NAMES}
    grads["x"] = x.grad.numpy()
    return grads


def _torch_dtype(torch: Any, problem: Problem) -> Any:
    return torch.float32 if problem.dtype == np.float32 else torch.float64


def torch_fused(torch: Any, problem: Problem) -> Impl:
    """torch.nn.LSTM / GRU: the whole sequence in one fused C++ call."""
    size = _size_of(problem)
    layer_type = torch.nn.LSTM if problem.kind == "lstm" else torch.nn.GRU
    layer = layer_type(size.inputs, size.hidden, dtype=_torch_dtype(torch, problem))
    x, r = _torch_setup(torch, layer, problem, "_l0")

    def step() -> None:
        layer.zero_grad(set_to_none=True)
        x.grad = None
        _, state = layer(x)
        h_n = state[0] if problem.kind == "lstm" else state
        (h_n[0] * r).sum().backward()

    name = f"torch nn.{layer_type.__name__} (fused)"
    return Impl(name, step, lambda: _torch_grads(layer, "_l0", x))


def torch_cells(torch: Any, problem: Problem) -> Impl:
    """A Python loop of torch.nn.LSTMCell / GRUCell."""
    size = _size_of(problem)
    cell_type = torch.nn.LSTMCell if problem.kind == "lstm" else torch.nn.GRUCell
    cell = cell_type(size.inputs, size.hidden, dtype=_torch_dtype(torch, problem))
    x, r = _torch_setup(torch, cell, problem, "")
    zeros = torch.zeros(size.batch, size.hidden, dtype=_torch_dtype(torch, problem))

    def step() -> None:
        cell.zero_grad(set_to_none=True)
        x.grad = None
        h = _unroll(problem.kind, cell, x.unbind(0), zeros)  # unbind: as minigrad's unstack
        (h * r).sum().backward()

    return Impl(f"torch {cell_type.__name__} loop", step, lambda: _torch_grads(cell, "", x))


def primitive_step(
    kind: str, p: dict, sigmoid: Callable, tanh: Callable, split: Callable
) -> Callable:
    """The cell's equations in another library's primitives, as minigrad's cells write them.

    `p` holds the parameters under PyTorch's names; `split(a, n)` cuts the last axis of `a` into
    n equal blocks. Returns step(x_t, state) -> state, as `_unroll` wants.
    """

    def lstm_step(x_t: Any, state: tuple[Any, Any]) -> tuple[Any, Any]:
        h, c = state
        gates = x_t @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
        i, f, g, o = split(gates, 4)
        c = sigmoid(f) * c + sigmoid(i) * tanh(g)
        return sigmoid(o) * tanh(c), c

    def gru_step(x_t: Any, h: Any) -> Any:
        x_r, x_z, x_n = split(x_t @ p["weight_ih"].T + p["bias_ih"], 3)
        h_r, h_z, h_n = split(h @ p["weight_hh"].T + p["bias_hh"], 3)
        r_gate, z_gate = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
        n = tanh(x_n + r_gate * h_n)
        return (1 - z_gate) * n + z_gate * h

    return lstm_step if kind == "lstm" else gru_step


def _slices(a: Any, n: int) -> list[Any]:
    """`a` cut into n equal blocks along its last axis, by basic slicing."""
    width = a.shape[-1] // n
    return [a[..., k * width : (k + 1) * width] for k in range(n)]


def torch_primitives(torch: Any, problem: Problem) -> Impl:
    """A Python loop of the step written with torch primitives, as minigrad's cells are."""
    size = _size_of(problem)
    dtype = _torch_dtype(torch, problem)
    holder = torch.nn.LSTMCell if problem.kind == "lstm" else torch.nn.GRUCell
    module = holder(size.inputs, size.hidden, dtype=dtype)  # only a container for the weights
    x, r = _torch_setup(torch, module, problem, "")
    zeros = torch.zeros(size.batch, size.hidden, dtype=dtype)
    params = {name: getattr(module, name) for name in ref.PARAM_NAMES}
    chunk = lambda a, n: a.chunk(n, -1)  # noqa: E731
    step_fn = primitive_step(problem.kind, params, torch.sigmoid, torch.tanh, chunk)

    def step() -> None:
        module.zero_grad(set_to_none=True)
        x.grad = None
        h = _unroll(problem.kind, step_fn, x.unbind(0), zeros)
        (h * r).sum().backward()

    return Impl("torch primitives loop", step, lambda: _torch_grads(module, "", x))


def autograd_loop(autograd: Any, problem: Problem) -> Impl:
    """HIPS autograd: the same step in autograd.numpy, differentiated by autograd.grad."""
    anp = autograd.numpy
    size = _size_of(problem)
    zeros = np.zeros((size.batch, size.hidden), problem.dtype)
    activations = harness.peer_activations("autograd", autograd)

    def loss(args: dict) -> Any:  # the steps' inputs as a list: no full-size scatter per x[t]
        step_fn = primitive_step(problem.kind, args["params"], *activations, _slices)
        h = _unroll(problem.kind, step_fn, args["xs"], zeros)
        return anp.sum(h * problem.r)

    gradient = autograd.grad(loss)
    args = {"params": dict(problem.params), "xs": list(problem.x)}
    result: dict[str, Any] = {}

    def step() -> None:
        result["grads"] = gradient(args)

    def grads() -> dict[str, np.ndarray]:
        found = dict(result["grads"]["params"])
        found["x"] = np.stack(result["grads"]["xs"])
        return found

    return Impl("HIPS autograd loop", step, grads)


def mygrad_loop(mygrad: Any, problem: Problem) -> Impl:
    """MyGrad: the same step with mygrad tensors, one leaf per time step's input."""
    size = _size_of(problem)
    params = {name: mygrad.tensor(problem.params[name]) for name in ref.PARAM_NAMES}
    xs = [mygrad.tensor(x_t) for x_t in problem.x]
    zeros = np.zeros((size.batch, size.hidden), problem.dtype)
    activations = harness.peer_activations("mygrad", mygrad)
    step_fn = primitive_step(problem.kind, params, *activations, _slices)

    def step() -> None:
        h = _unroll(problem.kind, step_fn, xs, zeros)
        (h * problem.r).sum().backward()

    def grads() -> dict[str, np.ndarray]:
        found = {name: params[name].grad for name in ref.PARAM_NAMES}
        found["x"] = np.stack([x_t.grad for x_t in xs])
        return found

    return Impl("MyGrad loop", step, grads)


def _unroll(kind: str, step: Any, xs: Any, zeros: Any) -> Any:
    """The last h of a loop of `step` over the inputs `xs`, from a zero state:
    step(x, (h, c)) -> (h, c) for an LSTM, step(x, h) -> h for a GRU."""
    if kind == "lstm":
        state = (zeros, zeros)
        for x_t in xs:
            state = step(x_t, state)
        return state[0]
    h = zeros
    for x_t in xs:
        h = step(x_t, h)
    return h


def _size_of(problem: Problem) -> Size:
    steps, batch, inputs = problem.x.shape
    return Size(batch, inputs, problem.r.shape[1], steps)


PEER_LOOPS = {"autograd": autograd_loop, "mygrad": mygrad_loop}


def implementations(
    problem: Problem, torch: Any = None, peers: dict[str, Any] | None = None
) -> list[Impl]:
    """Every implementation for this problem, the reference first; torch and the other
    autograd libraries (`harness.load_peers()`) where given."""
    impls = [numpy_reference(problem), minigrad_cells(problem), minigrad_layer(problem)]
    impls += [minigrad_compiled(problem, layer=False), minigrad_compiled(problem, layer=True)]
    if torch is not None:
        impls += [make(torch, problem) for make in (torch_fused, torch_cells, torch_primitives)]
    for name, module in (peers or {}).items():
        impls.append(PEER_LOOPS[name](module, problem))
    return impls


# --- Gradient verification ------------------------------------------------------------------


class GradientMismatch(AssertionError):
    """An implementation's gradients disagree with the hand-derived reference."""


def compare_grads(impl: Impl, expected: dict[str, np.ndarray], rtol: float, atol: float) -> None:
    """Raise GradientMismatch naming the implementation and array unless all gradients agree."""
    got = impl.grads()
    for name, want in expected.items():
        have = got.get(name)
        if have is None or have.shape != want.shape or have.dtype != want.dtype:
            raise GradientMismatch(
                f"{impl.name}: gradient of {name} is "
                f"{None if have is None else (have.shape, have.dtype)}, expected "
                f"{(want.shape, want.dtype)}"
            )
        scale = atol * max(1.0, float(np.max(np.abs(want))))
        if not np.allclose(have, want, rtol=rtol, atol=scale):
            worst = float(np.max(np.abs(have - want)))
            raise GradientMismatch(
                f"{impl.name}: gradient of {name} disagrees with the hand-derived numpy BPTT "
                f"(max abs difference {worst:.3g}, rtol={rtol}, atol={scale:.3g})"
            )


def verify(
    problem: Problem,
    torch: Any = None,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    peers: dict[str, Any] | None = None,
) -> int:
    """Run every implementation once and check its gradients against the reference's.

    Returns how many implementations were checked; raises GradientMismatch on disagreement.
    """
    impls = implementations(problem, torch, peers)
    for impl in impls:
        impl.step()
    expected = impls[0].grads()
    for impl in impls[1:]:
        compare_grads(impl, expected, rtol, atol)
    return len(impls) - 1


def verify_all(sizes: list[Size], torch: Any, peers: dict[str, Any] | None = None) -> None:
    """Tight float64 check at a small size, then a float32 check at each timed size."""
    for kind in KINDS:
        checked = verify(make_problem(kind, VERIFY_SIZE, np.float64), torch, peers=peers)
        print(f"gradients agree: {kind}, float64, {VERIFY_SIZE}, {checked} implementations")
        for size in sizes:
            problem = make_problem(kind, size, np.float32)
            verify(problem, torch, rtol=1e-3, atol=1e-4, peers=peers)
            print(f"gradients agree: {kind}, float32, {size} (rtol 1e-3)")


# --- Timing ------------------------------------------------------------------------------------


def build_groups(
    sizes: dict[str, Size], torch: Any, timing_seconds: float, peers: dict[str, Any] | None = None
) -> dict[str, dict[str, harness.Sampler]]:
    """One case per (size, kind), each with a calibrated sampler per implementation."""
    groups = {}
    for size_name, size in sizes.items():
        for kind in KINDS:
            impls = implementations(make_problem(kind, size), torch, peers)
            case = f"{size_name} {kind.upper()}"
            groups[case] = {
                impl.name: harness.repeated(impl.step, timing_seconds, "step") for impl in impls
            }
    return groups


def report(samples: dict, sizes: dict[str, Size]) -> str:
    """Markdown table: ms per step and the same-round ratio to the hand-derived numpy."""
    header = ["case", "implementation", "ms/step median (min–max)", "÷ numpy, same-round median"]
    header[-1] += " (min–max)"
    rows = []
    for (case, _), per_impl in samples.items():
        size = sizes[case.split()[0]]
        reference = per_impl[REFERENCE]
        for name, values in per_impl.items():
            ratio = harness.paired_ratios(values, reference).format(digits=2)
            spread = harness.Spread.of(values).format(1e3, digits=2)
            rows.append([f"{case} ({size})", name, spread, ratio])
    return harness.markdown_table(header, rows)


# --- Memory and profile ------------------------------------------------------------------------


def traced_peak(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated while `fn` runs, by tracemalloc (which sees numpy's buffers)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def memory_report(size: Size = MEMORY_SIZE, peers: dict[str, Any] | None = None) -> str:
    """Peak memory of one float32 LSTM training step, against the reference's activation cache.

    tracemalloc sees every numpy buffer, so the numpy-based peers are measured too; PyTorch's
    allocator is invisible to it, so torch has no row. A compiled step's row adds the buffers
    it keeps between steps (allocated once, before the measured step) to its peak.
    """
    problem = make_problem("lstm", size)
    cache = ref.cache_bytes("lstm", problem.params, problem.x)
    rows = [[f"{REFERENCE}: activation cache (exact size)", f"{cache / 2**20:.2f}", "1.00"]]
    for impl in implementations(problem, peers=peers):
        impl.step()  # warm up: what a first call allocates once is not part of a step
        peak = traced_peak(impl.step)
        if impl.workspace is not None:  # a compiled step's buffers, allocated at the warm-up
            peak += impl.workspace()
        rows.append(
            [f"{impl.name}: peak of one step", f"{peak / 2**20:.2f}", f"{peak / cache:.2f}"]
        )
    title = f"Memory of one LSTM training step, float32, {size} (tracemalloc peak)\n\n"
    return title + harness.markdown_table(["what", "MiB", "÷ reference cache"], rows)


def profile_report(size_name: str = "tiny", top: int = 20, rounds: int = 5) -> str:
    """Where minigrad's LSTM step (cell loop) spends its time: garbage collection, then cProfile."""
    size = SIZES[size_name]
    impl = minigrad_cells(make_problem("lstm", size))

    def without_gc() -> None:
        gc.disable()
        try:
            impl.step()
        finally:
            gc.enable()

    problem = make_problem("lstm", size)
    layer = nn.LSTM(size.inputs, size.hidden, dtype=problem.dtype)

    def forward_recorded() -> None:
        layer(problem.x)

    def forward_unrecorded() -> None:
        with mg.no_grad():
            layer(problem.x)

    samplers = {
        "gc": {"gc enabled": impl.step, "gc disabled": without_gc},
        "recording": {"recorded": forward_recorded, "under no_grad": forward_unrecorded},
    }
    groups = {
        group: {name: harness.repeated(fn, 0.05, "step") for name, fn in members.items()}
        for group, members in samplers.items()
    }
    per_group = harness.interleave(groups, rounds)
    per_mode, forwards = per_group[("gc", "step")], per_group[("recording", "step")]
    ratio = harness.paired_ratios(per_mode["gc enabled"], per_mode["gc disabled"])
    lines = [f"{impl.name}, {size}, {rounds} rounds:"]
    lines += [f"  {m}: {harness.Spread.of(v).format(1e3, 2)} ms/step" for m, v in per_mode.items()]
    lines.append(f"  enabled / disabled, same round: {ratio.format(digits=2)}")
    lines.append(f"minigrad nn.LSTM forward only, {size}, {rounds} rounds:")
    lines += [f"  {m}: {harness.Spread.of(v).format(1e3, 2)} ms/step" for m, v in forwards.items()]
    ratio = harness.paired_ratios(forwards["recorded"], forwards["under no_grad"])
    lines.append(f"  recorded / no_grad, same round: {ratio.format(digits=2)}")

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(20):
        impl.step()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("tottime").print_stats(top)
    lines.append(f"\ncProfile of 20 steps ({20 * size.steps} cell calls), by own time:")
    return "\n".join(lines) + "\n" + out.getvalue()


# --- Command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("main", "tiny", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 9, quick 3)")
    parser.add_argument("--quick", action="store_true", help="shorter samples, fewer rounds")
    parser.add_argument("--memory", action="store_true", help="peak memory instead of speed")
    parser.add_argument("--profile", action="store_true", help="cProfile minigrad's tiny LSTM")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 9)
    sizes = {n: s for n, s in SIZES.items() if args.size in (n, "both")}

    torch, peers = harness.load_torch(), harness.load_peers()
    print(harness.describe_machine(torch, peers))
    if args.memory:
        print(memory_report(peers=peers))
        return
    if args.profile:
        print(profile_report())
        return
    try:
        verify_all(list(sizes.values()), torch, peers)
    except GradientMismatch as error:
        sys.exit(f"\nGRADIENT MISMATCH, nothing timed: {error}")
    print(f"float32; {rounds} rounds, implementations interleaved (rotating order) each round")
    groups = build_groups(sizes, torch, 0.01 if args.quick else 0.05, peers)
    samples = harness.interleave(groups, rounds, progress=True)
    print()
    print(report(samples, sizes))
    print()
    print(compile_report(sizes))


if __name__ == "__main__":
    main()
