"""Utilities for training: gradient clipping (`clip_grad`) and variable-length sequences (`rnn`)."""

from . import rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_
from .rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
)

__all__ = [
    "PackedSequence",
    "clip_grad_norm_",
    "clip_grad_value_",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "rnn",
]
