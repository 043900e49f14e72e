"""Helpers shared by the examples: a progress bar, the adding problem, and a small RNN regressor.

Not part of the library: the examples import it as a sibling module (`python examples/x.py`
puts this folder on sys.path).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import minigrad as mg
from minigrad import nn, optim
from minigrad.nn import functional as F

DEFAULT_OUT = Path(__file__).resolve().parent / "out"
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
# The cells the studies compare: name -> (cell, initial forget-gate bias). "lstm-fb1" starts its
# forget gate's bias at +1 instead of around 0, a common trick to keep gradients flowing.
VARIANTS = {
    "rnn": ("rnn", 0.0),
    "gru": ("gru", 0.0),
    "lstm": ("lstm", 0.0),
    "lstm-fb1": ("lstm", 1.0),
}
COLORS = {"rnn": "tab:red", "gru": "tab:green", "lstm": "tab:blue", "lstm-fb1": "tab:purple"}


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
# Each input step is a pair (value, marker): values are uniform in [0, 1); exactly two markers are
# 1, one in each half of the sequence. The target is the sum of the two marked values, so the
# network must notice a value when it passes and hold it until the end. Always answering 1 (the
# mean) gives a mean squared error of 1/6 (two uniform variances); 0 means solved.

BASELINE_MSE = 1 / 6


def adding_batch(rng: np.random.Generator, length: int, batch: int) -> tuple[np.ndarray, ...]:
    """Inputs (length, batch, 2) and targets (batch, 1) for the adding problem, in float64."""
    values = rng.uniform(0, 1, size=(length, batch))
    half = max(1, length // 2)
    first = rng.integers(0, half, size=batch)
    second = rng.integers(half, length, size=batch) if length > 1 else first
    markers = np.zeros((length, batch))
    columns = np.arange(batch)
    markers[first, columns] = 1
    markers[second, columns] = 1
    targets = (values * markers).sum(axis=0, keepdims=True).T
    return np.stack([values, markers], axis=-1), targets


class Regressor(nn.Module):
    """A recurrent layer reading the whole sequence, then a linear readout of its last output."""

    def __init__(self, cell: str, hidden: int, inputs: int = 2, forget_bias: float = 0.0) -> None:
        super().__init__()
        self.cell = cell
        self.rnn = CELLS[cell](inputs, hidden)
        self.head = nn.Linear(hidden, 1)
        if forget_bias and cell == "lstm":  # rows [H, 2H) of the stacked biases feed the f gate
            bias = self.rnn.bias_hh_l0.data.copy()
            bias[hidden : 2 * hidden] += forget_bias
            self.rnn.bias_hh_l0.data = bias

    def forward(self, x: mg.Tensor) -> mg.Tensor:
        output, _ = self.rnn(x)
        return self.head(output[-1])


def train_adding(
    model: Regressor,
    length: int,
    steps: int,
    batch: int,
    lr: float,
    rng: np.random.Generator,
    progress: Progress | None = None,
) -> list[float]:
    """Train on fresh adding-problem batches with Adam and gradient clipping; the losses."""
    optimizer = optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        x, y = adding_batch(rng, length, batch)
        loss = F.mse_loss(model(mg.Tensor(x)), y)
        optimizer.zero_grad()
        loss.backward()
        nn.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if progress is not None:
            progress.update(mse=float(np.mean(losses[-20:])))
    return losses


def evaluate_adding(
    model: Regressor, length: int, rng: np.random.Generator, count: int = 512
) -> tuple[float, float]:
    """Mean squared error and accuracy (|error| < 0.04, the usual criterion) on fresh sequences."""
    x, y = adding_batch(rng, length, count)
    with mg.no_grad():
        prediction = model(mg.Tensor(x)).data
    error = prediction - y
    return float(np.mean(error**2)), float(np.mean(np.abs(error) < 0.04))


def need_matplotlib() -> Any:
    """pyplot on the non-interactive Agg backend, or exit with how to install it."""
    try:
        import matplotlib
    except ImportError:
        sys.exit('this example saves a plot: pip install matplotlib (or "minigrad[examples]")')
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
