"""The adding problem as Arjovsky, Shah & Bengio (2016) ran it: which cells leave the baseline?

    python examples/adding_problem.py --quick   # T = 50, 100, 2 seeds, up to 2,000 steps
    python examples/adding_problem.py           # T = 50, 100, 200, 3 seeds, up to 3,000 steps

Each input step is a pair (value, marker); two steps are marked, one in each half, and the
target is the sum of their two values (see common.py; `--variant hochreiter` is Hochreiter &
Schmidhuber's 1997 form). Always answering 1 scores a mean squared error of 0.167, the baseline
of Arjovsky et al.'s Fig. 2. Every cell gets the same budget (hidden size, steps, batch,
optimizer, clipping) and the same seeds; a run stops early once the test error has stayed below
6% of the baseline (0.01) for a few measurements. Reported per (cell, T, seed): the final test
MSE, the share of answers within 0.04 of the target, and the first step at which the test error
fell below 60% of the baseline (0.1: the model has left the plateau) and below 0.01 (solved).
Writes adding_problem.png (test MSE against step, one panel per T) and adding_problem.md.
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
    BASELINES,
    DEFAULT_LR,
    Progress,
    SequenceModel,
    add_training_arguments,
    adding_batch,
    adding_scores,
    check_cells,
    color,
    evaluation,
    markdown_table,
    need_matplotlib,
    preset_parser,
    publish,
    save_figure,
    study_parser,
    train,
)

import minigrad as mg
from minigrad.nn import functional as F

LEFT, SOLVED = 0.6, 0.06  # thresholds, as fractions of the baseline: 0.1 and 0.01 for Arjovsky's
PRESETS = {
    "quick": dict(lengths=[50, 100], seeds=2, steps=2000),
    "smoke": dict(lengths=[6, 12], seeds=1, steps=20, hidden=8, batch=8, test=32, every=5),
}


def run_one(
    cell: str, length: int, seed: int, args: argparse.Namespace, progress: Progress
) -> dict:
    """Train one (cell, T, seed) and measure it on the T's fixed test set."""
    model = SequenceModel(cell, args.hidden, rng=seed)
    if args.init == "glorot":
        model.glorot_(seed)
    test_x, test_y = adding_batch(
        np.random.default_rng([999, length]), length, args.test, args.variant
    )

    def loss_fn(x: mg.Tensor, y: mg.Tensor) -> mg.Tensor:
        return F.mse_loss(model(x), y)

    forward = evaluation(model, compiled=not args.eager, say=progress.write)
    curve = train(
        model,
        lambda rng: adding_batch(rng, length, args.batch, args.variant),
        loss_fn,
        lambda: adding_scores(forward, test_x, test_y)[0],
        steps=args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        rmsprop_alpha=args.rmsprop_alpha,
        clip=args.clip,
        clip_mode=args.clip_mode,
        every=args.every,
        solved=thresholds(args.variant)[1],
        patience=args.patience,
        compiled=not args.eager,
        rng=np.random.default_rng([seed, length]),
        progress=progress,
    )
    curve.test_compile_seconds = forward.compile_seconds
    mse, accuracy = adding_scores(forward, test_x, test_y)
    return dict(cell=cell, length=length, seed=seed, curve=curve, mse=mse, accuracy=accuracy)


def run(args: argparse.Namespace) -> list[dict]:
    """Every (T, cell, seed), in that order, with a line printed as each one ends."""
    total = len(args.cells) * len(args.lengths) * args.seeds * args.steps
    progress = Progress(total, desc="training")
    results = []
    for length in args.lengths:
        for cell in args.cells:
            for seed in range(args.seeds):
                result = run_one(cell, length, seed, args, progress)
                results.append(result)
                curve = result["curve"]
                progress.write(
                    f"T={length:<4} {cell:<9} seed {seed}  test MSE {result['mse']:.4f}  "
                    f"within 0.04: {result['accuracy']:.0%}  steps {curve.steps[-1]}  "
                    f"({curve.seconds:.0f}s{curve.compiled_note()})"
                )
    progress.close()
    return results


def thresholds(variant: str) -> tuple[float, float]:
    """The test MSE below which a run has left the baseline, and below which it is solved."""
    baseline = BASELINES[variant]
    return round(LEFT * baseline, 4), round(SOLVED * baseline, 4)


def table(results: list[dict], variant: str) -> str:
    left, solved = thresholds(variant)
    header = ["cell", "T", "seed", "test MSE", "within 0.04"]
    header += [f"first step < {left:g}", f"first step < {solved:g}", "steps run", "seconds"]
    rows = []
    for r in results:
        curve = r["curve"]
        steps = [curve.first_below(left), curve.first_below(solved)]
        rows.append(
            [r["cell"], str(r["length"]), str(r["seed"]), f"{r['mse']:.4f}", f"{r['accuracy']:.0%}"]
            + ["-" if s is None else str(s) for s in steps]
            + [str(curve.steps[-1]), f"{curve.seconds:.0f}"]
        )
    return markdown_table(header, rows)


def plot(results: list[dict], args: argparse.Namespace, path: Path) -> None:
    plt = need_matplotlib()
    count = len(args.lengths)
    fig, axes = plt.subplots(1, count, figsize=(max(6.0, 4.6 * count), 4.4), squeeze=False)
    baseline = BASELINES[args.variant]
    for ax, length in zip(axes[0], args.lengths):
        for index, cell in enumerate(args.cells):
            runs = [r for r in results if r["cell"] == cell and r["length"] == length]
            for k, r in enumerate(runs):
                ax.plot(
                    r["curve"].steps,
                    r["curve"].errors,
                    color=color(cell, index),
                    alpha=0.85,
                    linewidth=1.3,
                    label=f"{cell} ({len(runs)} seed{'s' * (len(runs) > 1)})" if k == 0 else None,
                )
        answer = "1" if args.variant == "arjovsky" else "0.5"
        label = f"baseline {baseline:.3f} (always {answer})"
        ax.axhline(baseline, color="gray", linestyle="--", linewidth=1, label=label)
        ax.set_yscale("log")
        ax.set_title(f"T = {length}", fontsize=10)
        ax.set_xlabel(f"training step (test MSE every {args.every} steps)")
        ax.set_ylabel(f"test MSE on {args.test} fixed sequences")
        ax.grid(True, which="major", alpha=0.3)
        low, high = ax.get_ylim()
        ax.set_ylim(low, high * 30)  # room above the curves for the legend, clear of them
        ax.legend(fontsize=8, loc="upper right", ncol=2)
    lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr
    alpha = f", alpha {args.rmsprop_alpha:g}" if args.optimizer == "rmsprop" else ""
    clip = f"gradient {args.clip_mode} clipped at {args.clip:g}" if args.clip else "no clipping"
    fig.suptitle(
        f"The adding problem ({args.variant})\nhidden {args.hidden}, batch {args.batch}, "
        f"{args.optimizer} (lr {lr:g}{alpha}), {clip}, baseline {baseline:.3f}",
        fontsize=11,
    )
    save_figure(plt, fig, path)


def main(argv: list[str] | None = None) -> None:
    parser = study_parser(__doc__)
    parser.add_argument(
        "--cells",
        nargs="+",
        default=["rnn", "lstm", "lstm-fb1", "gru"],
        help="rnn, lstm, lstm-fb1 (forget bias 1), gru, or any minigrad.nn class name, with "
        "keywords in brackets: GRUCell, 'LSTM(forget_bias=2.0)'",
    )
    parser.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200], help="T")
    parser.add_argument("--seeds", type=int, default=3, help="runs per (cell, T), seeds 0..n-1")
    add_training_arguments(parser)
    parser.add_argument(
        "--variant",
        choices=sorted(BASELINES),
        default="arjovsky",
        help="arjovsky: U[0,1] values, target X1+X2; hochreiter: U[-1,1], 0.5+(X1+X2)/4",
    )
    parser.add_argument(
        "--init",
        choices=["pytorch", "glorot"],
        default="pytorch",
        help="pytorch: the layers' own U(+-1/sqrt(hidden)); glorot: Arjovsky et al.'s "
        "Glorot-uniform weights and zero biases, but the forget bias (layers only)",
    )
    args = preset_parser(parser, PRESETS, argv)
    check_cells(parser, args.cells)
    if args.init == "glorot":
        for cell in args.cells:
            try:
                SequenceModel(cell, 2).glorot_(0)
            except ValueError as error:
                parser.error(str(error))
    if min(args.lengths) < (4 if args.variant == "hochreiter" else 2):
        parser.error("--lengths must be at least 2 (4 for the hochreiter variant)")
    args.lengths = sorted(set(args.lengths))
    args.out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    results = run(args)
    text = table(results, args.variant)
    path = args.out / "adding_problem.png"
    plot(results, args, path)
    title = (
        f"adding problem ({args.variant}), baseline MSE {BASELINES[args.variant]:.3f}, up to "
        f"{args.steps} {args.optimizer} steps per run"
    )
    table_path = publish(args.out, "adding_problem", title, text)
    elapsed = time.perf_counter() - started
    print(f"saved {path} and {table_path} in {elapsed:.0f}s")


if __name__ == "__main__":
    main()
