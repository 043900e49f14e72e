"""How much gradient reaches each earlier step? RNN vs GRU vs LSTM, at initialisation and trained.

    python examples/gradient_flow.py            # ~1 minute; writes examples/out/gradient_flow.png

A recurrent layer reads a sequence x_1 .. x_T (the adding problem's inputs, see common.py) and
a linear readout of its last output gives the loss L. We compute dL/dx_t for every t with
`minigrad.grad` and plot the ratio

    ||dL/dx_t|| / ||dL/dx_T||    against the distance  T - t,

on a log scale: how much of the gradient at the last step still reaches an input T - t steps
back. Each curve is the geometric mean over several seeds (the band spans min to max). This is
measured twice for every cell: with freshly initialised weights, and after a short training on
the adding problem (at a shorter length, `--train-length`), a task that can only be solved by
carrying information, and so gradient, across the sequence. The test error each model reached is
printed too, to tell the models that learned the task from those that did not.

"lstm-fb1" is an LSTM whose forget-gate bias starts at 1 instead of around 0: a common trick
that starts the forget gate near sigmoid(1) = 0.73 instead of 0.5.
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
    COLORS,
    DEFAULT_OUT,
    VARIANTS,
    Progress,
    Regressor,
    adding_batch,
    evaluate_adding,
    need_matplotlib,
    train_adding,
)

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F


def gradient_profile(model: Regressor, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """||dL/dx_t|| / ||dL/dx_T|| for t = T, T-1, ..., 1 (index = distance T - t)."""
    inputs = mg.Tensor(x, requires_grad=True)
    loss = F.mse_loss(model(inputs), y)
    (grad,) = mg.grad(loss, inputs)
    norms = np.sqrt(np.sum(grad.data**2, axis=(1, 2)))[::-1]  # distance 0 first
    return norms / norms[0]


def geometric_mean(profiles: np.ndarray) -> np.ndarray:
    return np.exp(np.mean(np.log(np.maximum(profiles, 1e-300)), axis=0))


def run(args: argparse.Namespace) -> dict[str, dict[str, np.ndarray]]:
    """{variant: {"init": (seeds, T) profiles, "trained": ..., "mse": (seeds,) test errors}}."""
    probe_x, probe_y = adding_batch(np.random.default_rng(12345), args.length, args.probe)
    results: dict[str, dict[str, np.ndarray]] = {}
    total = len(VARIANTS) * len(args.seeds) * args.train_steps
    progress = Progress(total, desc="training")
    for name, (cell, forget_bias) in VARIANTS.items():
        init, trained, errors = [], [], []
        for seed in args.seeds:
            nn.init.manual_seed(seed)
            model = Regressor(cell, args.hidden, forget_bias=forget_bias)
            init.append(gradient_profile(model, probe_x, probe_y))
            rng = np.random.default_rng(seed + 1000)
            train_adding(
                model, args.train_length, args.train_steps, args.batch, args.lr, rng, progress
            )
            trained.append(gradient_profile(model, probe_x, probe_y))
            errors.append(evaluate_adding(model, args.train_length, rng)[0])
        results[name] = {
            "init": np.array(init),
            "trained": np.array(trained),
            "mse": np.array(errors),
        }
    progress.close()
    return results


def table(results: dict, length: int) -> str:
    """Geometric-mean ratios at a few distances, one column per variant and phase."""
    distances = [d for d in (0, 1, 2, 5, 10, 20, 30, 40, 60, 80, 100) if d < length]
    if distances[-1] != length - 1:
        distances.append(length - 1)
    columns = [(name, phase) for phase in ("init", "trained") for name in results]
    errors = [f"{np.mean(results[name]['mse']):.3f}" for name, _ in columns if _ == "trained"]
    header = ["T - t"] + [f"{name} ({phase})" for name, phase in columns]
    rows = [header]
    means = {key: geometric_mean(results[key[0]][key[1]]) for key in columns}
    for d in distances:
        rows.append([str(d)] + [f"{means[key][d]:.2e}" for key in columns])
    rows.append(["test MSE"] + ["-"] * len(results) + errors)  # 1/6 = 0.167: nothing learnt
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(c.rjust(w) for c, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    return "\n".join(lines)


def plot(results: dict, args: argparse.Namespace, path: Path) -> None:
    plt = need_matplotlib()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    distance = np.arange(args.length)
    for ax, phase, title in zip(
        axes,
        ("init", "trained"),
        (
            "at initialisation",
            f"after {args.train_steps} Adam steps on the adding problem (T={args.train_length})",
        ),
    ):
        for name, runs in results.items():
            profiles = np.maximum(runs[phase], 1e-300)
            ax.plot(distance, geometric_mean(profiles), color=COLORS[name], label=name)
            ax.fill_between(
                distance, profiles.min(axis=0), profiles.max(axis=0), color=COLORS[name], alpha=0.15
            )
        ax.set_yscale("log")
        ax.set_xlabel("distance T - t (steps back from the loss)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("||dL/dx_t|| / ||dL/dx_T||")
    axes[0].legend(loc="lower left")
    fig.suptitle(
        f"Gradient reaching earlier inputs (hidden {args.hidden}, {len(args.seeds)} seeds, "
        f"geometric mean and min-max band)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, default=60, help="sequence length T (default 60)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden size (default 32)")
    parser.add_argument("--seeds", type=int, default=4, help="seeds per cell (default 4)")
    parser.add_argument("--train-steps", type=int, default=400, help="Adam steps (default 400)")
    parser.add_argument("--train-length", type=int, default=20, help="training T (default 20)")
    parser.add_argument("--batch", type=int, default=32, help="training batch (default 32)")
    parser.add_argument("--probe", type=int, default=64, help="sequences measured (default 64)")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default 1e-2)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few steps (tests)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.length, args.hidden, args.seeds, args.train_steps, args.train_length = 12, 8, 2, 5, 6
        args.batch, args.probe = 8, 8
    args.seeds = list(range(args.seeds))
    args.out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    results = run(args)
    text = table(results, args.length)
    path = args.out / "gradient_flow.png"
    plot(results, args, path)
    (args.out / "gradient_flow.md").write_text(text + "\n")
    print(
        f"||dL/dx_t|| / ||dL/dx_T|| (geometric mean over {len(args.seeds)} seeds), T={args.length}"
    )
    print(text)
    print(
        f"saved {path} and {args.out / 'gradient_flow.md'} in {time.perf_counter() - started:.0f}s"
    )


if __name__ == "__main__":
    main()
