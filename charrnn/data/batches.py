"""Splitting the ids into train / validation / test and cutting them into batches.

Training batches follow char-rnn: the training ids are cut into `batch_size` contiguous streams,
one per row, and batch i is the i-th window of `seq_length` characters of every stream. So row r
of batch i + 1 continues row r of batch i, and the RNN state can be carried from one batch to the
next (truncated backpropagation through time).

Every batch is a view sliced out of the ids (a memory map of the cache, typically) and cast to
int32 only for its own [batch_size, seq_length] window, so the corpus is never copied.
"""

import dataclasses

import numpy as np

from charrnn.core.errors import CharRNNError


@dataclasses.dataclass(frozen=True)
class Splits:
    """Consecutive parts of the ids: train first, then validation, then test at the very end."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_ids(ids: np.ndarray, val_frac: float, test_frac: float = 0.0) -> Splits:
    num_test = int(len(ids) * test_frac)
    num_val = int(len(ids) * val_frac)
    val_start = len(ids) - num_test - num_val
    return Splits(ids[:val_start], ids[val_start: len(ids) - num_test], ids[len(ids) - num_test:])


class Batches:
    """char-rnn batches of one split: batch i is (inputs, targets), each int32 [batch_size, seq_length]."""

    def __init__(self, ids: np.ndarray, batch_size: int, seq_length: int):
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.num_batches = (len(ids) - 1) // (batch_size * seq_length)
        if self.num_batches < 1:
            raise ValueError("fewer ids than one batch needs")
        used = self.num_batches * batch_size * seq_length
        # Views, not copies: [batch_size, num_batches * seq_length], one contiguous stream per row.
        self._inputs = ids[:used].reshape(batch_size, -1)
        self._targets = ids[1: used + 1].reshape(batch_size, -1)

    def __len__(self) -> int:
        return self.num_batches

    def __getitem__(self, i: int):
        if not 0 <= i < self.num_batches:
            raise IndexError(i)
        window = slice(i * self.seq_length, (i + 1) * self.seq_length)
        return self._inputs[:, window].astype(np.int32), self._targets[:, window].astype(np.int32)


class EvalWindows:
    """Every character of `ids` after the first as a prediction target, exactly once.

    The n - 1 (input, target) pairs are cut into `batch_size` contiguous streams of
    ceil((n - 1) / batch_size) pairs each and walked `seq_length` at a time, so the RNN state can be
    carried across windows as in training. Window i is (inputs, targets, mask), each
    [batch_size, seq_length]; mask is 1.0 for the pairs scored and 0.0 for the rest. Each stream
    but the first begins with the `warm_up` pairs before its own (at most a stream's length),
    read but not scored, so its first characters have context too; the first stream starts where
    the text does, and its row ends with as much padding.
    """

    def __init__(self, ids: np.ndarray, batch_size: int, seq_length: int, warm_up: int = 0):
        self.ids = ids
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.num_pairs = max(len(ids) - 1, 0)
        self.stream_length = -(-self.num_pairs // batch_size)  # pairs scored per stream
        row_length = self.row_length(self.num_pairs, batch_size, warm_up)
        self.warm_up = row_length - self.stream_length  # as much of it as the text allows
        self.num_windows = -(-row_length // seq_length)
        streams = np.arange(batch_size)[:, None]
        # Where each row starts in the pairs, and where its scored pairs start in the row: [batch, 1]
        self._row_start = np.where(streams == 0, 0, streams * self.stream_length - self.warm_up)
        self._first_scored = np.where(streams == 0, 0, self.warm_up)

    @staticmethod
    def row_length(num_pairs: int, batch_size: int, warm_up: int) -> int:
        """Timesteps each stream takes: its pairs and its warm-up."""
        stream_length = -(-num_pairs // batch_size)
        return stream_length + (min(warm_up, stream_length) if batch_size > 1 else 0)

    def __len__(self) -> int:
        return self.num_windows

    def __getitem__(self, i: int):
        if not 0 <= i < self.num_windows:
            raise IndexError(i)
        in_row = i * self.seq_length + np.arange(self.seq_length)  # [seq_length]
        pair = self._row_start + in_row  # [batch, seq_length]
        scored = in_row - self._first_scored
        read = (pair < self.num_pairs) & (scored < self.stream_length)
        real = read & (scored >= 0)
        pair = np.where(read, pair, 0)
        return (self.ids[pair].astype(np.int32), self.ids[pair + 1].astype(np.int32), real.astype(np.float32))


def make_splits(ids: np.ndarray, batch_size: int, seq_length: int, val_frac: float, test_frac: float = 0.0):
    """(train Batches, Splits), or a CharRNNError naming the flags to change when the text is too short."""
    splits = split_ids(ids, val_frac, test_frac)
    needed = batch_size * seq_length + 1
    if len(splits.train) < needed:
        raise CharRNNError(
            f"the text is too short: its training split has {len(splits.train)} characters of the {needed} "
            f"one batch needs (batch_size x seq_length + 1); lower --batch_size or --seq_length")
    for name, flag, split, frac in (("validation", "val_frac", splits.val, val_frac),
                                    ("test", "test_frac", splits.test, test_frac)):
        if frac > 0 and len(split) < 2:
            raise CharRNNError(f"the text is too short for a {name} split: --{flag} {frac:g} of "
                               f"{len(ids)} characters leaves {len(split)}; raise --{flag}")
    return Batches(splits.train, batch_size, seq_length), splits
