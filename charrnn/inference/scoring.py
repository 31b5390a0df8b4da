"""The loss of a model on any text, in nats/char, bits/char and perplexity.

Every character after the first is predicted once, with the RNN state carried along a few
streams (see charrnn.data.batches.EvalWindows), so the figure covers all of the text, however long.
A long text is read as one stream per 1,000 characters scored side by side (at most 64), which
runs the forward pass about 4 times faster than one stream; each stream first reads the 100
characters before its own, unscored, so what it scores has its context: the figure was within
0.00003 nats/char of one stream's.
"""

import dataclasses
import math
import sys
from typing import Optional

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from charrnn.core.errors import CharRNNError
from charrnn.data.batches import EvalWindows


@dataclasses.dataclass(frozen=True)
class Score:
    nats_per_char: float
    num_predicted: int  # characters scored: all but the first

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats_per_char)


# Characters one call scores at most (a window [streams, window] of the text): fewer, longer
# calls, as the state is carried from one to the next the same figure. Measured for the default
# model on 2 cores: 50 streams scored 237,000 chars/s in windows of 50 steps, 274,000 in 500.
CHARS_PER_CALL = 25_000
# Below this many streams a call over charrnn's CPU recurrence runs XLA-compiled: for one stream
# of the default model it scored 83,500 chars/s against 52,800 as a plain graph; at 8 streams the
# two were even, at 16 the plain graph's two-layer wavefront was the faster (246,000 against 189,000).
COMPILE_BELOW_STREAMS = 8
# Each stream starts from a zero state. Read from there, the first characters of a stream cost
# the default model (trained 30 minutes) 20 to 28 nats more than with their context: 50 streams
# scored tiny-shakespeare's 5% validation split 0.0172 nats/char worse than one stream. So each
# stream first reads the WARM_UP characters before its own, unscored: 50 characters of it left
# 0.00013 nats/char, 100 left 0.00003, 200 none. Streams of 1,000 characters keep its cost
# under 10%; past 64 streams scoring got no faster (305,000 chars/s at 50 and 100 on 2 cores,
# 265,000 at 400).
WARM_UP = 100
CHARS_PER_STREAM = 1_000
MAX_STREAMS = 64


def streams_for(num_pairs: int) -> int:
    """How many streams score a text of num_pairs (input, target) pairs when the caller leaves it open."""
    return min(MAX_STREAMS, max(1, num_pairs // CHARS_PER_STREAM))


class Evaluator:
    """Scores ids with `model` along `batch_size` streams (by default streams_for the text),
    seq_length x 2^k characters of each per call (the longest that fits in chars_per_call and the
    stream), the forward pass alone."""

    def __init__(self, model, seq_length: int, batch_size: Optional[int] = None,
                 chars_per_call: int = CHARS_PER_CALL, warm_up: int = WARM_UP):
        self.model = model
        self.seq_length = seq_length
        self.batch_size = batch_size
        self.chars_per_call = chars_per_call
        self.warm_up = warm_up
        # No input signature: one trace per (streams, window) shape, which each length of text fixes.
        self._plain = tf.function(self._window_loss_fn, autograph=False)
        self._compiled = tf.function(self._window_loss_fn, autograph=False, jit_compile=True)

    def streams(self, num_pairs: int) -> int:
        return self.batch_size or streams_for(num_pairs)

    def window(self, num_pairs: int) -> int:
        """Timesteps per call for a text of num_pairs (input, target) pairs."""
        streams = self.streams(num_pairs)
        row_length = EvalWindows.row_length(num_pairs, streams, self.warm_up)
        window = self.seq_length
        while window < row_length and 2 * window * streams <= self.chars_per_call:
            window *= 2
        return window

    def _window_loss_fn(self, inputs, targets, mask, states):
        """Summed cross-entropy (nats) of the unmasked targets of one window [batch, window], and the
        carried states."""
        logits, states = self.model(inputs, tuple(states), training=False, differentiable=False)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=tf.cast(logits, tf.float32))
        return tf.reduce_sum(losses * mask), states

    def score(self, ids: np.ndarray, progress: bool = False, description: str = "evaluating") -> Score:
        """The mean loss over ids [n] (n >= 2); `progress` shows a tqdm bar on a terminal."""
        num_pairs = max(len(ids) - 1, 0)
        streams = self.streams(num_pairs)
        windows = EvalWindows(ids, streams, self.window(num_pairs), self.warm_up)
        if windows.num_pairs == 0:
            raise CharRNNError("the text to score needs at least 2 characters")
        # XLA only over charrnn's own recurrence: a GPU's cuDNN layers have no XLA kernel.
        compiled = streams < COMPILE_BELOW_STREAMS and self.model.cpu_recurrence
        window_loss = self._compiled if compiled else self._plain
        states = list(self.model.zero_state(streams))
        total = 0.0
        bar = tqdm(windows, desc=description, unit="batch", disable=None if progress else True,
                   file=sys.stderr, leave=False, dynamic_ncols=True)
        for inputs, targets, mask in bar:
            loss_sum, states = window_loss(inputs, targets, mask, list(states))
            total += float(loss_sum)
        return Score(total / windows.num_pairs, windows.num_pairs)
