"""Which parts of the LSTM matter? Greff et al.'s (2017) ablation, reduced to two memory tasks.

    python examples/lstm_variants.py --quick   # adding T=50, copy delay 10, 1 seed, 1,500 steps
    python examples/lstm_variants.py           # adding T=100, copy delay 20, 3 seeds, 3,000 steps

Every variant gets the same budget, seeds and optimizer on two tasks:
- the adding problem (Arjovsky et al. 2016, see common.py): solved once the test MSE is below
  0.01 (the baseline is 0.167);
- the copy task, reduced from Arjovsky et al.'s copying memory problem: 5 symbols from an
  alphabet of 8, then `delay` blank steps ending in a delimiter, after which the network must
  output the 5 symbols in order (cross-entropy on every step, as in the paper). Solved once
  fewer than 1% of the recalled symbols are wrong (guessing gets 7/8 of them wrong).
Reported per variant: the final test error on each task (median over seeds), how many seeds
solved it, and the median step at which they did. Writes lstm_variants.md.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: one thread is fastest
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from adding_problem import run_one as run_adding
from common import (
    Progress,
    SequenceModel,
    add_training_arguments,
    check_cells,
    evaluation,
    markdown_table,
    preset_parser,
    publish,
    study_parser,
    train,
)

import minigrad as mg
from minigrad.nn import functional as F

# name -> cell (see common.ALIASES): the LSTM of PyTorch (no peepholes) and one change each.
VARIANTS = {
    "lstm": "lstm",
    "lstm-fb1": "lstm-fb1",  # forget-gate bias 1 (Jozefowicz et al. 2015)
    "nfg": "NoForgetGateLSTMCell",  # no forget gate: the 1997 LSTM
    "cifg": "CoupledLSTMCell",  # coupled input and forget gates, f = 1 - i
    "peephole": "PeepholeLSTMCell",  # peepholes: Greff et al.'s "vanilla" LSTM
    "noaf": "PeepholeLSTMCell(output_activation=False)",  # Greff's vanilla without tanh on h
    "layernorm": "LayerNormLSTMCell",
    "gru": "gru",
    "mgu": "MGUCell",  # minimal gated unit: one gate
}
SYMBOLS, ALPHABET = 5, 8  # the copy task: 5 symbols from 1..8; 0 is blank, 9 the delimiter
SOLVED = 0.01  # both tasks: adding MSE < 0.01, copy symbol error rate < 1%
PRESETS = {
    "quick": dict(adding_length=50, copy_delay=10, seeds=1, steps=1500),
    "smoke": dict(
        variants=["lstm", "gru"], adding_length=6, copy_delay=3, seeds=1, steps=10, hidden=8
    ),
}


def copy_batch(rng: np.random.Generator, delay: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """One-hot inputs (delay + 2 * SYMBOLS, batch, ALPHABET + 2) and integer targets (T, batch):
    the symbols, delay - 1 blanks, the delimiter, SYMBOLS blanks; the target is blank until the
    last SYMBOLS steps, which must repeat the symbols."""
    length = delay + 2 * SYMBOLS
    symbols = rng.integers(1, ALPHABET + 1, size=(SYMBOLS, batch))
    ids = np.zeros((length, batch), dtype=np.int64)
    ids[:SYMBOLS] = symbols
    ids[SYMBOLS + delay - 1] = ALPHABET + 1
    targets = np.zeros((length, batch), dtype=np.int64)
    targets[-SYMBOLS:] = symbols
    return np.eye(ALPHABET + 2, dtype=np.float32)[ids], targets


def copy_error(forward: Callable[[mg.Tensor], mg.Tensor], x: np.ndarray, y: np.ndarray) -> float:
    """The share of the recalled symbols (the last SYMBOLS steps) that are wrong; `forward`
    gives every step's logits (the model's `evaluation(..., every_step=True)`)."""
    with mg.no_grad():
        logits = forward(mg.Tensor(x)).data[-SYMBOLS:]
    return float(np.mean(logits.argmax(axis=-1) != y[-SYMBOLS:]))


def run_copy(cell: str, seed: int, args: argparse.Namespace, progress: Progress) -> dict:
    """Train one cell on the copy task; the curve of its test symbol error."""
    model = SequenceModel(cell, args.hidden, inputs=ALPHABET + 2, outputs=ALPHABET + 2, rng=seed)
    test_x, test_y = copy_batch(np.random.default_rng(998), args.copy_delay, args.test)

    eye = np.eye(ALPHABET + 2, dtype=np.float32)

    def batch_of(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x, y = copy_batch(rng, args.copy_delay, args.batch)
        return x, eye[y.reshape(-1)]  # one-hot targets: an index would be fixed by a compile

    def loss_fn(x: mg.Tensor, targets: mg.Tensor) -> mg.Tensor:
        """Cross-entropy of every step's logits, with the targets one-hot."""
        logits = model(x, every_step=True).reshape(-1, ALPHABET + 2)
        return -(F.log_softmax(logits, axis=-1) * targets).sum() * (1.0 / logits.shape[0])

    forward = evaluation(model, compiled=not args.eager, say=progress.write, every_step=True)
    curve = train(
        model,
        batch_of,
        loss_fn,
        lambda: copy_error(forward, test_x, test_y),
        steps=args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        rmsprop_alpha=args.rmsprop_alpha,
        clip=args.clip,
        clip_mode=args.clip_mode,
        every=args.every,
        solved=SOLVED,
        patience=args.patience,
        compiled=not args.eager,
        rng=np.random.default_rng([seed, args.copy_delay, 7]),
        progress=progress,
    )
    curve.test_compile_seconds = forward.compile_seconds
    return dict(curve=curve, error=curve.errors[-1])


def run(args: argparse.Namespace) -> dict[str, dict[str, list[dict]]]:
    """{variant: {"adding": [one result per seed], "copy": [...]}}."""
    # what run_adding reads: the task's variant, its lengths, the initialisation
    args.variant, args.lengths, args.init = "arjovsky", [args.adding_length], "pytorch"
    progress = Progress(len(args.variants) * args.seeds * 2 * args.steps, desc="training")
    results = {}
    for name in args.variants:
        cell = VARIANTS.get(name, name)
        results[name] = {"adding": [], "copy": []}
        for seed in range(args.seeds):
            adding = run_adding(cell, args.adding_length, seed, args, progress)
            adding["error"] = adding["mse"]
            copy = run_copy(cell, seed, args, progress)
            for task, result in (("adding", adding), ("copy", copy)):
                results[name][task].append(result)
                progress.write(
                    f"{name:<10} seed {seed}  {task:<6} test error {result['error']:.4f}  "
                    f"solved at {result['curve'].first_below(SOLVED)}  "
                    f"({result['curve'].seconds:.0f}s{result['curve'].compiled_note()})"
                )
    progress.close()
    return results


def summary(runs: list[dict]) -> list[str]:
    """Median final error, seeds solved, median step of solving (of the seeds that solved)."""
    solved = [r["curve"].first_below(SOLVED) for r in runs]
    steps = [s for s in solved if s is not None]
    error = float(np.median([r["error"] for r in runs]))
    return [
        f"{error:.4f}",
        f"{len(steps)}/{len(runs)}",
        f"{np.median(steps):.0f}" if steps else "-",
    ]


def table(results: dict, args: argparse.Namespace) -> str:
    header = ["variant", "cell"]
    for task in (f"adding T={args.adding_length}", f"copy delay {args.copy_delay}"):
        header += [f"{task} error", "solved", "step solved"]
    header.append("seconds")
    rows = []
    for name, tasks in results.items():
        seconds = sum(r["curve"].seconds for runs in tasks.values() for r in runs)
        rows.append(
            [name, VARIANTS.get(name, name)]
            + summary(tasks["adding"])
            + summary(tasks["copy"])
            + [f"{seconds:.0f}"]
        )
    return markdown_table(header, rows)


def main(argv: list[str] | None = None) -> None:
    parser = study_parser(__doc__)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        help="short names (see VARIANTS in this file) or any cell as adding_problem.py takes",
    )
    parser.add_argument("--adding-length", type=int, default=100, help="adding problem T")
    parser.add_argument("--copy-delay", type=int, default=20, help="copy task: blank steps")
    parser.add_argument("--seeds", type=int, default=3, help="runs per variant and task")
    add_training_arguments(parser)
    args = preset_parser(parser, PRESETS, argv)
    check_cells(parser, [VARIANTS.get(n, n) for n in args.variants])
    if args.adding_length < 2 or args.copy_delay < 1:
        parser.error("--adding-length must be at least 2 and --copy-delay at least 1")
    args.out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    results = run(args)
    text = table(results, args)
    title = (
        f"LSTM variants: up to {args.steps} {args.optimizer} steps per run, {args.seeds} seeds; "
        f"error = adding test MSE / copy symbol error rate, solved below {SOLVED}"
    )
    path = publish(args.out, "lstm_variants", title, text)
    print(f"saved {path} in {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
