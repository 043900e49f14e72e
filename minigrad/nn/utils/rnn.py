"""Variable-length sequences the PyTorch way: pad a list of sequences, pack a padded batch, unpack.

`pack_padded_sequence` returns a `PackedSequence` that `RNN` / `LSTM` / `GRU` and `Recurrent`
accept in place of a padded input, so PyTorch code ports unchanged. What it holds differs from
PyTorch's: not the flat `data` of the valid steps sorted by length, but the padded batch itself
(time first, in the caller's batch order, zeros at padded steps) and each row's length. The
layers mask the padded steps, so what `pad_packed_sequence` returns, the final states and all
gradients are PyTorch's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...engine import Tensor
from ...ops import concatenate, constant, lift, stack, where


class PackedSequence:
    """A batch of sequences of different lengths, as `pack_padded_sequence` makes it.

    `padded` is (T, B, *) with T the longest length, time first and rows in the order they were
    given, zero wherever t >= lengths[b]; `lengths` (B,) are the rows' lengths. `batch_sizes`,
    `sorted_indices` and `unsorted_indices` are PyTorch's (numpy arrays).
    """

    __slots__ = ("padded", "lengths", "batch_sizes", "sorted_indices", "unsorted_indices")

    def __init__(
        self,
        padded: Tensor,
        lengths: np.ndarray,
        sorted_indices: np.ndarray | None = None,
        unsorted_indices: np.ndarray | None = None,
    ) -> None:
        self.padded, self.lengths = padded, np.asarray(lengths, dtype=np.int64)
        steps = np.arange(padded.shape[0])[:, None]
        self.batch_sizes = (self.lengths[None, :] > steps).sum(axis=1)  # rows still running at t
        self.sorted_indices, self.unsorted_indices = sorted_indices, unsorted_indices

    @property
    def data(self) -> Tensor:
        raise NotImplementedError(
            "PackedSequence.data: minigrad does not keep PyTorch's flat array of the valid steps; "
            "use pad_packed_sequence(packed), or packed.padded (T, B, *) with packed.lengths"
        )

    def with_padded(self, padded: Tensor) -> PackedSequence:
        """The same lengths and order around a new padded batch (a layer's output, say)."""
        return PackedSequence(padded, self.lengths, self.sorted_indices, self.unsorted_indices)

    def __repr__(self) -> str:
        return f"PackedSequence(padded shape {self.padded.shape}, lengths {self.lengths.tolist()})"


def valid_steps(lengths: np.ndarray, steps: int, ndim: int) -> np.ndarray:
    """The boolean mask t < lengths[b], shaped (T, B) plus size-1 axes up to `ndim` dims."""
    mask = np.arange(steps)[:, None] < lengths[None, :]
    return mask.reshape(mask.shape + (1,) * (ndim - 2))


def checked_lengths(name: str, lengths: Any, batch: int, steps: int) -> np.ndarray:
    """`lengths` as an int64 array of one length per row, each in 1..steps, or a clear error."""
    array = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if array.dtype.kind == "f" and np.array_equal(array, np.round(array)):
        array = array.astype(np.int64)  # a Tensor of lengths holds whole-number floats
    if array.dtype.kind not in "iu" or array.ndim != 1:
        raise TypeError(
            f"{name}: lengths must be a 1-D sequence of integers, got "
            f"{array.dtype} of shape {array.shape}"
        )
    if array.shape[0] != batch:
        raise ValueError(
            f"{name}: expected one length per batch row ({batch}), got {array.shape[0]} lengths"
        )
    if array.size and (array.min() < 1 or array.max() > steps):
        raise ValueError(
            f"{name}: every length must be in 1..{steps} (the padded length), got {array.tolist()}"
        )
    return array.astype(np.int64)


def pack_padded_sequence(
    input: Any, lengths: Any, batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    """Pack a padded batch (T, B, *) ((B, T, *) with batch_first) whose row b has lengths[b] steps.

    As PyTorch: with `enforce_sorted`, the lengths must be in decreasing order; otherwise any
    order is fine and the results come back in the given order.
    """
    x = lift(input)
    if x.ndim < 2:
        raise ValueError(
            f"pack_padded_sequence: input must be (T, B, *) or, with batch_first, (B, T, *); "
            f"got shape {x.shape}"
        )
    if batch_first:
        x = x.transpose(0, 1)  # (B, T, *) -> (T, B, *)
    lengths = checked_lengths("pack_padded_sequence", lengths, x.shape[1], x.shape[0])
    sorted_indices = unsorted_indices = None
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(
                f"pack_padded_sequence: lengths must be sorted in decreasing order when "
                f"enforce_sorted=True, got {lengths.tolist()}; pass enforce_sorted=False for "
                f"an unsorted batch"
            )
    else:
        sorted_indices = np.argsort(-lengths, kind="stable")
        unsorted_indices = np.argsort(sorted_indices)
    x = x[: lengths.max()]  # steps past the longest row are dropped, as in PyTorch
    padded = where(valid_steps(lengths, x.shape[0], x.ndim), x, 0.0)  # padding: 0, no gradient
    return PackedSequence(padded, lengths, sorted_indices, unsorted_indices)


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: int | None = None,
) -> tuple[Tensor, np.ndarray]:
    """The padded batch (T, B, *) ((B, T, *) with batch_first) and the rows' lengths, as PyTorch.

    T is the longest length, or `total_length` if given (which must be at least that).
    """
    if not isinstance(sequence, PackedSequence):
        raise TypeError(
            f"pad_packed_sequence: expected a PackedSequence, got {type(sequence).__name__}"
        )
    padded, lengths = sequence.padded, sequence.lengths
    steps = padded.shape[0]
    if padding_value != 0:
        padded = where(valid_steps(lengths, steps, padded.ndim), padded, padding_value)
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                f"pad_packed_sequence: total_length={total_length} is less than the longest "
                f"sequence's length {steps}"
            )
        if total_length > steps:
            fill = np.full((total_length - steps,) + padded.shape[1:], padding_value)
            padded = concatenate([padded, constant(fill, padded.dtype)])
    if batch_first:
        padded = padded.transpose(0, 1)
    return padded, lengths.copy()


def pad_sequence(
    sequences: Sequence[Any], batch_first: bool = False, padding_value: float = 0.0
) -> Tensor:
    """Stack sequences of shapes (L_i, *) into (T, B, *) ((B, T, *) with batch_first), T = max L_i.

    Each is padded at its end with `padding_value`; gradients flow back to every sequence.
    """
    tensors = [lift(s) for s in sequences]
    if not tensors:
        raise ValueError("pad_sequence: need at least one sequence")
    trailing = {t.shape[1:] for t in tensors if t.ndim >= 1}
    if any(t.ndim == 0 for t in tensors) or len(trailing) != 1:
        shapes = [t.shape for t in tensors]
        raise ValueError(
            f"pad_sequence: sequences must be (L_i, *) with the same trailing shape, got {shapes}"
        )
    steps = max(len(t) for t in tensors)
    padded = []
    for t in tensors:
        if len(t) < steps:
            fill = np.full((steps - len(t),) + t.shape[1:], padding_value)
            t = concatenate([t, constant(fill, t.dtype)])
        padded.append(t)
    return stack(padded, axis=0 if batch_first else 1)


def pack_sequence(sequences: Sequence[Any], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences (L_i, *): `pad_sequence` followed by `pack_padded_sequence`."""
    lengths = [len(lift(s)) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)
