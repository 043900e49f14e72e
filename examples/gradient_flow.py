"""How much gradient reaches each earlier step? RNN vs GRU vs LSTM, at initialisation and trained.

    python examples/gradient_flow.py     # writes gradient_flow.png/.md, state_gradients.png/.md

Two measurements, each with freshly initialised weights and again after a short training on
the adding problem (see common.py), a task that can only be solved by carrying information, and
so gradient, across the sequence.

1. The inputs. A recurrent layer reads x_1 .. x_T (T = 60) and a linear readout of its last
   output gives the loss L. `minigrad.grad` gives dL/dx_t for every t, plotted as the ratio

       ||dL/dx_t|| / ||dL/dx_T||    against the distance  T - t,

   on a log scale: how much of the gradient at the last step still reaches an input T - t steps
   back. Each curve is the geometric mean over several seeds (the band spans min to max); the
   models are trained for 400 Adam steps at a shorter length (`--train-length`).
2. The states, as Arjovsky et al. (2016) plot them: ||dL/dh_t|| along one long sequence
   (T = 1000, hidden 128), read by a hook (`Tensor.register_hook`) on every h_t as backward
   reaches it, at initialisation and after 100 Adam steps (at T = 100). A straight line fitted to
   log ||dL/dh_t|| against T - t gives each cell's decay per step: the factor by which the
   gradient shrinks, on average, for every step it travels back.

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
    DEFAULT_OUT,
    Progress,
    SequenceModel,
    add_eager_argument,
    adding_batch,
    adding_scores,
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
from minigrad.nn.recurrent import output_of

# The four cells compared: the layer (fast path, for the input-gradient study) and the cell (for
# the state study, which steps through time itself to watch every h_t).
LAYERS = {"rnn": "rnn", "gru": "gru", "lstm": "lstm", "lstm-fb1": "lstm-fb1"}
CELLS = {
    "rnn": "RNNCell",
    "gru": "GRUCell",
    "lstm": "LSTMCell",
    "lstm-fb1": "LSTMCell(forget_bias=1.0)",
}


def gradient_profile(model: SequenceModel, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """||dL/dx_t|| / ||dL/dx_T|| for t = T, T-1, ..., 1 (index = distance T - t)."""
    inputs = mg.Tensor(x, requires_grad=True)
    loss = F.mse_loss(model(inputs), y)
    (grad,) = mg.grad(loss, inputs)
    norms = np.sqrt(np.sum(grad.data**2, axis=(1, 2)))[::-1]  # distance 0 first
    return norms / norms[0]


def geometric_mean(profiles: np.ndarray) -> np.ndarray:
    return np.exp(np.mean(np.log(np.maximum(profiles, 1e-300)), axis=0))


def train_on_adding(
    model: SequenceModel, length: int, steps: int, args: argparse.Namespace, seed: int, progress
) -> float:
    """`steps` Adam steps (lr args.lr, clip 1) on the adding problem at `length`; the test MSE."""
    dtype = model.head.weight.dtype

    def loss_fn(x: mg.Tensor, y: mg.Tensor) -> mg.Tensor:
        return F.mse_loss(model(x), y)

    rng = np.random.default_rng(seed + 1000)
    test_x, test_y = adding_batch(rng, length, 512, dtype=dtype)
    forward = evaluation(model, compiled=not args.eager, say=progress.write)
    error = lambda: adding_scores(forward, test_x, test_y)[0]  # noqa: E731
    train(
        model,
        lambda rng: adding_batch(rng, length, args.batch, dtype=dtype),
        loss_fn,
        error,
        steps=steps,
        lr=args.lr,
        every=steps,
        compiled=not args.eager,
        rng=rng,
        progress=progress,
    )
    return error()


def run(args: argparse.Namespace) -> dict[str, dict[str, np.ndarray]]:
    """{variant: {"init": (seeds, T) profiles, "trained": ..., "mse": (seeds,) test errors}}."""
    probe_x, probe_y = adding_batch(np.random.default_rng(12345), args.length, args.probe)
    results: dict[str, dict[str, np.ndarray]] = {}
    total = len(LAYERS) * len(args.seeds) * args.train_steps
    progress = Progress(total, desc="inputs: training")
    for name, layer in LAYERS.items():
        init, trained, errors = [], [], []
        for seed in args.seeds:
            model = SequenceModel(layer, args.hidden, dtype=np.float32, rng=seed)
            init.append(gradient_profile(model, probe_x, probe_y))
            mse = train_on_adding(model, args.train_length, args.train_steps, args, seed, progress)
            trained.append(gradient_profile(model, probe_x, probe_y))
            errors.append(mse)
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
    means = {key: geometric_mean(results[key[0]][key[1]]) for key in columns}
    rows = [[str(d)] + [f"{means[key][d]:.2e}" for key in columns] for d in distances]
    rows.append(["test MSE"] + ["-"] * len(results) + errors)  # 1/6 = 0.167: nothing learnt
    return markdown_table(header, rows)


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
        for index, (name, runs) in enumerate(results.items()):
            profiles = np.maximum(runs[phase], 1e-300)
            ax.plot(distance, geometric_mean(profiles), color=color(name, index), label=name)
            ax.fill_between(
                distance,
                profiles.min(axis=0),
                profiles.max(axis=0),
                color=color(name, index),
                alpha=0.15,
            )
        ax.set_yscale("log")
        ax.set_xlabel("distance T - t (steps back from the loss)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
    axes[0].set_ylabel("||dL/dx_t|| / ||dL/dx_T||")
    fig.suptitle(
        f"Gradient reaching earlier inputs (hidden {args.hidden}, {len(args.seeds)} seeds, "
        f"geometric mean and min-max band)",
        fontsize=11,
    )
    save_figure(plt, fig, path)


# --- The state study: ||dL/dh_t|| along a long sequence, read by a hook on every h_t ---------


def norm(values: np.ndarray) -> float:
    """The 2-norm, scaled first so that squaring entries of 1e-200 does not underflow to 0."""
    largest = float(np.max(np.abs(values)))
    return largest * float(np.linalg.norm(values / largest)) if largest > 0 else 0.0


def watch(h: mg.Tensor, t: int, norms: np.ndarray) -> None:
    """When backward reaches h_t, record the norm of the gradient that arrived, ||dL/dh_t||."""
    h.register_hook(lambda grad: norms.__setitem__(t, norm(np.asarray(grad.data))))


def state_gradient_norms(model: SequenceModel, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """||dL/dh_t|| for t = 1 .. T (by every path: the readout and all later steps)."""
    cell, state, states = model.rnn.cell, None, []
    for t in range(len(x)):  # the loop nn.Recurrent runs, written out to hold on to each h_t
        state = cell(x[t], state)
        states.append(output_of(state))
    loss = F.mse_loss(model.head(states[-1]), y)
    norms = np.zeros(len(x))
    for t, h in enumerate(states):
        watch(h, t, norms)
    loss.backward()  # the hooks fill norms[T-1], ..., norms[0] as backward walks back in time
    return norms


def decay_per_step(norms: np.ndarray) -> float:
    """The factor by which ||dL/dh_t|| shrinks per step back: exp(slope) of a straight-line fit of
    log ||dL/dh_t|| against the distance T - t, over the steps whose gradient did not underflow."""
    profile = norms[::-1]
    distance = np.arange(len(profile))
    kept = profile > 1e-300
    if kept.sum() < 2:
        return float("nan")
    return float(np.exp(np.polyfit(distance[kept], np.log(profile[kept]), 1)[0]))


def run_states(args: argparse.Namespace) -> dict[str, dict]:
    """{cell: {"init": (T,) norms, "trained": (T,) norms, "mse": test MSE at the training T}}."""
    probe_x, probe_y = adding_batch(
        np.random.default_rng(54321), args.state_length, args.state_probe, dtype=np.float64
    )
    progress = Progress(len(CELLS) * args.state_steps, desc="states: training")
    results = {}
    for name, cell in CELLS.items():
        model = SequenceModel(cell, args.state_hidden, dtype=np.float64, rng=args.state_seed)
        init = state_gradient_norms(model, probe_x, probe_y)
        length = args.state_train_length
        mse = train_on_adding(model, length, args.state_steps, args, args.state_seed, progress)
        trained = state_gradient_norms(model, probe_x, probe_y)
        results[name] = {"init": init, "trained": trained, "mse": mse}
    progress.close()
    return results


def states_table(results: dict, args: argparse.Namespace) -> str:
    """Per cell: the fitted decay per step, and the gradient 100 steps back, at init and trained."""
    header = ["cell", "decay per step (init)", "decay per step (trained)"]
    back = min(100, args.state_length - 1)  # the ratio ||dL/dh_(T-back)|| / ||dL/dh_T||
    header += [f"ratio {back} steps back (init)", f"ratio {back} back (trained)"]
    header += [f"test MSE at T={args.state_train_length}"]
    rows = []
    for name, r in results.items():
        ratios = [r[phase][-1 - back] / r[phase][-1] for phase in ("init", "trained")]
        rows.append(
            [name, f"{decay_per_step(r['init']):.3f}", f"{decay_per_step(r['trained']):.3f}"]
            + [f"{ratio:.2e}" for ratio in ratios]
            + [f"{r['mse']:.3f}"]
        )
    return markdown_table(header, rows)


def plot_states(results: dict, args: argparse.Namespace, path: Path) -> None:
    plt = need_matplotlib()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    distance = np.arange(args.state_length)
    trained = (
        f"after {args.state_steps} Adam steps on the adding problem (T={args.state_train_length})"
    )
    for ax, phase, title in zip(axes, ("init", "trained"), ("at initialisation", trained)):
        for index, (name, r) in enumerate(results.items()):
            profile = r[phase][::-1] / r[phase][-1]
            label = f"{name} ({decay_per_step(r[phase]):.3f} per step)"
            shown = np.where(profile > 0, profile, np.nan)  # underflowed to 0: not drawn
            ax.plot(distance, shown, color=color(name, index), label=label)
        ax.set_yscale("log")
        ax.set_xlabel("distance T - t (steps back from the loss)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="lower left", fontsize=8, title="cell (fitted decay)", title_fontsize=8)
    axes[0].set_ylabel("||dL/dh_t|| / ||dL/dh_T||")
    fig.suptitle(
        f"Gradient reaching each hidden state h_t (T={args.state_length}, hidden "
        f"{args.state_hidden}, seed {args.state_seed}; read by a hook on every h_t)",
        fontsize=11,
    )
    save_figure(plt, fig, path)


def main(argv: list[str] | None = None) -> None:
    parser = study_parser(__doc__)
    inputs = parser.add_argument_group("the input study: ||dL/dx_t||, several seeds")
    inputs.add_argument("--length", type=int, default=60, help="sequence length T measured")
    inputs.add_argument("--hidden", type=int, default=32, help="hidden size")
    inputs.add_argument("--seeds", type=int, default=4, help="seeds per cell")
    inputs.add_argument("--train-steps", type=int, default=400, help="Adam steps")
    inputs.add_argument("--train-length", type=int, default=20, help="training T")
    inputs.add_argument("--probe", type=int, default=64, help="sequences measured")
    states = parser.add_argument_group("the state study: ||dL/dh_t|| along a long sequence")
    states.add_argument("--state-length", type=int, default=1000, help="sequence length measured")
    states.add_argument("--state-hidden", type=int, default=128, help="hidden size")
    states.add_argument("--state-steps", type=int, default=100, help="Adam steps")
    states.add_argument("--state-train-length", type=int, default=100, help="training T")
    states.add_argument("--state-probe", type=int, default=16, help="sequences measured")
    states.add_argument("--state-seed", type=int, default=0, help="the seed of every cell")
    parser.add_argument("--batch", type=int, default=32, help="training batch (both studies)")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (both)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    add_eager_argument(parser)
    smoke = dict(length=12, hidden=8, seeds=2, train_steps=5, train_length=6, batch=8, probe=8)
    smoke.update(state_length=30, state_hidden=8, state_steps=3, state_train_length=6)
    args = preset_parser(parser, {"smoke": smoke}, argv)
    args.seeds = list(range(args.seeds))
    args.out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    results = run(args)
    text = table(results, args.length)
    path = args.out / "gradient_flow.png"
    plot(results, args, path)
    seeds = len(args.seeds)
    title = f"||dL/dx_t|| / ||dL/dx_T|| (geometric mean over {seeds} seeds), T={args.length}"
    publish(args.out, "gradient_flow", title, text)
    state_results = run_states(args)
    state_path = args.out / "state_gradients.png"
    plot_states(state_results, args, state_path)
    title = f"||dL/dh_t|| along T={args.state_length} (hidden {args.state_hidden})"
    publish(args.out, "state_gradients", title, states_table(state_results, args))
    elapsed = time.perf_counter() - started
    print(f"saved {path}, {state_path} and their .md tables in {elapsed:.0f}s")


if __name__ == "__main__":
    main()
