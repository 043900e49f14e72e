"""A character-level language model: Embedding -> LSTM (or GRU, RNN) -> Linear, trained with Adam.

    python examples/char_lstm.py                    # train on the built-in corpus (under a minute)
    python examples/char_lstm.py --sample           # generate text from the saved checkpoint
    python examples/char_lstm.py --resume --steps 500   # continue training from it
    python examples/char_lstm.py --text my.txt --cell gru --hidden 256

The text is cut into `--batch` parallel streams, read `--seq-len` characters at a time
(truncated back-propagation through time): the hidden state is carried from one window to the
next, but detached, so gradients flow back at most `--seq-len` steps. Gradients are clipped
with `clip_grad_norm_`. The loss is reported in bits per character (cross-entropy / ln 2): a
model that knows nothing scores log2(vocabulary size), about 5.75 bits on the built-in corpus.

The checkpoint (.npz, loaded with allow_pickle=False) holds the model's state_dict, Adam's
moments and step, the carried hidden state and the vocabulary (as code points), so `--resume`
continues exactly where training stopped. It is written to a temporary file and renamed, so an
interrupted save keeps the previous one; a checkpoint that does not check out (config, step,
vocabulary, shapes, finite Adam moments) is refused with one line saying why.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

# Small matrices: one BLAS thread is several times faster than a pool fighting over 2 cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from common import DEFAULT_OUT, Progress

import minigrad as mg
from minigrad import nn, optim
from minigrad.nn import functional as F
from minigrad.nn.serialization import save_npz

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
DEFAULTS = dict(cell="lstm", hidden=128, embed=32, steps=450, seq_len=48, batch=32, lr=4e-3)
SMOKE = dict(cell="lstm", hidden=24, embed=8, steps=25, seq_len=12, batch=8, lr=1e-2)


def builtin_corpus() -> str:
    """The English text shipped inside the package (minigrad/data/corpus.txt)."""
    return resources.files("minigrad").joinpath("data/corpus.txt").read_text(encoding="utf-8")


class CharModel(nn.Module):
    """ids (T, B) -> logits (T, B, V), carrying the recurrent state between calls."""

    def __init__(self, vocab: int, embed: int, hidden: int, cell: str, dtype: str) -> None:
        super().__init__()
        self.cell = cell
        self.embed = nn.Embedding(vocab, embed, dtype=dtype)
        self.rnn = CELLS[cell](embed, hidden, dtype=dtype)
        self.head = nn.Linear(hidden, vocab, dtype=dtype)

    def forward(self, ids: np.ndarray, state: tuple | None) -> tuple[mg.Tensor, tuple]:
        hx = None if state is None else (state if self.cell == "lstm" else state[0])
        output, final = self.rnn(self.embed(ids), hx)
        final = final if self.cell == "lstm" else (final,)
        return self.head(output), tuple(s.detach() for s in final)  # detach: truncated BPTT


def training_loss(model: CharModel, vocab: int, compiled: bool) -> Any:
    """The training step's loss as a function of the embedded window, the one-hot targets and
    the carried state: `(emb, targets, *state) -> (loss, *final state)`. Compiled with
    `mg.compile` unless `compiled` is False. The embedding runs eagerly before it (its ids are
    an index, which a compiled program would fix), and the targets come in one-hot, so every
    window has the same signature: all training windows have `--seq-len` characters (a short
    tail of the text is never a window), so the step is traced once and never retraced.
    """

    def loss_of(emb: mg.Tensor, targets: mg.Tensor, *state: mg.Tensor) -> tuple:
        hx = state if model.cell == "lstm" else state[0]
        output, final = model.rnn(emb, hx)
        logits = model.head(output).reshape(-1, vocab)
        loss = -(F.log_softmax(logits, axis=-1) * targets).sum() * (1.0 / logits.shape[0])
        return (loss, *(final if model.cell == "lstm" else (final,)))

    return mg.compile(loss_of) if compiled else loss_of


# --- Data -----------------------------------------------------------------------------------


def streams(ids: np.ndarray, batch: int, seq_len: int) -> np.ndarray:
    """Cut a long id sequence into `batch` equal rows (each a contiguous stretch of the text)."""
    length = len(ids) // batch
    if length < seq_len + 1:
        sys.exit(
            f"the text is too short: {len(ids)} characters cannot fill {batch} streams of "
            f"{seq_len + 1}; use a longer --text or a smaller --batch / --seq-len"
        )
    return ids[: length * batch].reshape(batch, length)


def window(data: np.ndarray, step: int, seq_len: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Inputs and next-character targets (T, B) for training step `step`, and whether the
    window starts a new pass over the text (then the carried state is reset)."""
    windows = (data.shape[1] - 1) // seq_len
    start = (step % windows) * seq_len
    x = data[:, start : start + seq_len].T
    y = data[:, start + 1 : start + seq_len + 1].T
    return x, y, start == 0


def bits_per_char(model: CharModel, data: np.ndarray, seq_len: int) -> float:
    """Average cross-entropy in bits over every next-character prediction in `data` (B, L)."""
    total, count, state = 0.0, 0, None
    with mg.no_grad():
        for start in range(0, data.shape[1] - 1, seq_len):
            x = data[:, start : start + seq_len].T
            y = data[:, start + 1 : start + seq_len + 1].T
            x = x[: len(y)]
            logits, state = model(x, state)
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"
            )
            total, count = total + loss.item(), count + y.size
    return total / count / math.log(2)


# --- Sampling -------------------------------------------------------------------------------


def sample(
    model: CharModel,
    vocab: list[str],
    length: int,
    prime: str,
    temperature: float,
    rng: np.random.Generator,
) -> str:
    """Feed `prime`, then draw `length` characters one at a time from softmax(logits / T)."""
    index = {ch: i for i, ch in enumerate(vocab)}
    prime = "".join(ch for ch in prime if ch in index) or vocab[rng.integers(len(vocab))]
    out, state = list(prime), None
    with mg.no_grad():
        logits, state = model(np.array([[index[ch]] for ch in prime]), state)
        for _ in range(length):
            scores = logits.data[-1, 0].astype(np.float64) / max(temperature, 1e-6)
            p = np.exp(scores - scores.max())
            choice = int(rng.choice(len(vocab), p=p / p.sum()))
            out.append(vocab[choice])
            logits, state = model(np.array([[choice]]), state)
    return "".join(out)


# --- Checkpoints ------------------------------------------------------------------------------

CONFIG_INTS = ("hidden", "embed", "seq_len", "batch")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with the reason (printed as one line, not a traceback)."""


def save_checkpoint(
    path: Path, model: CharModel, optimizer: optim.Adam, step: int, state, vocab, config
) -> None:
    """Everything as plain arrays: np.load(path, allow_pickle=False) reads it back.

    Written to a temporary file beside `path` and renamed over it (`save_npz`), so a failed or
    interrupted save never destroys the previous checkpoint.
    """
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    names = dict((id(p), n) for n, p in model.named_parameters())
    for p in optimizer.params:
        moments = optimizer.state.get(id(p))  # none before the first step
        if moments:
            arrays[f"adam/{names[id(p)]}/exp_avg"] = moments["exp_avg"]
            arrays[f"adam/{names[id(p)]}/exp_avg_sq"] = moments["exp_avg_sq"]
            arrays[f"adam/{names[id(p)]}/step"] = np.array(moments["step"])
    for i, s in enumerate(state or ()):
        arrays[f"state/{i}"] = s.data
    arrays["step"] = np.array(step)
    arrays["vocab"] = np.array([ord(ch) for ch in vocab], dtype=np.int32)
    for key in ("cell", "dtype"):
        arrays[f"config/{key}"] = np.array(config[key])
    for key in CONFIG_INTS:
        arrays[f"config/{key}"] = np.array(int(config[key]))
    arrays["config/lr"] = np.array(float(config["lr"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npz(path, arrays)


def load_checkpoint(path: Path) -> dict:
    """The checkpoint's arrays, after checking its config, step and vocabulary."""
    if not path.exists():
        sys.exit(f"no checkpoint at {path}: train first (python examples/char_lstm.py)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            checkpoint = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise CheckpointError(f"not a readable .npz checkpoint ({error})") from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError("not an .npz checkpoint (a single array)")
    check_config(checkpoint)
    return checkpoint


def scalar(checkpoint: dict, key: str, kind: str) -> np.ndarray:
    """checkpoint[key], which must be a single value of numpy kind `kind` ('i', 'f' or 'U')."""
    if key not in checkpoint:
        raise CheckpointError(f"'{key}' is missing")
    value = checkpoint[key]
    kinds, what = {"i": ("iu", "integer"), "f": ("fiu", "number"), "U": ("U", "string")}[kind]
    if value.shape != () or value.dtype.kind not in kinds:
        raise CheckpointError(f"'{key}' should be a single {what}, not {value.dtype} {value.shape}")
    return value


def check_config(checkpoint: dict) -> None:
    """Config, step and vocabulary: present, of the right type and in range."""
    cell = scalar(checkpoint, "config/cell", "U").item()
    if cell not in CELLS:
        raise CheckpointError(f"config/cell is {cell!r}, not one of {sorted(CELLS)}")
    dtype = scalar(checkpoint, "config/dtype", "U").item()
    if dtype not in ("float32", "float64"):
        raise CheckpointError(f"config/dtype is {dtype!r}, not float32 or float64")
    for key in CONFIG_INTS:
        if scalar(checkpoint, f"config/{key}", "i").item() < 1:
            raise CheckpointError(f"config/{key} is {checkpoint[f'config/{key}'].item()}, not >= 1")
    lr = scalar(checkpoint, "config/lr", "f").item()
    if not (math.isfinite(lr) and lr > 0):
        raise CheckpointError(f"config/lr is {lr}, not a positive number")
    step = scalar(checkpoint, "step", "i").item()
    if step < 0:
        raise CheckpointError(f"step is {step}, not >= 0")
    vocab = checkpoint.get("vocab")
    if vocab is None or vocab.ndim != 1 or vocab.dtype.kind not in "iu" or vocab.size == 0:
        raise CheckpointError("the vocabulary ('vocab') should be a non-empty 1-D integer array")
    if np.any(vocab < 0) or np.any(vocab > sys.maxunicode) or len(np.unique(vocab)) != vocab.size:
        raise CheckpointError("the vocabulary has repeated or invalid character codes")


def restore(checkpoint: dict, model: CharModel, optimizer: optim.Adam | None) -> tuple:
    """Load the model (and Adam's moments, checked); return (step, carried state)."""
    try:
        model.load_state_dict(
            {k[len("model/") :]: v for k, v in checkpoint.items() if k.startswith("model/")}
        )
    except RuntimeError as error:  # its list of problems, on one line
        message = str(error).replace(", because of\n  ", ", because of: ").replace("\n  ", "; ")
        raise CheckpointError(message) from None
    params = dict(model.named_parameters())
    adam_names = {key.split("/")[1] for key in checkpoint if key.startswith("adam/")}
    if adam_names - set(params):
        raise CheckpointError(
            f"Adam state for unknown parameters {sorted(adam_names - set(params))}"
        )
    moments = {name: check_moments(checkpoint, name, params[name]) for name in sorted(adam_names)}
    state = []
    for i in range(2):
        if f"state/{i}" in checkpoint:
            state.append(checked_state(checkpoint, f"state/{i}", model))
    if optimizer is not None:
        for name, p in params.items():
            if name in moments:
                optimizer.state[id(p)] = moments[name]
    return int(checkpoint["step"]), (tuple(state) or None)


def check_moments(checkpoint: dict, name: str, parameter: mg.Tensor) -> dict:
    """Adam's state for one parameter: a step >= 1 and finite moments of its shape and dtype."""
    step = scalar(checkpoint, f"adam/{name}/step", "i").item()
    if step < 1:
        raise CheckpointError(f"adam/{name}/step is {step}, not >= 1")
    state = {"step": int(step)}
    for moment in ("exp_avg", "exp_avg_sq"):
        key = f"adam/{name}/{moment}"
        if key not in checkpoint:
            raise CheckpointError(f"'{key}' is missing")
        value = checkpoint[key]
        if value.shape != parameter.shape or value.dtype != parameter.dtype:
            raise CheckpointError(
                f"'{key}' is {value.dtype} {value.shape}, the parameter {parameter.dtype} "
                f"{parameter.shape}"
            )
        if not np.all(np.isfinite(value)) or (moment == "exp_avg_sq" and np.any(value < 0)):
            raise CheckpointError(f"'{key}' has non-finite or impossible (negative) values")
        state[moment] = value
    return state


def checked_state(checkpoint: dict, key: str, model: CharModel) -> mg.Tensor:
    """The carried hidden (or cell) state: finite, (1, batch, hidden), in the model's dtype."""
    value = checkpoint[key]
    dtype = model.head.weight.dtype
    hidden = model.head.weight.shape[1]
    if value.ndim != 3 or value.shape[0] != 1 or value.shape[2] != hidden or value.dtype != dtype:
        raise CheckpointError(
            f"'{key}' is {value.dtype} {value.shape}, not {dtype} (1, batch, {hidden})"
        )
    if not np.all(np.isfinite(value)):
        raise CheckpointError(f"'{key}' has non-finite values")
    return mg.Tensor(value)


# --- Main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--text", type=Path, help="train on this UTF-8 file instead")
    parser.add_argument("--cell", choices=sorted(CELLS), help="recurrent cell (default lstm)")
    parser.add_argument("--hidden", type=int, help=f"hidden size (default {DEFAULTS['hidden']})")
    parser.add_argument("--embed", type=int, help=f"embedding size (default {DEFAULTS['embed']})")
    parser.add_argument("--steps", type=int, help=f"training steps (default {DEFAULTS['steps']})")
    parser.add_argument("--seq-len", type=int, help="BPTT window in characters (default 48)")
    parser.add_argument("--batch", type=int, help="parallel streams (default 32)")
    parser.add_argument("--lr", type=float, help="Adam learning rate (default 4e-3)")
    parser.add_argument("--clip", type=float, default=1.0, help="max gradient norm (default 1)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed (default 0)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument("--checkpoint", type=Path, help="default OUT/char_lstm.npz")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--sample", action="store_true", help="only generate, from the checkpoint")
    parser.add_argument("--length", type=int, default=300, help="characters to generate")
    parser.add_argument("--prime", default="The ", help="text to start generating from")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--sample-every", type=int, help="print a sample every N steps")
    parser.add_argument("--smoke", action="store_true", help="a few steps, tiny sizes (tests)")
    parser.add_argument(
        "--eager", action="store_true", help="do not compile the training step (mg.compile)"
    )
    args = parser.parse_args(argv)
    for key in ("hidden", "embed", "steps", "seq_len", "batch", "length", "sample_every"):
        if getattr(args, key) is not None and getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be at least 1")
    defaults = SMOKE if args.smoke else DEFAULTS
    args.explicit = {k for k in defaults if getattr(args, k) is not None}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.checkpoint is None:
        args.checkpoint = args.out / "char_lstm.npz"
    if args.sample_every is None:
        args.sample_every = math.ceil(args.steps / 4)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        run(args)
    except CheckpointError as error:
        sys.exit(f"cannot use the checkpoint {args.checkpoint}: {error}")


def run(args: argparse.Namespace) -> None:
    """Train (or, with --sample, only generate), as the parsed arguments say."""
    checkpoint = load_checkpoint(args.checkpoint) if (args.resume or args.sample) else None
    if checkpoint is not None:  # the checkpoint decides the model; conflicting flags are errors
        for key in ("cell", "hidden", "embed", "dtype"):
            saved = checkpoint[f"config/{key}"].item()
            if key in args.explicit and getattr(args, key) != saved:
                sys.exit(f"--{key} {getattr(args, key)} conflicts with the checkpoint's {saved}")
            setattr(args, key, saved)
        for key in ("seq_len", "batch", "lr"):
            if key not in args.explicit:
                setattr(args, key, checkpoint[f"config/{key}"].item())
        vocab = [chr(c) for c in checkpoint["vocab"]]
    nn.init.manual_seed(args.seed)

    if args.sample:
        model = CharModel(len(vocab), args.embed, args.hidden, args.cell, args.dtype)
        step, _ = restore(checkpoint, model, None)
        rng = np.random.default_rng(args.seed)
        print(f"[{args.cell}, {step} steps of training, from {args.checkpoint}]")
        print(sample(model, vocab, args.length, args.prime, args.temperature, rng))
        return

    if args.text is not None and not args.text.is_file():
        sys.exit(f"--text {args.text}: no such file")
    text = args.text.read_text(encoding="utf-8") if args.text else builtin_corpus()
    if checkpoint is None:
        vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    unknown = sorted(set(text) - set(index))
    if unknown:
        sys.exit(f"the text has characters the checkpoint's vocabulary lacks: {unknown[:10]}")
    ids = np.array([index[ch] for ch in text], dtype=np.int64)
    split = int(len(ids) * 0.9)  # the last 10% is held out to measure bits per character
    train = streams(ids[:split], args.batch, args.seq_len)
    valid = streams(ids[split:], min(args.batch, 8), args.seq_len)

    model = CharModel(len(vocab), args.embed, args.hidden, args.cell, args.dtype)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    step, state = 0, None
    if checkpoint is not None:
        step, state = restore(checkpoint, model, optimizer)
    config = {k: getattr(args, k) for k in ("cell", "dtype", "hidden", "embed", "seq_len", "batch")}
    config["lr"] = args.lr
    count = sum(p.numel() for p in model.parameters())
    print(
        f"{args.cell.upper()} char model: {count:,} parameters, vocabulary {len(vocab)}, "
        f"{len(text):,} characters ({'--text ' + str(args.text) if args.text else 'built-in'})"
    )
    start_bpc = bits_per_char(model, valid, args.seq_len)
    print(f"validation bits/char at step {step}: {start_bpc:.3f}")

    started, first_step = time.perf_counter(), step
    progress = Progress(step + args.steps, desc="training", initial=step)
    recent: list[float] = []
    first_window_bpc = None
    params = list(model.parameters())
    loss_of = training_loss(model, len(vocab), compiled=not args.eager)
    eye = np.eye(len(vocab), dtype=args.dtype)
    n_states = 2 if args.cell == "lstm" else 1
    zeros = tuple(
        mg.Tensor(np.zeros((1, args.batch, args.hidden), args.dtype)) for _ in "hc"[:n_states]
    )
    for step in range(first_step, first_step + args.steps):
        x, y, fresh = window(train, step, args.seq_len)
        traced_at = time.perf_counter()
        loss, *next_state = loss_of(
            model.embed(x),
            mg.Tensor(eye[y.reshape(-1)]),
            *(zeros if fresh or state is None else state),
        )
        optimizer.zero_grad()
        loss.backward()
        if step == first_step and not args.eager:
            seconds_first = time.perf_counter() - traced_at
            progress.write(f"compiled the training step in {seconds_first:.2f}s (its first call)")
        nn.clip_grad_norm_(params, args.clip)
        optimizer.step()
        state = tuple(s.detach() for s in next_state)
        bpc = loss.item() / math.log(2)
        first_window_bpc = bpc if first_window_bpc is None else first_window_bpc
        recent = (recent + [bpc])[-50:]
        progress.update(loss=loss.item(), bpc=float(np.mean(recent)))
        if (step + 1) % args.sample_every == 0 or step + 1 == progress.total:
            rng = np.random.default_rng([args.seed, step])  # never touches the training stream
            text_out = sample(model, vocab, 160, args.prime, args.temperature, rng)
            progress.write(f"--- sample at step {step + 1} ---\n{text_out}")
    progress.close()
    seconds = time.perf_counter() - started
    step = first_step + args.steps

    save_checkpoint(args.checkpoint, model, optimizer, step, state, vocab, config)
    end_bpc = bits_per_char(model, valid, args.seq_len)
    print(f"validation bits/char at step {step}: {end_bpc:.3f}")
    print(
        f"summary: {args.steps} steps in {seconds:.1f}s; training bits/char "
        f"{first_window_bpc:.3f} -> {np.mean(recent):.3f} (mean of last {len(recent)}); "
        f"validation {start_bpc:.3f} -> {end_bpc:.3f}; checkpoint {args.checkpoint}"
    )


if __name__ == "__main__":
    main()
