"""Helpers shared by the examples: a progress bar, the adding problem, models, a training loop.

Not part of the library: the examples import it as a sibling module (`python examples/x.py`
puts this folder on sys.path).
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import minigrad as mg
from minigrad import nn, optim

DEFAULT_OUT = Path(__file__).resolve().parent / "out"
# Short names for the cells the studies compare; any other name is a class of minigrad.nn, with
# keyword arguments in brackets if needed: "GRU", "LSTMCell", "LSTM(forget_bias=2.0)".
# "lstm-fb1" starts its forget gate's bias at +1 instead of around 0 (Jozefowicz et al. 2015).
ALIASES = {
    "rnn": "RNN",
    "lstm": "LSTM",
    "lstm-fb1": "LSTM(forget_bias=1.0)",
    "gru": "GRU",
}
COLORS = {"rnn": "tab:red", "gru": "tab:green", "lstm": "tab:blue", "lstm-fb1": "tab:purple"}


def color(name: str, index: int) -> str:
    """A cell's colour on every plot: its own for the named four, else the next of a cycle."""
    others = ["tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray"]
    return COLORS.get(name, others[index % len(others)])


class Progress:
    """A tqdm progress bar when tqdm is installed, else a line printed every ~5% of the run."""

    def __init__(self, total: int, desc: str = "", initial: int = 0) -> None:
        self.total, self.count, self.desc = total, initial, desc
        self.start = time.perf_counter()
        self.every = max(1, total // 20)
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True)

    def update(self, **postfix: float) -> None:
        """One step done; `postfix` values (loss, bpc, ...) are shown beside the bar."""
        self.count += 1
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in postfix.items()}, refresh=False)
            self.bar.update(1)
        elif self.count % self.every == 0 or self.count == self.total:
            shown = "  ".join(f"{k} {v:.3f}" for k, v in postfix.items())
            elapsed = time.perf_counter() - self.start
            print(f"{self.desc} {self.count}/{self.total}  {shown}  ({elapsed:.0f}s)", flush=True)

    def skip(self, steps: int) -> None:
        """Count `steps` as done without running them (a run that stopped early)."""
        self.count += steps
        if self.bar is not None:
            self.bar.update(steps)

    def write(self, text: str) -> None:
        """Print without breaking the bar."""
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# --- The adding problem -------------------------------------------------------------------------
# Each input step is a pair (value, marker); exactly two steps carry the marker 1 and the target
# is a function of their two values, so a network must notice a value when it passes and hold it
# until the end of the sequence.
# - "arjovsky" (Arjovsky, Shah & Bengio 2016): values U[0, 1], one marker in each half, target the
#   sum of the two marked values. Always answering 1 (the mean) scores 1/6 = 0.167.
# - "hochreiter" (Hochreiter & Schmidhuber 1997): values U[-1, 1], the first marker within the
#   first 10 steps, the second elsewhere in the first half, target 0.5 + (X1 + X2) / 4. Always
#   answering 0.5 scores 1/24 = 0.042; an answer within 0.04 of the target counts as right.

BASELINES = {"arjovsky": 1 / 6, "hochreiter": 1 / 24}


def adding_batch(
    rng: np.random.Generator,
    length: int,
    batch: int,
    variant: str = "arjovsky",
    dtype: Any = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (length, batch, 2) and targets (batch, 1) of the adding problem."""
    half = max(1, length // 2)
    columns = np.arange(batch)
    if variant == "arjovsky":
        values = rng.uniform(0, 1, size=(length, batch))
        first = rng.integers(0, half, size=batch)
        second = rng.integers(half, length, size=batch) if length > 1 else first
    elif variant == "hochreiter":
        if length < 4:
            raise ValueError(
                f"adding_batch: the hochreiter variant needs length >= 4, got {length}"
            )
        values = rng.uniform(-1, 1, size=(length, batch))
        first = rng.integers(0, min(10, half), size=batch)
        second = rng.integers(0, half - 1, size=batch)
        second += second >= first  # any other step of the first half
    else:
        raise ValueError(
            f"adding_batch: variant must be 'arjovsky' or 'hochreiter', got {variant!r}"
        )
    markers = np.zeros((length, batch))
    markers[first, columns] = 1
    markers[second, columns] = 1
    total = (values * markers).sum(axis=0)
    targets = total if variant == "arjovsky" else 0.5 + total / 4
    inputs = np.stack([values, markers], axis=-1)
    return inputs.astype(dtype), targets[:, None].astype(dtype)


def adding_scores(
    forward: Callable[[mg.Tensor], mg.Tensor], x: np.ndarray, y: np.ndarray
) -> tuple[float, float]:
    """Mean squared error and the share of answers within 0.04 of the target (the criterion).

    `forward` is the model, or its `evaluation` (compiled)."""
    with mg.no_grad():
        error = forward(mg.Tensor(x)).data - y
    return float(np.mean(error**2)), float(np.mean(np.abs(error) < 0.04))


# --- Models -------------------------------------------------------------------------------------


def parse_cell(name: str) -> tuple[str, dict[str, Any]]:
    """'lstm-fb1' or 'PeepholeLSTMCell(output_activation=False)' -> (class name, keywords)."""
    spec = ALIASES.get(name, name)
    try:
        tree = ast.parse(spec, mode="eval").body
    except SyntaxError:
        tree = None
    if isinstance(tree, ast.Name):
        return tree.id, {}
    if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and not tree.args:
        try:
            return tree.func.id, {k.arg: ast.literal_eval(k.value) for k in tree.keywords}
        except ValueError:
            pass  # a keyword whose value is not a literal
    raise ValueError(f"cell {name!r}: expected a class name, optionally with keywords in brackets")


def recurrent_layer(name: str, inputs: int, hidden: int, dtype: Any, rng: int) -> nn.Module:
    """A layer `(T, B, inputs) -> (outputs, state)` for a cell name (see ALIASES).

    The layers nn.RNN / nn.LSTM / nn.GRU project the input for all steps at once (the fast
    path); a cell class (a name ending in "Cell") is unrolled by nn.Recurrent.
    """
    class_name, keywords = parse_cell(name)
    cls = getattr(nn, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ValueError(
            f"cell {name!r}: minigrad.nn has no module class {class_name!r} "
            f"(short names: {', '.join(ALIASES)})"
        )
    module = cls(inputs, hidden, dtype=dtype, rng=rng, **keywords)
    return nn.Recurrent(module) if class_name.endswith("Cell") else module


def check_cells(parser: argparse.ArgumentParser, names: list[str], inputs: int = 2) -> None:
    """Exit with the parser's usage line if a cell name does not build (before any training)."""
    for name in names:
        try:
            recurrent_layer(name, inputs, 2, np.float32, 0)
        except (ValueError, TypeError) as error:
            parser.error(str(error))


class SequenceModel(nn.Module):
    """A recurrent layer reading the whole sequence, then a linear readout.

    `forward(x)` reads out the last step's output (B, outputs); `forward(x, every_step=True)` every
    step's, (T, B, outputs).
    """

    def __init__(
        self,
        cell: str,
        hidden: int,
        inputs: int = 2,
        outputs: int = 1,
        dtype: Any = np.float32,
        rng: int = 0,
    ) -> None:
        super().__init__()
        self.cell = cell
        self.rnn = recurrent_layer(cell, inputs, hidden, dtype, rng)
        self.head = nn.Linear(hidden, outputs, dtype=dtype, rng=rng + 1)

    def forward(self, x: Any, every_step: bool = False) -> mg.Tensor:
        output, _ = self.rnn(x)
        return self.head(output if every_step else output[-1])

    def glorot_(self, seed: int) -> None:
        """Re-draw the weights as Arjovsky et al.'s code did (its models.py): each gate block of
        a weight matrix, and the readout, Glorot-uniform, U(+-sqrt(6 / (fan_in + fan_out)));
        every bias 0 but the forget gates' (an LSTM's `forget_bias`, in block f of bias_hh).
        For the layers nn.RNN, nn.LSTM, nn.GRU only (their parameters are weights and biases)."""
        if not isinstance(self.rnn, (nn.RNN, nn.LSTM, nn.GRU)):
            raise ValueError(
                f"glorot initialisation: only for the layers rnn, lstm, lstm-fb1, gru, not "
                f"{self.cell!r}"
            )
        hidden = self.rnn.hidden_size
        draws = np.random.default_rng(seed + 100)
        for name, p in self.named_parameters():
            if p.data.ndim == 2:  # (blocks * fan_out, fan_in): rnn weights, then the readout
                fan_out = hidden if name.startswith("rnn.") else p.shape[0]
                bound = np.sqrt(6.0 / (p.shape[1] + fan_out))
                p.data[...] = draws.uniform(-bound, bound, size=p.shape)
            else:
                p.data[...] = 0
                if name.startswith("rnn.bias_hh") and isinstance(self.rnn, nn.LSTM):
                    p.data[hidden : 2 * hidden] = self.rnn.forget_bias  # blocks i, f, g, o


# --- Training with a test curve and an early stop -----------------------------------------------


DEFAULT_LR = {"adam": 1e-2, "rmsprop": 1e-3}  # --lr None: these


def make_optimizer(
    name: str, parameters: Any, lr: float | None, rmsprop_alpha: float = 0.99
) -> optim.Optimizer:
    """Adam (default lr 1e-2) or RMSprop (default lr 1e-3, as Arjovsky et al. trained; its
    smoothing constant `rmsprop_alpha`: PyTorch's 0.99, the paper's "decay rate" 0.9)."""
    if name not in DEFAULT_LR:
        raise ValueError(f"optimizer must be 'adam' or 'rmsprop', got {name!r}")
    lr = DEFAULT_LR[name] if lr is None else lr
    if name == "adam":
        return optim.Adam(parameters, lr=lr)
    return optim.RMSprop(parameters, lr=lr, alpha=rmsprop_alpha)


CLIP_MODES = ("norm", "value")


def clip_gradients(parameters: list[nn.Parameter], clip: float, mode: str) -> None:
    """Clip the gradients' total norm at `clip` ("norm"), or each entry to [-clip, clip]
    ("value", as Arjovsky et al.'s code clipped); clip 0 leaves them alone."""
    if mode not in CLIP_MODES:
        raise ValueError(f"clip mode must be 'norm' or 'value', got {mode!r}")
    if clip and mode == "norm":
        nn.clip_grad_norm_(parameters, clip)
    elif clip:
        nn.utils.clip_grad_value_(parameters, clip)


@dataclass
class Curve:
    """One training run: the test error every `every` steps, and how the run ended."""

    steps: list[int] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    seconds: float = 0.0
    compile_seconds: float | None = None  # the first (tracing) step; None: the step ran eagerly
    test_compile_seconds: float | None = None  # the test forward's trace; None: eager

    def first_below(self, threshold: float) -> int | None:
        """The first evaluated step whose test error is below `threshold` (None: never)."""
        return next((s for s, e in zip(self.steps, self.errors) if e < threshold), None)

    def compiled_note(self) -> str:
        """', compiled in 0.28s, test 0.05s' for a compiled run (the training step's trace,
        the test forward's), ', eager' for an eager one."""
        step, test = (
            "eager" if s is None else f"{s:.2f}s"
            for s in (self.compile_seconds, self.test_compile_seconds)
        )
        if step == test == "eager":
            return ", eager"
        return f", compiled in {step}, test {test}"


class CompiledOrEager:
    """`fn(*tensors)`, compiled with `mg.compile` unless `compiled` is False. The first call
    traces (timed with what `after` does with its result, a backward: `compile_seconds`); a
    function that cannot be compiled (`mg.CompileError`) runs eagerly, said in one line."""

    def __init__(
        self, fn: Callable[..., mg.Tensor], compiled: bool, say: Callable[[str], None] = print
    ) -> None:
        self.fn, self.say = fn, say
        self.compiled = mg.compile(fn) if compiled else None
        self.compile_seconds: float | None = None

    def __call__(
        self, *tensors: mg.Tensor, after: Callable[[mg.Tensor], object] = lambda result: None
    ) -> mg.Tensor:
        if self.compiled is not None and self.compile_seconds is None:
            started = time.perf_counter()
            try:
                result = self.compiled(*tensors)
                after(result)
            except mg.CompileError as error:
                name = getattr(self.fn, "__qualname__", "the function")
                reason = str(error).splitlines()[0]
                self.say(f"cannot compile {name} ({reason}): running it eagerly")
                self.compiled = None
            else:
                self.compile_seconds = time.perf_counter() - started
                return result
        result = (self.fn if self.compiled is None else self.compiled)(*tensors)
        after(result)
        return result


def evaluation(
    model: nn.Module, compiled: bool, say: Callable[[str], None] = print, **keywords: Any
) -> CompiledOrEager:
    """`model(x, **keywords)` for the test measurements (under no_grad: a forward-only
    program), compiled unless `compiled` is False."""

    def forward(x: mg.Tensor) -> mg.Tensor:
        return model(x, **keywords)

    forward.__qualname__ = f"the test forward of {type(model).__name__}"
    return CompiledOrEager(forward, compiled, say)


def train(
    model: nn.Module,
    batch_of: Callable[[np.random.Generator], tuple[np.ndarray, ...]],
    loss_fn: Callable[..., mg.Tensor],
    test_error: Callable[[], float],
    *,
    steps: int,
    optimizer: str = "adam",
    lr: float | None = None,
    rmsprop_alpha: float = 0.99,
    clip: float = 1.0,
    clip_mode: str = "norm",
    every: int = 25,
    solved: float = 0.0,
    patience: int = 4,
    compiled: bool = True,
    rng: np.random.Generator,
    progress: Progress | None = None,
) -> Curve:
    """Train on fresh batches: `loss_fn(*map(Tensor, batch_of(rng)))`, compiled unless
    `compiled` is False (the batches, clipping and optimizer step stay eager). `test_error()` is
    measured at step 0 and every `every` steps; the run stops early once it has stayed below
    `solved` for `patience` measurements."""
    parameters = list(model.parameters())
    opt = make_optimizer(optimizer, parameters, lr, rmsprop_alpha)
    say = print if progress is None else progress.write
    step_fn = CompiledOrEager(loss_fn, compiled, say)

    def backward(loss: mg.Tensor) -> None:
        opt.zero_grad()
        loss.backward()

    curve, started, streak = Curve(), time.perf_counter(), 0
    for step in range(steps + 1):
        if step % every == 0 or step == steps:
            error = test_error()
            curve.steps.append(step)
            curve.errors.append(error)
            streak = streak + 1 if error < solved else 0
            if streak >= patience or step == steps:
                break
        loss = step_fn(*(mg.Tensor(a) for a in batch_of(rng)), after=backward)
        clip_gradients(parameters, clip, clip_mode)
        opt.step()
        if progress is not None:
            progress.update(loss=loss.item())
    curve.seconds = time.perf_counter() - started
    curve.compile_seconds = step_fn.compile_seconds
    if progress is not None:
        progress.skip(steps - curve.steps[-1])
    return curve


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A right-aligned markdown table, columns padded so it reads as text too."""
    cells = [header, *rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.rjust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    return "\n".join(lines)


def study_parser(doc: str) -> argparse.ArgumentParser:
    """A parser described by the first line of a study's docstring, showing every default."""
    return argparse.ArgumentParser(
        description=doc.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )


def add_training_arguments(parser: argparse.ArgumentParser, steps: int = 3000) -> None:
    """The budget every cell of a study shares, and how its test error is followed."""
    parser.add_argument("--steps", type=int, default=steps, help="training budget per run")
    parser.add_argument("--hidden", type=int, default=32, help="hidden size")
    parser.add_argument("--batch", type=int, default=32, help="sequences per step")
    parser.add_argument("--optimizer", choices=["adam", "rmsprop"], default="adam")
    parser.add_argument(
        "--lr", type=float, default=None, help="learning rate (None: 1e-2 Adam, 1e-3 RMSprop)"
    )
    parser.add_argument(
        "--rmsprop-alpha",
        type=float,
        default=0.99,
        help="RMSprop's smoothing constant (PyTorch's default; Arjovsky et al.: 0.9)",
    )
    parser.add_argument("--clip", type=float, default=1.0, help="gradient clip (0: none)")
    parser.add_argument(
        "--clip-mode",
        choices=CLIP_MODES,
        default="norm",
        help="norm: the gradients' total norm; value: each entry (Arjovsky et al.'s code)",
    )
    parser.add_argument("--every", type=int, default=25, help="steps between test measurements")
    parser.add_argument("--patience", type=int, default=4, help="measurements below 0.01 to stop")
    parser.add_argument("--test", type=int, default=512, help="test sequences per task")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    add_eager_argument(parser)


def add_eager_argument(parser: argparse.ArgumentParser) -> None:
    """--eager: run the training step op by op instead of compiled (mg.compile)."""
    parser.add_argument(
        "--eager", action="store_true", help="do not compile the training step (mg.compile)"
    )


def publish(out: Path, name: str, title: str, text: str) -> Path:
    """Print a study's table under its title and write it beside the plot as `name`.md."""
    path = out / f"{name}.md"
    path.write_text(text + "\n")
    print(title)
    print(text)
    return path


def save_figure(plt: Any, fig: Any, path: Path) -> None:
    """Lay out, write and close a figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def preset_parser(parser: argparse.ArgumentParser, presets: dict[str, dict], argv: Any) -> Any:
    """Parse argv, with a preset's values (--quick, --smoke) as the defaults flags can override."""
    for name in presets:
        parser.add_argument(
            f"--{name}", action="store_true", help=f"the {name} preset: {presets[name]}"
        )
    args = parser.parse_args(argv)
    for name, values in presets.items():
        if getattr(args, name):
            parser.set_defaults(**values)
    return parser.parse_args(argv)


def need_matplotlib() -> Any:
    """pyplot on the non-interactive Agg backend, or exit with how to install it."""
    try:
        import matplotlib
    except ImportError:
        sys.exit('this example saves a plot: pip install matplotlib (or "minigrad[examples]")')
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
