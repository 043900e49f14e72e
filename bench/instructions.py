"""Instructions per training step of a tiny LSTM, counted by valgrind's callgrind.

Wall-clock time on a shared virtual machine drifts by more than the few per cent an engine change
moves, but an instruction count does not: the same code on the same inputs gives the same count
to within about 0.1 %, whatever else the machine is doing. Use it to compare two commits of the
engine (run it on each); use `bench/rnn.py` for what the time is.

The count is the difference between a run of 11 steps and a run of 1 step, divided by 10, so
start-up and imports cancel out. Needs valgrind (`apt install valgrind`); takes about a minute.

    python bench/instructions.py [--kind lstm|gru]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCH, INPUTS, HIDDEN, STEPS = 1, 16, 32, 20  # the learner's size, 20 time steps


def workload(kind: str, repeats: int) -> None:
    """One warm-up training step, then `repeats` more: unstack, cell loop, loss, backward."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import minigrad as mg
    from minigrad import nn

    cell_type = nn.LSTMCell if kind == "lstm" else nn.GRUCell
    cell = cell_type(INPUTS, HIDDEN, dtype=np.float32, rng=0)
    rng = np.random.default_rng(0)
    x = mg.Tensor(rng.random((STEPS, BATCH, INPUTS)).astype(np.float32), requires_grad=True)
    r = mg.Tensor(np.ones((BATCH, HIDDEN), np.float32))
    zeros = np.zeros((BATCH, HIDDEN), np.float32)

    def step() -> None:
        h = c = mg.Tensor(zeros)
        for x_t in mg.unstack(x):
            if kind == "lstm":
                h, c = cell(x_t, (h, c))
            else:
                h = cell(x_t, h)
        (h * r).sum().backward()

    for _ in range(1 + repeats):
        step()


def count(kind: str, repeats: int) -> int:
    """Instructions callgrind counts for the whole workload process."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={folder}/out",
            sys.executable,
            __file__,
            "--workload",
            str(repeats),
            "--kind",
            kind,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
    match = re.search(r"Collected : (\d+)", result.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{result.stderr}")
    return int(match.group(1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=("lstm", "gru"), default="lstm")
    parser.add_argument("--workload", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.workload is not None:
        workload(args.kind, args.workload)
        return
    per_step = (count(args.kind, 11) - count(args.kind, 1)) // 10
    size = f"B={BATCH} I={INPUTS} H={HIDDEN} T={STEPS}"
    print(f"{args.kind.upper()} cell loop, {size}, float32: {per_step:,} instructions per step")


if __name__ == "__main__":
    main()
