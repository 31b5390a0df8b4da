"""Reading a corpus and cutting it into char-rnn batches.

Batching follows char-rnn: the ids are cut into `batch_size` contiguous streams, one per row,
and batch i is the i-th window of `seq_length` characters of every stream. So row r of batch
i + 1 continues row r of batch i, and the RNN state can be carried from one batch to the next
(truncated backpropagation through time).
"""

import os

import numpy as np

from charrnn.errors import CharRNNError


def read_text(path: str) -> str:
    """The UTF-8 text of `path`, or a CharRNNError saying in one line what is wrong with it."""
    if not os.path.exists(path):
        raise CharRNNError(f"{path} does not exist")
    if os.path.isdir(path):
        raise CharRNNError(f"{path} is a folder, not a text file")
    with open(path, "rb") as f:
        raw = f.read()
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise CharRNNError(f"{path} looks like binary data, not text (NUL byte at byte offset {nul})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CharRNNError(f"{path} is not valid UTF-8 (invalid byte at byte offset {e.start})") from None
    if not text.strip():
        raise CharRNNError(f"{path} is empty" if not text else f"{path} holds only whitespace")
    return text


def split_train_val(ids: np.ndarray, val_frac: float):
    """The first (1 - val_frac) of the ids for training, the rest for validation."""
    num_val = int(len(ids) * val_frac)
    return ids[: len(ids) - num_val], ids[len(ids) - num_val:]


class Batches:
    """char-rnn batches of one split: batch i is (inputs, targets), each [batch_size, seq_length]."""

    def __init__(self, ids: np.ndarray, batch_size: int, seq_length: int):
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.num_batches = (len(ids) - 1) // (batch_size * seq_length)
        if self.num_batches < 1:
            raise ValueError("fewer ids than one batch needs")
        used = self.num_batches * batch_size * seq_length
        # [batch_size, num_batches * seq_length]: one contiguous stream per row.
        self._inputs = ids[:used].astype(np.int32).reshape(batch_size, -1)
        self._targets = ids[1: used + 1].astype(np.int32).reshape(batch_size, -1)

    def __len__(self) -> int:
        return self.num_batches

    def __getitem__(self, i: int):
        if not 0 <= i < self.num_batches:
            raise IndexError(i)
        window = slice(i * self.seq_length, (i + 1) * self.seq_length)
        return self._inputs[:, window], self._targets[:, window]


def make_batches(ids: np.ndarray, batch_size: int, seq_length: int, val_frac: float):
    """(train, val) Batches, or a CharRNNError naming the flags to lower when the text is too short."""
    train_ids, val_ids = split_train_val(ids, val_frac)
    needed = batch_size * seq_length + 1
    for name, split in (("training", train_ids), ("validation", val_ids)):
        if len(split) < needed:
            raise CharRNNError(
                f"the text is too short: its {name} split has {len(split)} characters of the "
                f"{needed} one batch needs (batch_size x seq_length + 1); lower --batch_size or "
                f"--seq_length" + (", or raise --val_frac" if name == "validation" else ""))
    return Batches(train_ids, batch_size, seq_length), Batches(val_ids, batch_size, seq_length)
