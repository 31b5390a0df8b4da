"""Feeding training batches to the step through tf.data, read ahead of it.

The batches are sliced from the (memory-mapped) ids on tf.data's own thread and prefetched, so
the next batch is ready, its pages read from disk if need be, while the current step runs.
"""

import tensorflow as tf

from charrnn.data.batches import Batches

BATCHES_READ_AHEAD = 4


def epoch_batches(batches: Batches, start: int) -> tf.data.Dataset:
    """Batches start .. len(batches) - 1 of an epoch: (inputs, targets), each int32 [batch, seq_length]."""
    shape = [batches.batch_size, batches.seq_length]

    def read(position):
        inputs, targets = tf.numpy_function(lambda i: batches[int(i)], [position], (tf.int32, tf.int32),
                                            stateful=False)
        return tf.ensure_shape(inputs, shape), tf.ensure_shape(targets, shape)

    return tf.data.Dataset.range(start, len(batches)).map(read).prefetch(BATCHES_READ_AHEAD)
