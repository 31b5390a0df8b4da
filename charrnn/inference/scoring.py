"""The loss of a model on any text, in nats/char, bits/char and perplexity.

Every character after the first is predicted once, with the RNN state carried along
`batch_size` streams (see charrnn.data.batches.EvalWindows), so the figure does not depend on how the text
divides into batches and covers all of it, however long.
"""

import dataclasses
import math
import sys

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


class Evaluator:
    """Scores ids with `model` in windows of [batch_size, seq_length]."""

    def __init__(self, model, batch_size: int, seq_length: int):
        self.model = model
        self.batch_size = batch_size
        self.seq_length = seq_length
        ids_spec = tf.TensorSpec([batch_size, seq_length], tf.int32)
        mask_spec = tf.TensorSpec([batch_size, seq_length], tf.float32)
        state_specs = [tf.TensorSpec(s.shape, s.dtype) for s in model.zero_state(batch_size)]
        self._window_loss = tf.function(self._window_loss_fn, autograph=False,
                                        input_signature=[ids_spec, ids_spec, mask_spec, state_specs])

    def _window_loss_fn(self, inputs, targets, mask, states):
        """Summed cross-entropy (nats) of the unmasked targets of one window, and the carried states."""
        logits, states = self.model(inputs, tuple(states), training=False)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=tf.cast(logits, tf.float32))
        return tf.reduce_sum(losses * mask), states

    def score(self, ids: np.ndarray, progress: bool = False, description: str = "evaluating") -> Score:
        """The mean loss over ids [n] (n >= 2); `progress` shows a tqdm bar on a terminal."""
        windows = EvalWindows(ids, self.batch_size, self.seq_length)
        if windows.num_pairs == 0:
            raise CharRNNError("the text to score needs at least 2 characters")
        states = list(self.model.zero_state(self.batch_size))
        total = 0.0
        bar = tqdm(windows, desc=description, unit="batch", disable=None if progress else True,
                   file=sys.stderr, leave=False, dynamic_ncols=True)
        for inputs, targets, mask in bar:
            loss_sum, states = self._window_loss(inputs, targets, mask, list(states))
            total += float(loss_sum)
        return Score(total / windows.num_pairs, windows.num_pairs)
