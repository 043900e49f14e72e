"""The adding problem at growing sequence lengths: RNN vs GRU vs LSTM on the same budget.

    python examples/long_range.py              # ~1-2 minutes; writes examples/out/long_range.png

Each input step is a pair (value, marker); two steps are marked and the target is the sum of
their values (see common.py). The marked values can be anywhere in the sequence, so a model
must hold the first one for up to T steps. Every cell gets the same budget: the same hidden
size, number of Adam steps, batch size, learning rate and gradient clipping. Reported on fresh
test sequences: the mean squared error (always answering 1 scores 1/6 = 0.167) and the accuracy
(the share of answers within 0.04 of the target).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: one thread is fastest
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from common import (
    BASELINE_MSE,
    COLORS,
    DEFAULT_OUT,
    VARIANTS,
    Progress,
    Regressor,
    evaluate_adding,
    need_matplotlib,
    train_adding,
)

from minigrad import nn


def run(args: argparse.Namespace) -> dict:
    """{(cell, length): {"mse", "accuracy", "losses"}} (averaged over seeds; losses of seed 0)."""
    results = {}
    total = len(args.cells) * len(args.lengths) * len(args.seeds) * args.steps
    progress = Progress(total, desc="training")
    for length in args.lengths:
        for cell in args.cells:
            errors, accuracies, curves = [], [], []
            for seed in args.seeds:
                nn.init.manual_seed(seed)
                kind, forget_bias = VARIANTS[cell]
                model = Regressor(kind, args.hidden, forget_bias=forget_bias)
                rng = np.random.default_rng([seed, length])
                losses = train_adding(model, length, args.steps, args.batch, args.lr, rng, progress)
                mse, accuracy = evaluate_adding(model, length, rng, args.test)
                errors.append(mse)
                accuracies.append(accuracy)
                curves.append(losses)
            results[cell, length] = {
                "mse": float(np.mean(errors)),
                "accuracy": float(np.mean(accuracies)),
                "losses": np.mean(curves, axis=0),
            }
            progress.write(
                f"T={length:<4} {cell:<5} test MSE {np.mean(errors):.4f}  "
                f"accuracy {np.mean(accuracies):.1%}"
            )
    progress.close()
    return results


def table(results: dict, lengths: list[int], cells: list[str]) -> str:
    header = ["T"] + [f"{cell} MSE" for cell in cells] + [f"{cell} acc" for cell in cells]
    rows = [header]
    for length in lengths:
        rows.append(
            [str(length)]
            + [f"{results[cell, length]['mse']:.4f}" for cell in cells]
            + [f"{results[cell, length]['accuracy']:.0%}" for cell in cells]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(c.rjust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    return "\n".join(lines)


def smooth(values: np.ndarray, width: int) -> np.ndarray:
    width = max(1, min(width, len(values)))
    return np.convolve(values, np.ones(width) / width, mode="valid")


def plot(results: dict, args: argparse.Namespace, path: Path) -> None:
    plt = need_matplotlib()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for cell in args.cells:
        errors = [results[cell, length]["mse"] for length in args.lengths]
        left.plot(args.lengths, errors, "o-", color=COLORS[cell], label=cell)
        curve = smooth(results[cell, args.lengths[-1]]["losses"], 25)
        right.plot(np.arange(len(curve)), curve, color=COLORS[cell], label=cell)
    for ax in (left, right):
        ax.axhline(BASELINE_MSE, color="gray", linestyle="--", linewidth=1)
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    left.text(
        args.lengths[0], BASELINE_MSE * 0.85, "always answer 1", color="gray", fontsize=8, va="top"
    )
    left.set_xlabel("sequence length T")
    left.set_ylabel("test mean squared error")
    left.set_title(f"after {args.steps} Adam steps each (hidden {args.hidden})", fontsize=10)
    left.legend()
    right.set_xlabel("training step")
    right.set_ylabel("training MSE (moving average)")
    right.set_title(f"training at T={args.lengths[-1]}", fontsize=10)
    fig.suptitle("The adding problem: how long can each cell remember?", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--lengths", type=int, nargs="+", default=[10, 25, 50, 100], help="sequence lengths"
    )
    parser.add_argument("--steps", type=int, default=600, help="Adam steps per run (default 600)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden size (default 32)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default 1e-2)")
    parser.add_argument(
        "--cells",
        nargs="+",
        choices=sorted(VARIANTS),
        default=["rnn", "gru", "lstm"],
        help="lstm-fb1 is an LSTM whose forget-gate bias starts at 1",
    )
    parser.add_argument("--seeds", type=int, default=1, help="runs averaged per cell (default 1)")
    parser.add_argument("--test", type=int, default=512, help="test sequences (default 512)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few steps (tests)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.lengths, args.steps, args.hidden, args.batch, args.test = [4, 8], 30, 8, 16, 64
    if min(args.lengths) < 2:
        parser.error("--lengths must be at least 2 (two steps are marked)")
    args.lengths = sorted(args.lengths)
    args.seeds = list(range(args.seeds))
    args.out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    results = run(args)
    text = table(results, args.lengths, args.cells)
    path = args.out / "long_range.png"
    plot(results, args, path)
    (args.out / "long_range.md").write_text(text + "\n")
    print(f"adding problem, {args.steps} steps per run, test MSE (baseline 0.167) and accuracy")
    print(text)
    print(f"saved {path} and {args.out / 'long_range.md'} in {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
