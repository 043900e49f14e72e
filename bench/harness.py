"""What the benchmarks share: one-thread set-up, interleaved rounds, paired ratios, tables.

Timings on a shared machine drift (here by up to ~1.8x between minutes), so no number is trusted
alone: implementations are run round by round, interleaved, and each is reported as the median
over rounds with its min-max, next to the median of its *same-round* ratio to a reference.
Within a round, a sample is the fastest of a few short timings (the least disturbed one).
This module does not import numpy, so a script can pin BLAS threads before numpy loads.
"""

from __future__ import annotations

import datetime
import gc
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

REPEATS = 5  # timings per sample, of which the fastest is kept

# A sampler runs one measurement and returns {metric name: seconds}.
Sampler = Callable[[], dict[str, float]]


def pin_one_thread() -> None:
    """Ask BLAS/OpenMP for one thread; only effective before numpy (or torch) is imported."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    if "numpy" in sys.modules:
        print("warning: numpy was imported before pin_one_thread(); BLAS may use more threads")


def load_torch() -> Any:
    """PyTorch set to one thread, or None where it is not installed (the torch rows are skipped)."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


PEERS = {"autograd": "HIPS autograd", "mygrad": "MyGrad"}  # pure-Python autograd libraries


def load_peers() -> dict[str, Any]:
    """The other Python autograd libraries that are installed, by import name (rows for the
    others are skipped): `pip install -e ".[bench]"` to see them side by side."""
    peers = {}
    for name in PEERS:
        try:
            peers[name] = __import__(name)
        except ImportError:
            pass
    return peers


def peer_activations(name: str, module: Any) -> tuple[Callable, Callable]:
    """(sigmoid, tanh) in a peer library: MyGrad has both; HIPS autograd has no sigmoid, so it
    is written the way its users write it, 1 / (1 + exp(-a))."""
    if name == "mygrad":
        from mygrad.nnet.activations import sigmoid

        return sigmoid, module.tanh
    anp = module.numpy
    return (lambda a: 1 / (1 + anp.exp(-a))), anp.tanh


# --- Timing ------------------------------------------------------------------------------------


def time_calls(fn: Callable[[], Any], reps: int) -> float:
    """Seconds per call of `fn`, averaged over `reps` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def calibrate(fn: Callable[[], Any], min_seconds: float) -> int:
    """How many calls of `fn` make a timing of at least `min_seconds` (after a warm-up call)."""
    fn()
    once = time_calls(fn, 1)
    return max(1, math.ceil(min_seconds / max(once, 1e-9)))


def repeated(
    fn: Callable[[], Any], min_seconds: float, metric: str, repeats: int = REPEATS
) -> Sampler:
    """A sampler: the fastest of `repeats` back-to-back timings of `fn`, each >= `min_seconds`.

    Other processes steal the CPU in bursts; the fastest of a few short timings is the one
    least disturbed, so it is taken as the round's sample (as `timeit` advises).
    """
    reps = calibrate(fn, min_seconds)

    def sample() -> dict[str, float]:
        gc.collect()  # every sample starts from the same clean heap
        return {metric: min(time_calls(fn, reps) for _ in range(repeats))}

    return sample


def interleave(
    groups: dict[str, dict[str, Sampler]], rounds: int, progress: bool = False
) -> dict[tuple[str, str], dict[str, list[float]]]:
    """Run every sampler once per round, rounds outermost, so all cases see the same drift.

    `groups` maps a case name to its implementations' samplers; within a case the starting
    implementation rotates from round to round, so none is always first. Returns
    {(case, metric): {implementation: [seconds per round]}}.
    """
    samples: dict[tuple[str, str], dict[str, list[float]]] = {}
    for round_index in range(rounds):
        if progress:
            print(f"  round {round_index + 1}/{rounds}", file=sys.stderr, flush=True)
        for case, samplers in groups.items():
            names = list(samplers)
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                for metric, seconds in samplers[name]().items():
                    samples.setdefault((case, metric), {}).setdefault(name, []).append(seconds)
    return samples


# --- Statistics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """Median and range of a set of samples."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def format(self, scale: float = 1.0, digits: int = 1) -> str:
        """'median (low–high)' with each value multiplied by `scale`."""
        m, lo, hi = (f"{v * scale:.{digits}f}" for v in (self.median, self.low, self.high))
        return f"{m} ({lo}–{hi})"


def paired_ratios(numerator: Sequence[float], denominator: Sequence[float]) -> Spread:
    """Spread of the per-round ratios numerator[k] / denominator[k] (same-round pairs)."""
    return Spread.of([a / b for a, b in zip(numerator, denominator, strict=True)])


# --- Reporting -----------------------------------------------------------------------------------


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _cpu_model() -> str:
    """platform.processor(), or the model name from /proc/cpuinfo where that is empty (Linux)."""
    name = platform.processor()
    if name:
        return name
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() + " (from /proc/cpuinfo)"
    except OSError:
        pass
    return "unknown"


def _minigrad_version() -> str:
    """The commit benchmarked, and whether minigrad/ differs from it (read-only git queries)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "not a git checkout"
    changed = git("diff", "--name-only", "HEAD", "--", "minigrad")
    added = git("ls-files", "--others", "--exclude-standard", "--", "minigrad")
    dirty = len((changed + "\n" + added).split())
    return f"git {commit}" + (f" + {dirty} uncommitted file(s) in minigrad/" if dirty else "")


def describe_machine(torch: Any = None, peers: dict[str, Any] | None = None) -> str:
    """Date, CPU, core count and library versions, as lines to print above the results."""
    import numpy

    lines = [
        f"date: {datetime.datetime.now().isoformat(timespec='seconds')}; "
        f"minigrad: {_minigrad_version()}",
        f"command: python {' '.join(sys.argv)}",
        f"platform.processor(): {platform.processor()!r}; cpu: {_cpu_model()}",
        f"nproc: {os.cpu_count()}; python {platform.python_version()}; numpy {numpy.__version__}; "
        f"torch {torch.__version__ if torch is not None else 'not installed'}",
        "threads: "
        + ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in THREAD_VARIABLES)
        + (f"; torch.get_num_threads()={torch.get_num_threads()}" if torch is not None else ""),
    ]
    if peers is not None:
        versions = [
            f"{PEERS[n]} {version(n)}" if n in peers else f"{PEERS[n]} not installed" for n in PEERS
        ]
        lines.append("other autograd libraries: " + "; ".join(versions))
    return "\n".join(lines)
